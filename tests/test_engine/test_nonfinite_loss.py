"""The non-finite-loss guard of mmssl_kd's optimizer wrappers, in a Runner,
on a single-optimizer model (``BaseModel.train_step``, as SEED) and a
two-optimizer one (a ``Distiller`` with two optimizer parts, as DoGo and
MOKD); the
non-finite-weights check before each checkpoint."""
import glob
import os.path as osp
from pathlib import Path
from typing import Dict

import pytest
import torch
import torch.nn as nn
from mmengine.hooks import Hook
from mmengine.logging import MessageHub
from mmengine.model import BaseDataPreprocessor, BaseModel
from mmengine.optim import OptimWrapper as MMEngineOptimWrapper
from mmengine.registry import DefaultScope
from mmengine.runner import Runner
from torch.utils.data import DataLoader

from mmssl_kd.cli import read_scalars
from mmssl_kd.compat import load_checkpoint_file
from mmssl_kd.engine import AmpOptimWrapper, OptimWrapper
from mmssl_kd.engine.optim_wrappers import nonfinite_weights
from mmssl_kd.models.algorithms import Distiller, Net, OptimPart, Parts
from mmssl_kd.registry import OPTIM_WRAPPERS

NAN = float('nan')
POISONED = 5  # the iteration (counted from 1) whose batch holds NaN
# Inputs this large give BatchNorm an inf batch variance: the normalised
# output, so the loss, stays finite, and the running variance becomes inf
# (as in a run whose weights diverged to ~1e30).
HUGE = 1e30


def iteration() -> int:
    """The current iteration, counted from 1 as the logs count."""
    return MessageHub.get_current_instance().get_info('iter') + 1


def encoder() -> nn.Module:
    # BN: a NaN batch also writes NaN into its running statistics
    return nn.Sequential(nn.BatchNorm1d(4), nn.Linear(4, 3))


class Single(BaseModel):
    """One optimizer; ``loss_sim`` turns NaN on a poisoned batch (inputs
    times ``poison``), ``loss_reg`` (weights only) stays finite."""

    def __init__(self, poisoned=(POISONED, ), poison=NAN):
        super().__init__()
        self.poisoned = set(poisoned)
        self.poison = poison
        self.backbone = encoder()

    def forward(self, inputs, data_samples=None, mode='tensor'):
        if iteration() in self.poisoned:
            inputs = inputs * self.poison
        z = self.backbone(inputs)
        return dict(loss_sim=z.pow(2).mean(),
                    loss_reg=1e-3 * self.backbone[1].weight.pow(2).sum())


class TwoParts(Distiller):
    """Two optimizers; only the peer's input (part 2) is poisoned."""

    def __init__(self):
        super().__init__(backbone=encoder(),
                         data_preprocessor=BaseDataPreprocessor())
        self.peer = encoder()

    @property
    def parts(self):
        return Parts(nets=dict(backbone=Net(self.backbone),
                               peer=Net(self.peer)),
                     optim=dict(model1=OptimPart(None, '_1'),
                                model2=OptimPart('peer', '_2')))

    def loss(self, inputs, data_samples):
        z1 = self.backbone(inputs)
        z2 = self.peer(inputs * NAN if iteration() == POISONED else inputs)
        return dict(loss_own_1=z1.pow(2).mean(),
                    loss_kd_2=(z2 - z1.detach()).pow(2).mean())


class RecordParams(Hook):
    """The parameters after each iteration (counted from 1)."""

    def __init__(self):
        self.after: Dict[int, Dict[str, torch.Tensor]] = {}

    def after_train_iter(self, runner, batch_idx, data_batch=None,
                         outputs=None):
        self.after[runner.iter + 1] = params(runner.model)


def params(model: nn.Module) -> Dict[str, torch.Tensor]:
    return {n: p.detach().clone() for n, p in model.named_parameters()}


def assert_equal(a: Dict[str, torch.Tensor], b: Dict[str, torch.Tensor]):
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)


class BreakWeight(Hook):
    """Sets one weight to inf after iteration ``at``, as a step with inf
    gradients but a finite loss would (the checkpoint hook runs later)."""

    def __init__(self, at: int):
        self.at = at

    def after_train_iter(self, runner, batch_idx, data_batch=None,
                         outputs=None):
        if runner.iter + 1 == self.at:
            with torch.no_grad():
                runner.model.backbone[1].weight[0, 0] = float('inf')


