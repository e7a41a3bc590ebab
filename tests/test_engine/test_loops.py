"""The project's EpochBasedTrainLoop in a Runner: each epoch draws new
augmentations, which depend on the sample and not on the data workers, and
a run stopped at the end of an epoch or inside one and resumed ends exactly
as the uninterrupted run."""
import pickle
from pathlib import Path
from typing import Dict, List, NamedTuple, Optional, Tuple

import pytest
import torch
from _helpers.loops import BATCH, LOADERS, SAMPLES, Dropping, dataloader
from mmengine.dataset import DefaultSampler
from mmengine.hooks import Hook
from mmengine.registry import DefaultScope
from mmengine.runner import EpochBasedTrainLoop as MMEngineLoop

from mmssl_kd.engine import EpochBasedTrainLoop, Runner
from mmssl_kd.engine.loops import ResumableSampler, SampleIndex
from mmssl_kd.registry import LOOPS

EPOCHS = 2
PER_EPOCH = SAMPLES // BATCH


class Record(Hook):
    """Every trained batch by (epoch, batch index); stops the run (as a
    crash would) after iteration ``stop`` (counted from 1), once its
    checkpoint is written."""
    priority = 'LOWEST'  # after the CheckpointHook

    def __init__(self, stop: Optional[int] = None):
        self.stop = stop
        self.batches: Dict[Tuple[int, int], torch.Tensor] = {}

    def after_train_iter(self, runner, batch_idx, data_batch=None,
                         outputs=None):
        self.batches[runner.epoch, batch_idx] = data_batch['inputs'].clone()
        if runner.iter + 1 == self.stop:
            raise Stopped


class Stopped(Exception):
    pass


class Run(NamedTuple):
    batches: Dict[Tuple[int, int], torch.Tensor]
    model: dict
    optimizer: dict
    iter: int


def train(work_dir: Path, kind: str, stop: Optional[int] = None,
          resume: bool = False, batch_size: int = BATCH) -> Run:
    torch.manual_seed(0)  # the same initial weights in every run
    record = Record(stop)
    runner = Runner(
        model=Dropping(), work_dir=str(work_dir),
        experiment_name=f'loops_{work_dir.name}_{stop}_{resume}',
        train_dataloader=dataloader(kind, batch_size),
        train_cfg=dict(type='EpochBasedTrainLoop', max_epochs=EPOCHS),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.1,
                                          momentum=0.9)),
        default_hooks=dict(checkpoint=dict(type='CheckpointHook',
                                           interval=1, by_epoch=False)),
        custom_hooks=[record], randomness=dict(seed=0), resume=resume,
        default_scope='mmssl_kd', log_level='WARNING')
    try:
        runner.train()
    except Stopped:
        pass
    finally:
        # stop the persistent workers now: left to the garbage collector
        # (the Runner is in reference cycles) torch waits 5 s per worker
        runner.train_loop.dataloader._iterator = None
    return Run(record.batches, runner.model.state_dict(),
               runner.optim_wrapper.state_dict(), runner.iter)


@pytest.fixture(scope='module')
def full_runs(tmp_path_factory) -> Dict[str, Run]:
    """Each kind of loader's uninterrupted run."""
    return {kind: train(tmp_path_factory.mktemp(f'full_{kind}'), kind)
            for kind in LOADERS}


def by_sample(run: Run) -> Dict[Tuple[int, int], List[float]]:
    """(epoch, dataset index) -> the sample's random draws."""
    return {(epoch, int(row[0])): row[1:].tolist()
            for (epoch, _), batch in run.batches.items() for row in batch}


def assert_equal(a, b, where: str = '') -> None:
    if isinstance(a, torch.Tensor):
        assert torch.equal(a, b), where
    elif isinstance(a, dict):
        assert a.keys() == b.keys(), where
        for key in a:
            assert_equal(a[key], b[key], f'{where}[{key!r}]')
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b)):
            assert_equal(x, y, f'{where}[{i}]')
    else:
        assert a == b, where


@pytest.mark.parametrize('kind', LOADERS)
def test_each_epoch_draws_new_augmentations(full_runs, kind):
    """MMEngine restarts non-persistent workers from the same seeds each
    epoch: the k-th batch of every epoch got the same draws."""
    run = full_runs[kind]
    assert run.iter == EPOCHS * PER_EPOCH
    for k in range(PER_EPOCH):
        first, second = run.batches[0, k], run.batches[1, k]
        assert (first[:, 1:] != second[:, 1:]).all(), (kind, k)
    samples = by_sample(run)
    assert all(samples[0, i] != samples[1, i] for i in range(SAMPLES))


