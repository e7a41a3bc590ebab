"""One optimizer parameter group per setting (the project's
``DefaultOptimWrapperConstructor``): the layout, the same weights as
MMEngine's one group per parameter, and resuming states saved in that
layout."""
import copy
from types import SimpleNamespace
from typing import List

import pytest
import torch
import torch.nn as nn
from _helpers.optimizers import TwoParts
from _helpers.tools import (
    MOCO_CONFIG,
    assert_identical,
    train_full_and_resumed,
)
from mmengine.optim import (
    CosineAnnealingParamScheduler,
    LinearLR,
    build_optim_wrapper,
)
from mmengine.registry import DefaultScope

from mmssl_kd import param_groups
from mmssl_kd.compat import load_checkpoint_file
from mmssl_kd.engine.hooks import CheckpointHook
from mmssl_kd.param_groups import (
    ParamGroupLayoutError,
    regroup_scheduler_states,
)

NO_DECAY = dict(norm_decay_mult=0., bias_decay_mult=0.)
ADAMW = dict(type='AdamW', lr=1e-2, weight_decay=0.05)
OPTIMIZERS = {
    'AdamW': (ADAMW, NO_DECAY),
    'SGD': (dict(type='SGD', lr=0.1, momentum=0.9, weight_decay=1e-2),
            NO_DECAY),
    # lars_coslr-200e.py's way: no decay and no LARS adaptation on them
    'LARS': (dict(type='LARS', lr=0.1, momentum=0.9, weight_decay=1e-2),
             dict(custom_keys={key: dict(decay_mult=0, lars_exclude=True)
                               for key in ('norm', 'bias')})),
}


class Net(nn.Module):
    """A decayed token first, as a ViT's cls_token: the second parameter
    (decayed) has another setting than the second merged group."""

    def __init__(self, extra: bool = False):
        super().__init__()
        self.token = nn.Parameter(torch.randn(1, 8))
        self.fc1 = nn.Linear(8, 16)
        self.norm = nn.LayerNorm(16)
        self.fc2 = nn.Linear(16, 8)
        self.extra = nn.Linear(8, 8) if extra else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.norm(self.fc1(x + self.token))).pow(2).mean()


def net(extra: bool = False) -> Net:
    torch.manual_seed(0)
    return Net(extra)


def build(model: nn.Module, optimizer: dict = ADAMW,
          paramwise_cfg: dict = NO_DECAY, **wrapper):
    with DefaultScope.overwrite_default_scope('mmssl_kd'):
        return build_optim_wrapper(model, dict(
            optimizer=optimizer, paramwise_cfg=paramwise_cfg, **wrapper))


def schedulers(wrapper) -> list:
    """DINO's kind: lr warm-up, weight decay x10 (cosine, relative: the
    no-decay group stays at 0, given its own base value)."""
    return [LinearLR(wrapper, start_factor=0.1, by_epoch=False, end=3),
            CosineAnnealingParamScheduler(
                wrapper, param_name='weight_decay', eta_min_ratio=10.,
                T_max=5, by_epoch=False)]


BATCHES = [torch.randn(5, 8, generator=torch.Generator().manual_seed(i))
           for i in range(5)]


def train(model: nn.Module, wrapper, steps: List[torch.Tensor],
          scheds: list = ()) -> None:
    for x in steps:
        wrapper.update_params(model(x))
        for scheduler in scheds:
            scheduler.step()


def ids(params) -> List[int]:
    return [id(p) for p in params]


def settings(model: nn.Module, wrapper) -> list:
    """Each parameter's (lr, weight decay), in the model's order."""
    of = {id(p): (g['lr'], g['weight_decay'])
          for g in wrapper.optimizer.param_groups for p in g['params']}
    return [of[id(p)] for p in model.parameters()]