def make_runner(work_dir: Path, model: BaseModel, record: RecordParams,
                hooks=(), **optim) -> Runner:
    torch.manual_seed(0)
    data = [dict(inputs=torch.randn(4)) for _ in range(8)]
    sgd = dict(optimizer=dict(type='SGD', lr=0.1))
    if isinstance(model, TwoParts):
        optim_wrapper = dict(constructor='PartsOptimWrapperConstructor',
                             model1=sgd, model2=sgd, **optim)
    else:
        optim_wrapper = dict(sgd, **optim)
    return Runner(
        model=model, work_dir=str(work_dir),
        experiment_name=f'nonfinite_{work_dir.name}',
        train_dataloader=DataLoader(data, batch_size=2),
        train_cfg=dict(by_epoch=False, max_iters=6),
        optim_wrapper=optim_wrapper,
        default_hooks=dict(
            logger=dict(type='LoggerHook', interval=1),
            checkpoint=dict(type='CheckpointHook', interval=2,
                            by_epoch=False)),
        custom_hooks=[record, *hooks],
        visualizer=dict(type='Visualizer',
                        vis_backends=[dict(type='LocalVisBackend')]),
        default_scope='mmssl_kd', log_level='WARNING')


def log_text(work_dir: Path) -> str:
    return ''.join(Path(f).read_text()
                   for f in glob.glob(osp.join(work_dir, '*', '*.log')))


@pytest.mark.parametrize('model_cls', [Single, TwoParts])
def test_stop_names_iteration_and_term(tmp_path, model_cls):
    record = RecordParams()
    runner = make_runner(tmp_path, model_cls(), record)
    bad_term, good_term = (('loss_sim', 'loss_reg') if model_cls is Single
                           else ('loss_kd_2', 'loss_own_1'))
    with pytest.raises(FloatingPointError) as err:
        runner.train()
    message = str(err.value)
    assert f'at iteration {POISONED} (epoch 1)' in message
    assert f'{bad_term} = nan' in message and good_term not in message
    assert str(tmp_path / 'iter_4.pth') in message  # the kept checkpoint
    assert 'lower the learning rate' in message and '--resume' in message
    # no step was taken (by any part), and nothing more was saved
    assert_equal(params(runner.model), record.after[POISONED - 1])
    kept = load_checkpoint_file(str(tmp_path / 'iter_4.pth'))
    assert_equal({k: kept['state_dict'][k] for k in record.after[4]},
                 record.after[4])
    assert sorted(p.name for p in tmp_path.glob('*.pth')) == [
        'iter_2.pth', 'iter_4.pth']


@pytest.mark.parametrize('model_cls', [Single, TwoParts])
def test_skip_counts_and_logs(tmp_path, model_cls):
    record = RecordParams()
    runner = make_runner(tmp_path, model_cls(), record,
                         nonfinite_loss='skip')
    runner.train()
    assert runner.iter == 6
    assert_equal(record.after[POISONED], record.after[POISONED - 1])
    assert not all(torch.equal(record.after[6][k], record.after[5][k])
                   for k in record.after[6])  # training went on
    # the NaN batch's BN statistics were undone
    assert all(torch.isfinite(b).all() for b in runner.model.buffers())
    assert runner.message_hub.get_info('skipped_steps') == 1  # not 2 parts
    logged = [row['skipped_steps'] for row in read_scalars(str(tmp_path))
              if 'skipped_steps' in row]
    assert logged and set(logged) == {1}
    log = log_text(tmp_path)
    assert f'Non-finite loss at iteration {POISONED} (epoch 1)' in log
    assert 'Skipped the optimizer step (1 skipped iterations so far' in log
    assert load_checkpoint_file(str(tmp_path / 'iter_6.pth'))[
        'message_hub']['runtime_info']['skipped_steps'] == 1


def test_skip_stops_after_max_skips(tmp_path):
    runner = make_runner(tmp_path, Single(poisoned=(3, 5)), RecordParams(),
                         nonfinite_loss='skip', max_skips=1)
    with pytest.raises(FloatingPointError,
                       match=r'iteration 5 .*That makes 2 skipped '
                       r'iterations, more than max_skips=1\.'):
        runner.train()


def test_registered_under_mmengine_names():
    with DefaultScope.overwrite_default_scope('mmssl_kd'):
        assert OPTIM_WRAPPERS.get('OptimWrapper') is OptimWrapper
        assert OPTIM_WRAPPERS.get('AmpOptimWrapper') is AmpOptimWrapper
    assert issubclass(OptimWrapper, MMEngineOptimWrapper)


