"""The epoch-based training loop: exact resume, new augmentations each epoch.

MMEngine seeds each data worker once, when it starts, from ``seed +
worker_id + rank * num_workers``.  A run stopped and resumed then differs
from the uninterrupted one: with ``persistent_workers=True`` (the configs')
a worker carries its random state over from epoch to epoch in the
uninterrupted run and starts afresh in the resumed one; with
``num_workers=0`` the augmentations draw from the main process's random
state, which no checkpoint holds.  With ``persistent_workers=False`` every
epoch's workers start from the same seeds, so the k-th batch of every epoch
gets the same crops, flips and colour changes (on other images).  And a run
resumed from a mid-epoch ``iter_N.pth`` trained that whole epoch again.

Here every random draw of training is a pure function of where it happens:

- a sample's augmentations, of ``(seed, epoch, rank, index)``: the
  :class:`ResumableSampler` yields each index as a :class:`SampleIndex`
  that carries its epoch, and the :class:`SeededDataset` seeds Python's,
  NumPy's and torch's generators from it before loading the sample, in
  whichever process does (a worker, persistent or not, or the main one);
- the main process's draws, of ``(seed, iteration)``: the loop reseeds
  before fetching each batch (a loader that augments in this process) and
  before each step (dropout, drop path, random masks, the GPU augmentations
  of the data preprocessor).

So the augmentations depend neither on ``num_workers`` nor on
``persistent_workers``, and a resumed run draws what the uninterrupted one
drew.  Resumed inside an epoch, the loop starts that epoch's sampler at its
first untrained batch (:meth:`ResumableSampler.skip`), so the skipped
images are not even loaded.

:class:`EpochBasedTrainLoop` is registered under MMEngine's name in the
``mmssl_kd`` scope, so every config's ``train_cfg = dict(type=
'EpochBasedTrainLoop', ...)`` gets it, as ``'CheckpointHook'`` gets the
project's hook; ``'mmengine.EpochBasedTrainLoop'`` names the original.

A dataloader config is built with its dataset in a :class:`SeededDataset`
(not a device-resident one: its batches carry their own augmentation seed,
see :mod:`mmssl_kd.datasets.device_data`) and its sampler in a
:class:`ResumableSampler`, which passes the configured sampler's other
attributes (``seed``, ``shuffle``, ...) through.  Resumed inside an epoch, a
torch ``DataLoader`` over that sampler (no ``batch_sampler``) skips the
trained batches' indices at the sampler.  Any other loader (the
``DeviceDataLoader``, which numbers its batches from the first index it
gets; a prebuilt loader; a batch sampler) is advanced by taking and
dropping the epoch's trained batches: one ``index_select`` each on a
device-resident dataset, the whole loading on another.
"""
import copy
import logging
import random
from itertools import count, islice
from typing import Iterator, Optional, Union

import numpy as np
import torch
from mmengine.dist import get_rank
from mmengine.logging import print_log
from mmengine.registry import DATA_SAMPLERS, DATASETS
from mmengine.runner import EpochBasedTrainLoop as _MMEngineEpochBasedLoop
from torch.utils.data import DataLoader, Dataset, Sampler

from mmssl_kd.datasets import is_device_dataset
from mmssl_kd.registry import LOOPS

# The first number after the seed in each kind of key, so that keys of
# different kinds never coincide.
SAMPLE, FETCH, STEP = 0, 1, 2


def reseed(*key: int, all_devices: bool = True) -> None:
    """Seed Python's ``random``, NumPy's global generator and torch's from
    the non-negative integers ``key`` (through NumPy's ``SeedSequence``):
    torch's CPU generator, and with ``all_devices`` every accelerator's
    (``torch.manual_seed``; a data worker has only the CPU's, and seeding
    the others there costs more than the sample)."""
    words = np.random.SeedSequence(key).generate_state(2)
    seed = int(words[0]) << 32 | int(words[1])
    random.seed(seed)
    np.random.seed(words)
    if all_devices:
        torch.manual_seed(seed)
    else:
        torch.default_generator.manual_seed(seed)


class SampleIndex(int):
    """A dataset index that carries the ``epoch`` it was drawn for.

    An ``int`` to every loader, sampler and dataset; :class:`SeededDataset`
    reads the epoch from it, in the process that loads the sample.
    """

    epoch: int

    def __new__(cls, index: int, epoch: int) -> 'SampleIndex':
        self = super().__new__(cls, index)
        self.epoch = epoch
        return self

    def __reduce__(self):  # sent to the data workers
        return SampleIndex, (int(self), self.epoch)


class SeededDataset(Dataset):
    """``dataset`` with each sample's random draws seeded from ``(seed,
    epoch, rank, index)`` when it is indexed with a :class:`SampleIndex`
    (a plain index loads as ``dataset`` does).

    Other attributes (``metainfo``, ``pipeline``, ...) are ``dataset``'s.

    Args:
        dataset: the dataset or its config.
        seed: the run's seed.
    """

    def __init__(self, dataset: Union[Dataset, dict], seed: int):
        self.dataset = DATASETS.build(dataset) if isinstance(dataset, dict) \
            else dataset
        self.seed = seed
        self.rank = get_rank()

    def __getitem__(self, index: int):
        epoch = getattr(index, 'epoch', None)
        if epoch is not None:
            reseed(self.seed, SAMPLE, epoch, self.rank, int(index),
                   all_devices=False)
        return self.dataset[int(index)]

    def __len__(self) -> int:
        return len(self.dataset)

    def __getattr__(self, name: str):
        if name == 'dataset' or name.startswith('__'):
            raise AttributeError(name)  # not yet set (unpickling)
        return getattr(self.dataset, name)