def test_one_group_per_setting():
    model = net()
    groups = build(model).optimizer.param_groups
    assert ids(groups[0]['params']) == ids([model.token, model.fc1.weight,
                                            model.fc2.weight])
    assert ids(groups[1]['params']) == ids([
        model.fc1.bias, model.norm.weight, model.norm.bias, model.fc2.bias])
    assert [g['weight_decay'] for g in groups] == [0.05, 0.]
    assert build(model).optimizer.param_group_origins == [[0, 1, 5],
                                                          [2, 3, 4, 6]]
    with pytest.raises(TypeError, match='must be a bool'):
        build(model, merge_param_groups='no')


def test_unmerged_is_mmengine_layout():
    model = net()
    ours = build(model, merge_param_groups=False).optimizer
    theirs = build(model, constructor='mmengine.DefaultOptimWrapperConstructor'
                   ).optimizer
    assert [ids(g['params']) for g in ours.param_groups] == \
        [ids(g['params']) for g in theirs.param_groups] == \
        [[id(p)] for p in model.parameters()]
    assert ours.param_groups == theirs.param_groups
    assert not hasattr(ours, 'param_group_origins')


@pytest.mark.parametrize('name', OPTIMIZERS)
def test_same_weights_as_one_group_per_parameter(name):
    optimizer, paramwise_cfg = OPTIMIZERS[name]
    weights = []
    for merge in (True, False):
        model = net()
        wrapper = build(model, optimizer, paramwise_cfg,
                        merge_param_groups=merge)
        assert len(wrapper.optimizer.param_groups) == (2 if merge else 7)
        train(model, wrapper, BATCHES[:3])
        weights.append([p.detach().clone() for p in model.parameters()])
    assert all(torch.equal(a, b) for a, b in zip(*weights))


@pytest.mark.parametrize('wrapper_type', ['OptimWrapper',
                                          'mmengine.OptimWrapper'])
def test_unmerged_state_resumes_in_merged_groups(wrapper_type, monkeypatch):
    """A state saved with one group per parameter (and its schedulers'
    states) goes on bit for bit in merged groups, the schedules included."""
    old_model = net()
    old = build(old_model, merge_param_groups=False, type=wrapper_type)
    old_scheds = schedulers(old)
    train(old_model, old, BATCHES[:2], old_scheds)
    saved = copy.deepcopy(old.state_dict())
    saved_scheds = [copy.deepcopy(s.state_dict()) for s in old_scheds]
    assert len(saved['param_groups']) == 7

    model = net()
    model.load_state_dict(old_model.state_dict())
    wrapper = build(model, type=wrapper_type)
    scheds = schedulers(wrapper)
    logged = []
    monkeypatch.setattr(param_groups, 'print_log',
                        lambda msg, **kwargs: logged.append((msg, kwargs)))
    regroup_scheduler_states(wrapper.optimizer, saved, saved_scheds)  # hook
    wrapper.load_state_dict(saved)
    for scheduler, state in zip(scheds, saved_scheds):
        scheduler.load_state_dict(state)
    assert len(logged) == 1 and 'level' not in logged[0][1]  # INFO
    assert 'saved with 7 parameter groups' in logged[0][0]
    assert 'into the 2 merged groups' in logged[0][0]
    assert [len(s.base_values) for s in scheds] == [3, 3]  # + base settings
    assert 'initial_weight_decay' in wrapper.optimizer.param_groups[1]

    train(old_model, old, BATCHES[2:], old_scheds)
    train(model, wrapper, BATCHES[2:], scheds)
    assert all(torch.equal(a, b) for a, b in zip(old_model.parameters(),
                                                 model.parameters()))
    assert settings(model, wrapper) == settings(old_model, old)
    assert settings(model, wrapper)[2][1] == 0.  # fc1.bias: no decay