def test_guard_outside_a_runner_and_bad_arguments():
    weight = nn.Parameter(torch.ones(2))
    wrapper = OptimWrapper(torch.optim.SGD([weight], lr=1.0))
    wrapper.update_params(weight.sum())  # finite: a normal step
    assert torch.equal(weight.detach(), torch.zeros(2))
    with pytest.raises(FloatingPointError, match='total = inf'):
        wrapper.update_params(weight.sum() + float('inf'))
    with pytest.raises(ValueError, match="'stop', 'skip'"):
        OptimWrapper(torch.optim.SGD([weight], lr=1.0),
                     nonfinite_loss='ignore')
    with pytest.raises(ValueError, match='max_skips'):
        OptimWrapper(torch.optim.SGD([weight], lr=1.0), max_skips=-1)


def test_buffers_made_nonfinite_by_a_finite_loss_stop(tmp_path):
    """The loss stays finite while BatchNorm's running variance becomes
    inf: the guard stops before the step all the same."""
    record = RecordParams()
    runner = make_runner(tmp_path, Single(poison=HUGE), record)
    with pytest.raises(FloatingPointError) as err:
        runner.train()
    message = str(err.value)
    assert message.startswith(
        f'Non-finite buffers at iteration {POISONED} (epoch 1), after a '
        'forward with a finite loss: backbone.0.running_var.')
    assert str(tmp_path / 'iter_4.pth') in message
    assert 'lower the learning rate' in message and '--amp' in message
    assert "nonfinite_loss='skip'" in message
    assert_equal(params(runner.model), record.after[POISONED - 1])
    assert sorted(p.name for p in tmp_path.glob('*.pth')) == [
        'iter_2.pth', 'iter_4.pth']


def test_buffers_made_nonfinite_by_a_finite_loss_skip(tmp_path):
    """In skip mode that step is skipped and its buffers restored: no
    checkpoint holds an inf."""
    record = RecordParams()
    runner = make_runner(tmp_path, Single(poison=HUGE), record,
                         nonfinite_loss='skip')
    runner.train()
    assert runner.message_hub.get_info('skipped_steps') == 1
    assert_equal(record.after[POISONED], record.after[POISONED - 1])
    assert 'restored 1 buffers' in log_text(tmp_path)
    state = load_checkpoint_file(str(tmp_path / 'iter_6.pth'))['state_dict']
    assert all(torch.isfinite(v).all() for v in state.values())


@pytest.mark.parametrize('mode', ['stop', 'skip'])
def test_checkpoint_refuses_nonfinite_weights(tmp_path, mode):
    """A weight that became inf with finite losses (after iteration 4):
    the checkpoint of iteration 4 is not written, the run stops naming
    the weight, and the checkpoint of iteration 2 stays the last one."""
    runner = make_runner(tmp_path, Single(poisoned=()), RecordParams(),
                         hooks=[BreakWeight(at=4)], nonfinite_loss=mode)
    with pytest.raises(FloatingPointError) as err:
        runner.train()
    message = str(err.value)
    assert message.startswith(
        'Non-finite weights at iteration 4 (epoch 1): 1 parameter(s) or '
        'buffer(s) hold NaN or inf: backbone.1.weight.')
    assert f'Stopped before writing {tmp_path / "iter_4.pth"}' in message
    assert f'the last checkpoint ({tmp_path / "iter_2.pth"}) is kept' \
        in message
    assert 'lower the learning rate' in message and '--amp' in message
    assert ("nonfinite_loss='skip'" in message) == (mode == 'stop')
    assert sorted(p.name for p in tmp_path.glob('*.pth')) == ['iter_2.pth']
    assert (tmp_path / 'last_checkpoint').read_text() == str(
        tmp_path / 'iter_2.pth')


def nonfinite_weights_worker(rank: int, out_dir: Path) -> None:
    model = encoder()
    if rank == 1:  # only this process diverged
        with torch.no_grad():
            model[0].running_var[1] = NAN
    torch.save(nonfinite_weights(model), out_dir / f'rank{rank}.pt')


def test_nonfinite_weights_agree_across_processes(tmp_path,
                                                  gloo):
    """Every process gets the same answer (so all stop together), even when
    only one holds the NaN."""
    gloo.spawn(nonfinite_weights_worker, tmp_path, world_size=2)
    for rank in range(2):
        assert torch.load(tmp_path / f'rank{rank}.pt') == ['0.running_var']
    assert nonfinite_weights(encoder()) == []