class ResumableSampler(Sampler):
    """The indices of ``sampler``, as :class:`SampleIndex` of the current
    epoch, and in one epoch from a given position on (:meth:`skip`).

    Args:
        sampler: a sampler with ``set_epoch`` and ``__iter__`` (MMEngine's
            ``DefaultSampler``), or its config.
        dataset, seed: for a sampler config, as MMEngine builds it.
    """

    def __init__(self, sampler: Union[Sampler, dict],
                 dataset: Optional[Dataset] = None,
                 seed: Optional[int] = None):
        if isinstance(sampler, dict):
            sampler = DATA_SAMPLERS.build(
                sampler, default_args=dict(dataset=dataset, seed=seed))
        self.sampler = sampler
        self.epoch = 0
        self._skip = (0, 0)  # (epoch, indices to skip in it)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch
        if hasattr(self.sampler, 'set_epoch'):
            self.sampler.set_epoch(epoch)

    def skip(self, epoch: int, indices: int) -> None:
        """Start every pass over ``epoch`` after its first ``indices``
        indices: they are not yielded."""
        self._skip = (epoch, indices)

    def __iter__(self) -> Iterator[SampleIndex]:
        epoch = self.epoch
        start = self._skip[1] if self._skip[0] == epoch else 0
        for index in islice(self.sampler, start, None):
            yield SampleIndex(index, epoch)

    def __len__(self) -> int:
        """The whole epoch's length, skipped indices included (MMEngine
        counts an epoch's iterations and the hooks its batches by it)."""
        return len(self.sampler)

    def __getattr__(self, name: str):
        if name == 'sampler' or name.startswith('__'):
            raise AttributeError(name)  # not yet set (unpickling)
        return getattr(self.sampler, name)


def resumable_dataloader(dataloader: dict, seed: int) -> dict:
    """The dataloader config ``dataloader`` with its dataset wrapped in a
    :class:`SeededDataset` (unless device-resident) and its sampler in a
    :class:`ResumableSampler` (see the module docstring)."""
    dataloader = copy.copy(dataloader)
    if 'dataset' in dataloader \
            and not is_device_dataset(dataloader['dataset']):
        dataloader['dataset'] = dict(type=SeededDataset,
                                     dataset=dataloader['dataset'],
                                     seed=seed)
    if 'sampler' in dataloader:
        dataloader['sampler'] = dict(type=ResumableSampler,
                                     sampler=dataloader['sampler'])
    return dataloader


@LOOPS.register_module()
class EpochBasedTrainLoop(_MMEngineEpochBasedLoop):
    """MMEngine's ``EpochBasedTrainLoop`` with every random draw a function
    of the seed and the position in training, and resume inside an epoch
    (see the module docstring).

    Takes MMEngine's arguments.  A ``dataloader`` config is built with its
    dataset in a :class:`SeededDataset` and its sampler in a
    :class:`ResumableSampler`.
    """

    def __init__(self, runner, dataloader, *args, **kwargs) -> None:
        if isinstance(dataloader, dict):
            dataloader = resumable_dataloader(dataloader, runner.seed)
        super().__init__(runner, dataloader, *args, **kwargs)
        self._start = 0  # the first batch of the next epoch to train

    def run(self) -> torch.nn.Module:
        """Train; a run resumed inside an epoch trains the rest of it."""
        self._start = self._trained_batches()
        return super().run()

    def _trained_batches(self) -> int:
        """How many batches of the current epoch were trained (a resume
        from a mid-epoch checkpoint: ``iter - epoch * len(dataloader)``)."""
        per_epoch = len(self.dataloader)
        trained = self._iter - self._epoch * per_epoch
        if not 0 <= trained <= per_epoch:
            print_log(
                f'Resumed at iteration {self._iter}, epoch {self._epoch}, '
                f'which does not fit epochs of {per_epoch} iterations (a '
                'checkpoint of another batch size or number of processes): '
                'the epoch is trained from its first batch.',
                logger='current', level=logging.WARNING)
            return 0
        if trained:
            print_log(
                f'Resuming inside epoch {self._epoch + 1}: its first '
                f'{trained} of {per_epoch} batches were trained; '
                'training goes on from the next one.', logger='current')
        return trained

    def run_epoch(self) -> None:
        """MMEngine's ``run_epoch``, from batch ``self._start`` on, the main
        process reseeded before each fetch and each step."""
        self.runner.call_hook('before_train_epoch')
        self.runner.model.train()
        start, self._start = self._start, 0
        for idx, data_batch in enumerate(self._batches(start), start):
            reseed(self.runner.seed, STEP, self._iter)
            self.run_iter(idx, data_batch)
        self.runner.call_hook('after_train_epoch')
        self._epoch += 1

    def _sampler(self) -> Optional[ResumableSampler]:
        for holder in (self.dataloader,
                       getattr(self.dataloader, 'batch_sampler', None)):
            sampler = getattr(holder, 'sampler', None)
            if isinstance(sampler, ResumableSampler):
                return sampler
        return None

    def _batches(self, start: int) -> Iterator:
        """This epoch's batches from the ``start``-th on.  A torch
        ``DataLoader`` batching the sampler's indices in order skips the
        first ``start`` batches' at the sampler; other loaders' are taken
        and dropped."""
        sampler = self._sampler()
        drop = start
        if sampler is not None:
            sampler.set_epoch(self._epoch)
            if isinstance(self.dataloader, DataLoader) \
                    and sampler is self.dataloader.sampler:
                sampler.skip(self._epoch, start * self.dataloader.batch_size)
                drop = 0
        first_iter = self._iter - start  # the iteration of batch 0
        batches = iter(self.dataloader)
        for position in count(start - drop):
            reseed(self.runner.seed, FETCH, first_iter + position)
            try:
                batch = next(batches)
            except StopIteration:
                return
            if position >= start:
                yield batch