def test_state_that_does_not_map_raises():
    other = net(extra=True)  # 9 parameters, not 7
    saved = build(other, merge_param_groups=False).state_dict()
    with pytest.raises(ParamGroupLayoutError,
                       match=r'9 parameter groups holding 9 parameters; '
                       r'this optimizer has 2 groups .* load_from'):
        build(net()).load_state_dict(saved)

    saved = build(net(), merge_param_groups=False).state_dict()
    saved['param_groups'][1]['weight_decay'] = 0.5  # fc1.weight
    with pytest.raises(ParamGroupLayoutError,
                       match='groups 0 and 1 have different settings.*'
                       'merge_param_groups=False'):
        build(net()).load_state_dict(saved)


def build_parts(model: nn.Module, **top):
    part = dict(optimizer=ADAMW, paramwise_cfg=NO_DECAY)
    with DefaultScope.overwrite_default_scope('mmssl_kd'):
        return build_optim_wrapper(model, dict(
            constructor='PartsOptimWrapperConstructor', model1=part,
            model2=part, **top))


def test_each_part_merges():
    model = TwoParts()
    merged = build_parts(model)
    assert [ids(g['params']) for g in merged['model1'].param_groups[:-1]] \
        == [ids([model.backbone.weight]),
            ids([model.backbone.bias, *model.neck.parameters()])]
    assert [len(g['params']) for g in merged['model2'].param_groups[:-1]] \
        == [1, 3]
    unmerged = build_parts(model, merge_param_groups=False)
    assert [len(w.optimizer.param_groups) for w in unmerged.values()] \
        == [4, 4]


def test_checkpoint_hook_regroups_scheduler_states_of_each_part():
    """Before ``Runner.resume`` loads them: each part's lists with one entry
    per saved group (+ the wrapper's base settings) follow its merged
    groups; other values and states that do not map stay as they are."""
    model = TwoParts()
    saved = build_parts(model, merge_param_groups=False).state_dict()
    schedulers = {key: [dict(base_values=list(range(len(
        state['param_groups']) + 1)), last_step=3, milestones=[1, 2])]
        for key, state in saved.items()}
    saved['model2']['param_groups'].pop()  # model2's does not map
    runner = SimpleNamespace(optim_wrapper=build_parts(model))
    CheckpointHook().after_load_checkpoint(
        runner, dict(optimizer=saved, param_schedulers=schedulers))
    assert schedulers['model1'] == [dict(base_values=[0, 1, 4], last_step=3,
                                         milestones=[1, 2])]
    assert schedulers['model2'][0]['base_values'] == [0, 1, 2, 3, 4]


# The MoCo v3 run of test_train_resume.py with DINO's kind of optimizer
# settings: no decay on norms, a relative weight-decay schedule.
NO_DECAY_CONFIG = MOCO_CONFIG + """
optim_wrapper = dict(optimizer=dict(type='AdamW', lr=1e-3, weight_decay=0.1),
                     paramwise_cfg=dict(norm_decay_mult=0.))
param_scheduler = param_scheduler + [dict(
    type='CosineAnnealingParamScheduler', param_name='weight_decay',
    eta_min_ratio=10., by_epoch=True, begin=0, end=2,
    convert_to_iter_based=True)]
"""


def test_train_resumes_checkpoint_of_one_group_per_parameter(
        tmp_path, tiny_image_folder):
    """Epoch 1 with MMEngine's layout, then ``--resume`` in merged groups:
    the same weights, optimizer and scheduler states as a merged run."""
    log, full, resumed = train_full_and_resumed(
        tmp_path, tiny_image_folder, NO_DECAY_CONFIG,
        'optim_wrapper = dict(merge_param_groups=False)\n')
    old = load_checkpoint_file(str(tmp_path / 'resumed' / 'epoch_1.pth'))
    assert len(old['optimizer']['param_groups']) > 2
    assert 'into the 2 merged groups of this run' in log
    assert len(full['optimizer']['param_groups']) == 2
    for key in ('state_dict', 'optimizer', 'param_schedulers'):
        assert_identical(full[key], resumed[key], key)