def test_augmentations_depend_on_the_sample_not_the_workers(full_runs):
    """A sample's draws are the same in the main process and in a worker,
    persistent or restarted each epoch: a function of the seed, the epoch,
    the rank and the index."""
    main = by_sample(full_runs['main'])
    assert len(main) == EPOCHS * SAMPLES
    for kind in ('persistent', 'restarted'):
        assert by_sample(full_runs[kind]) == main, kind
    assert_equal(full_runs['persistent'].model, full_runs['main'].model)


@pytest.mark.parametrize('stop', [PER_EPOCH, PER_EPOCH + 2],
                         ids=['epoch_end', 'mid_epoch'])
@pytest.mark.parametrize('kind', LOADERS)
def test_resume_is_exact(tmp_path, full_runs, kind, stop):
    """Stopped after iteration ``stop`` (its ``iter_N.pth`` written),
    resumed: the rest of the training, batches, weights and optimizer
    state equal the uninterrupted run's; no batch is trained twice."""
    full = full_runs[kind]
    stopped = train(tmp_path, kind, stop=stop)
    assert stopped.iter == stop - 1  # the hook raised before the count
    resumed = train(tmp_path, kind, resume=True)
    assert resumed.iter == EPOCHS * PER_EPOCH
    rest = [(stop + i) // PER_EPOCH for i in range(resumed.iter - stop)]
    assert sorted(resumed.batches) == [
        (epoch, (stop + i) % PER_EPOCH) for i, epoch in enumerate(rest)]
    for key, batch in resumed.batches.items():
        assert torch.equal(batch, full.batches[key]), key
    assert_equal(resumed.model, full.model, 'model')
    assert_equal(resumed.optimizer, full.optimizer, 'optimizer')


def test_resume_with_another_epoch_length_warns(tmp_path):
    """A checkpoint of iteration 6 in epochs of 4 batches, resumed in
    epochs of 2 (another batch size): the epoch is trained from its start,
    with a warning."""
    train(tmp_path, 'main', stop=PER_EPOCH + 2)
    resumed = train(tmp_path, 'main', resume=True, batch_size=2 * BATCH)
    assert sorted(resumed.batches) == [(1, 0), (1, 1)]
    log = ''.join(path.read_text() for path in tmp_path.glob('*/*.log'))
    assert 'Resumed at iteration 6, epoch 1, which does not fit epochs of ' \
        '2 iterations' in log


def test_sampler_skips_inside_one_epoch():
    """The indices of the wrapped sampler as ints that carry their epoch;
    a skip applies to every pass over its epoch (DataLoader iterators call
    ``iter`` twice) and to no other; the length stays the epoch's."""
    inner = DefaultSampler(list(range(10)), shuffle=True, seed=3)
    sampler = ResumableSampler(inner)
    sampler.set_epoch(1)
    order = list(inner)
    sampler.skip(1, 4)
    for _ in range(2):
        indices = list(sampler)
        assert indices == order[4:]
        assert all(type(i) is SampleIndex and i.epoch == 1 for i in indices)
    assert len(sampler) == 10
    sampler.set_epoch(2)
    assert list(sampler) == list(inner) and len(list(sampler)) == 10
    index = pickle.loads(pickle.dumps(SampleIndex(7, 2)))
    assert index == 7 and index.epoch == 2


def test_registered_under_mmengine_name(tmp_path):
    with DefaultScope.overwrite_default_scope('mmssl_kd'):
        assert LOOPS.get('EpochBasedTrainLoop') is EpochBasedTrainLoop
    assert issubclass(EpochBasedTrainLoop, MMEngineLoop)
    runner = Runner(
        model=Dropping(), work_dir=str(tmp_path),
        experiment_name='loops_by_epoch', train_dataloader=dataloader('main'),
        train_cfg=dict(by_epoch=True, max_epochs=1),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.1)),
        default_scope='mmssl_kd', log_level='WARNING')
    assert type(runner.build_train_loop(runner._train_loop)) \
        is EpochBasedTrainLoop
