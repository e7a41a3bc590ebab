"""The contract every registered algorithm keeps (timm's contract tests, run
over every model): it builds from its demo config (the smallest recipe
where there is no demo), trains two steps on CPU through the Runner,
declares its parts so that every trained parameter belongs to a declared
network, logs named losses, advances its EMA teachers and schedules once
per step, and survives a checkpoint round trip."""
import inspect

import pytest
import torch
from _helpers.configs import CONFIG_DIR, tiny_config
from mmengine.hooks import Hook
from mmengine.registry import DefaultScope
from mmpretrain.models import BaseSelfSupervisor

from mmssl_kd.engine import Runner
from mmssl_kd.models.algorithms import Distiller, Parts, declared_nets
from mmssl_kd.registry import MODELS

#: algorithm -> the recipe it is tested with
RECIPES = {
    'SEED': 'seed/seed_resnet20-cifar_resnet56-cifar-sup_1xb256-coslr-1e_'
            'cifar10-demo.py',
    'DenseDistill': 'foundation/densedistill-global-dense_resnet20-cifar_'
                    'resnet56-cifar-sup_1xb256-coslr-1e_cifar10-demo.py',
    'DoGo': 'dogo/dogo_resnet20-cifar_resnet56-cifar_1xb256-adam-1e_'
            'cifar10-demo.py',
    'DINO': 'selfsup/dino_vit-mini-p4_1xb256-coslr-5e_cifar10-demo.py',
    'GLSD': 'global_local/glsd-geometric_vit-mini-p4_1xb256-coslr-5e_'
            'cifar10-demo.py',
    'MOKD': 'mokd/mokd_resnet20-cifar_vit-mini-p4_1xb256-coslr-2e_'
            'cifar10-demo.py',
    'SDSSL': 'sdssl/sdssl-mocov3_vit-mini-p4_1xb256-coslr-5e_cifar10-demo.py',
    'MoCoV3': 'selfsup/mocov3_resnet20-cifar_1xb256-coslr-1e_cifar10-demo.py',
    'SimCLR': 'selfsup/simclr_resnet20-cifar_1xb256-coslr-200e_cifar10.py',
    'BYOL': 'selfsup/byol_resnet20-cifar_1xb256-coslr-200e_cifar10.py',
}
ITERS = 2


def registered_algorithms():
    """Every self-supervised algorithm the ``mmssl_kd`` scope registers."""
    return sorted(name for name, cls in MODELS.module_dict.items()
                  if inspect.isclass(cls)
                  and issubclass(cls, BaseSelfSupervisor))


def test_every_registered_algorithm_has_a_recipe_here():
    assert registered_algorithms() == sorted(RECIPES)


class Record(Hook):
    """Per iteration: the logged outputs and each EMA's update count."""

    def __init__(self):
        self.outputs, self.ema_steps = [], []

    def after_train_iter(self, runner, batch_idx, data_batch=None,
                         outputs=None):
        model = runner.model
        self.outputs.append({k: float(torch.as_tensor(v).detach())
                             for k, v in outputs.items()})
        if isinstance(model, Distiller):
            self.ema_steps.append({name: int(getattr(model, name).steps)
                                   for name in model.parts.ema})


def trained(module: torch.nn.Module):
    return {id(p) for p in module.parameters() if p.requires_grad}


@pytest.mark.parametrize('name', sorted(RECIPES))
def test_contract(name, tiny_image_folder, tmp_path):
    cfg = tiny_config(CONFIG_DIR / RECIPES[name], tiny_image_folder,
                      tmp_path, iters=ITERS)
    assert cfg.model.type == name
    runner = Runner.from_cfg(cfg)
    record = Record()
    runner.register_hook(record, priority='LOWEST')
    runner.train()
    model = runner.model
    assert type(model).__name__ == name

    # parts declared: the student is the model's backbone, and every
    # trained parameter belongs to a declared network
    parts = model.parts
    assert isinstance(parts, Parts)
    nets = declared_nets(model)
    assert list(nets)[0] == 'backbone'
    assert nets['backbone'].backbone is model.backbone
    declared = set()
    for net in nets.values():
        for module in (net.backbone, net.neck, *(net.heads or {}).values()):
            if module is not None:
                declared |= trained(module)
    assert trained(model) <= declared
    if parts.optim:  # each optimizer owns its part's parameters
        wrappers = runner.optim_wrapper
        assert set(wrappers.keys()) == set(parts.optim)
        owned = [{id(p) for g in wrappers[key].optimizer.param_groups
                  for p in g['params'] if p.requires_grad}
                 for key in parts.optim]
        assert set.union(*owned) == trained(model)
        assert sum(map(len, owned)) == len(trained(model))

    # named outputs: every logged loss term is named, finite, per step
    assert len(record.outputs) == ITERS
    for out in record.outputs:
        assert 'loss' in out and all(map(torch.isfinite,
                                         map(torch.tensor, out.values())))

    if isinstance(model, Distiller):
        # the schedules of each step, logged; the EMAs once per step (the
        # first step also copies the student: ITERS + 1 updates)
        for it, out in enumerate(record.outputs):
            expected = model.schedules(it, 0, ITERS)
            assert {k: out[k] for k in expected} == pytest.approx(expected)
        assert record.ema_steps == [{n: it + 2 for n in parts.ema}
                                    for it in range(ITERS)]

    # checkpoint round trip: a model built from the config loads every key
    # and gives the same features
    state = model.state_dict()
    with DefaultScope.overwrite_default_scope('mmssl_kd'):
        twin = MODELS.build(cfg.model)
    twin.load_state_dict(state, strict=True)
    model.to(memory_format=torch.contiguous_format)  # as the twin (speed_cfg)
    model.eval(), twin.eval()
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        for a, b in zip(model(x), twin(x)):
            torch.testing.assert_close(a, b)
