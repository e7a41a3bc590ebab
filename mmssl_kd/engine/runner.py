"""MMEngine's Runner, with the model's speed switches (``speed_cfg``),
device-resident datasets, start-up checks and a resume that refuses
another optimizer."""
import copy
import datetime
import logging
import os
import os.path as osp
import re
from typing import Dict, List, Optional, Tuple, Union

import torch
import torch.nn as nn
from mmengine.config import Config
from mmengine.dataset import InfiniteSampler
from mmengine.device import get_device
from mmengine.dist import get_world_size, is_distributed
from mmengine.logging import print_log
from mmengine.model import convert_sync_batchnorm, is_model_wrapper
from mmengine.optim import OptimWrapper, OptimWrapperDict
from mmengine.runner import Runner as _MMEngineRunner
from mmengine.runner.runner import _SlicedDataset
from torch.nn.parallel import DistributedDataParallel
from torch.optim import Optimizer
from torch.utils.data import DataLoader

from mmssl_kd.cli import (
    check_config_keys,
    read_config_text,
    resolve_vis_backends,
)
from mmssl_kd.compat import load_checkpoint_file
from mmssl_kd.datasets import (
    DeviceDataLoader,
    DeviceImageDataset,
    build_device_dataloader,
    is_device_dataset,
)
from mmssl_kd.models.algorithms import Distiller
from mmssl_kd.registry import DATA_SAMPLERS, DATASETS, MODEL_WRAPPERS, RUNNERS
from .loops import EpochBasedTrainLoop
from .speed import speed_up

SPEED_KEYS = ('channels_last', 'compile_backbones')
#: The processes and batch of a config name: ``8xb32`` in
#: ``..._8xb32-coslr-100e_in1k.py``.
NAME_BATCH = re.compile(r'(?<![0-9a-z])(\d+)xb(\d+)(?![0-9])')
#: Log messages that go to the log file only, not to the console: MMEngine's
#: environment block, config dump and hook table (hundreds of lines a run),
#: its per-parameter optimizer-constructor lines and deprecation notices of
#: its own internals.  Errors always reach the console.
FILE_ONLY = ('Config:\n', 'Hooks will be executed in the following order',
             'System environment:', 'paramwise_options -- ',
             'is skipped since its requires_grad=False',
             '"FileClient" will be deprecated',
             '"HardDiskBackend" is the alias of "LocalBackend"')


class FileOnlyFilter(logging.Filter):
    """Keep the :data:`FILE_ONLY` messages below ERROR off a console
    handler."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno >= logging.ERROR:
            return True
        message = record.getMessage()
        return not any(part in message for part in FILE_ONLY)


#: PyTorch's error for a BatchNorm layer that trains on one sample.
ONE_SAMPLE = 'Expected more than 1 value per channel when training'


def _length(obj) -> Optional[int]:
    try:
        return len(obj)
    except TypeError:  # None, or an iterable without a length
        return None


def batching(loader) -> Tuple[Optional[int], Optional[int], Optional[int],
                              bool]:
    """``(dataset size, samples per process per epoch, batch size per
    process, drop_last)`` of a ``DataLoader`` or a ``DeviceDataLoader``;
    None where unknown."""
    batches = getattr(loader, 'batch_sampler', None)
    sampler = getattr(batches, 'sampler', getattr(loader, 'sampler', None))
    return (_length(getattr(loader, 'dataset', None)), _length(sampler),
            getattr(batches, 'batch_size', loader.batch_size),
            getattr(batches, 'drop_last', loader.drop_last))


@RUNNERS.register_module()
class Runner(_MMEngineRunner):
    """MMEngine's ``Runner`` that applies the config's ::

        speed_cfg = dict(channels_last=False, compile_backbones=False)

    (:func:`mmssl_kd.engine.speed.speed_up`) to the model after building
    it and before wrapping it for distributed training, and that gives a
    dataloader config over a :class:`~mmssl_kd.datasets.DeviceImageDataset`
    a :class:`~mmssl_kd.datasets.DeviceDataLoader` (training and the kNN
    monitor).  ``train_cfg = dict(by_epoch=True, ...)`` trains with the
    project's :class:`~mmssl_kd.engine.loops.EpochBasedTrainLoop`, as the
    type name does.  Its checkpoints name their optimizers' types
    (``meta['optimizers']``), and a resume with another optimizer is
    refused before anything is loaded (:func:`optimizer_mismatch`).
    ``tools/train.py`` and ``tools/test.py`` use it;
    ``'mmengine.Runner'`` names the original.

    Once built, it refuses config keys that nothing would read
    (:func:`mmssl_kd.cli.check_config_keys`: hooks, dataloaders,
    ``env_cfg``).  Before the first iteration it refuses a train
    dataloader without a batch, and warns when the global batch is not the
    one the config was written for (:meth:`check_train_dataloader`).
    """

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        check_config_keys(self.cfg, type(self))
        self.logger.info('The config, the environment and the order of the '
                         f'hooks are in the log file: {self._log_file}')

    def build_logger(self, log_level='INFO', log_file=None, **kwargs):
        """MMEngine's logger, whose console leaves the :data:`FILE_ONLY`
        messages (config dump, hook table, ...) to the log file."""
        if log_file is None:
            log_file = osp.join(self._log_dir, f'{self.timestamp}.log')
        self._log_file = log_file
        logger = super().build_logger(log_level, log_file, **kwargs)
        for handler in logger.handlers:
            if not isinstance(handler, logging.FileHandler) and not any(
                    isinstance(f, FileOnlyFilter) for f in handler.filters):
                handler.addFilter(FileOnlyFilter())
        return logger

    @classmethod
    def from_cfg(cls, cfg) -> 'Runner':
        """MMEngine's, after a top-level ``vis_backends`` list is given to
        the visualizer (:func:`mmssl_kd.cli.resolve_vis_backends`)."""
        cfg = copy.deepcopy(cfg)
        resolve_vis_backends(cfg)
        return super().from_cfg(cfg)

    def setup_env(self, env_cfg: Dict) -> None:
        """MMEngine's, except that a distributed run on a machine without
        CUDA starts its process group itself, with gloo
        (:meth:`_init_cpu_process_group`): MMEngine's ``init_dist`` calls
        ``torch.cuda.set_device`` whatever the backend."""
        if self.distributed and not is_distributed() \
                and not torch.cuda.is_available():
            self._init_cpu_process_group(env_cfg.get('dist_cfg') or {})
        super().setup_env(env_cfg)

    def _init_cpu_process_group(self, dist_cfg: dict) -> None:
        """``init_process_group('gloo')`` from the launcher's environment
        (``RANK``, ``WORLD_SIZE``, ``MASTER_ADDR``, ``MASTER_PORT``), with
        ``env_cfg.dist_cfg``'s other settings; a ``backend`` other than
        gloo (the configs' nccl) is replaced, with a warning."""
        if self.launcher != 'pytorch':
            raise RuntimeError(
                f'launcher={self.launcher!r} on a machine without CUDA: '
                'MMEngine would call torch.cuda.set_device. Distributed '
                'training on CPUs goes through tools/dist_train.sh '
                '(torchrun, launcher pytorch); or train in one process '
                '(tools/train.py).')
        dist_cfg = dict(dist_cfg)
        backend = dist_cfg.pop('backend', 'nccl')
        if dist_cfg.pop('init_backend', 'torch') != 'torch':
            raise RuntimeError('env_cfg.dist_cfg.init_backend must be '
                               "'torch' on a machine without CUDA")
        if backend != 'gloo':
            print_log(f'No CUDA: the processes communicate with gloo, not '
                      f'{backend} (env_cfg.dist_cfg.backend).',
                      logger='current', level=logging.WARNING)
        if dist_cfg.get('timeout') is not None:  # seconds, as MMEngine's
            dist_cfg['timeout'] = datetime.timedelta(
                seconds=dist_cfg['timeout'])
        torch.distributed.init_process_group('gloo', **dist_cfg)

    def wrap_model(self, model_wrapper_cfg: Optional[Dict],
                   model: nn.Module) -> nn.Module:
        """MMEngine's, built from the scope's registry, with two changes.

        - A ``Distiller``'s default wrapper is :class:`DistillerDataParallel`
          (MMEngine's DDP step, then the distiller's EMA update).
        - Without CUDA the wrapper gets no ``device_ids`` (DDP accepts them
          only for a module on one GPU), and ``sync_bn`` (the MOKD and SDSSL
          recipes set it, as their official code) is left out with a
          warning: PyTorch's ``SyncBatchNorm`` runs on GPUs only.
        """
        if not self.distributed or is_model_wrapper(model):
            return super().wrap_model(model_wrapper_cfg, model)
        cfg = dict(model_wrapper_cfg or dict(
            broadcast_buffers=False,
            find_unused_parameters=self.cfg.get('find_unused_parameters',
                                                False)))
        cfg.setdefault('type', 'DistillerDataParallel' if isinstance(
            model, Distiller) else 'MMDistributedDataParallel')
        default_args = dict(module=model)
        sync_bn = self.cfg.get('sync_bn')
        if torch.cuda.is_available():
            model = model.to(get_device())
            if sync_bn is not None:
                model = convert_sync_batchnorm(model, sync_bn)
            default_args['module'] = model
            if issubclass(MODEL_WRAPPERS.get(cfg['type']),
                          DistributedDataParallel):
                default_args['device_ids'] = [int(os.environ['LOCAL_RANK'])]
        elif sync_bn is not None:
            print_log(f'No CUDA: sync_bn={sync_bn!r} is left out (PyTorch\'s '
                      'SyncBatchNorm runs on GPUs only); each process '
                      'normalises over its own batch.',
                      logger='current', level=logging.WARNING)
        return MODEL_WRAPPERS.build(cfg, default_args=default_args)

    def _speed_cfg(self) -> dict:
        options = dict(self.cfg.get('speed_cfg') or {})
        unknown = sorted(set(options) - set(SPEED_KEYS))
        if unknown:
            raise KeyError(f'speed_cfg has no key(s) {unknown}; its keys are '
                           f'{list(SPEED_KEYS)}')
        return options

    def build_model(self, model: Union[nn.Module, Dict]) -> nn.Module:
        return speed_up(super().build_model(model), **self._speed_cfg())

    def _init_model_weights(self) -> None:
        """Initialise in the default memory format: random initialisers
        fill a tensor in memory order, so channels-last weights would get
        other values from the same seed."""
        if not self._speed_cfg().get('channels_last'):
            return super()._init_model_weights()
        model = self.model.module if is_model_wrapper(self.model) \
            else self.model
        model.to(memory_format=torch.contiguous_format)
        super()._init_model_weights()
        model.to(memory_format=torch.channels_last)

    def train(self) -> nn.Module:
        """MMEngine's ``train``; a BatchNorm layer that trains on one
        sample gets the fix added to PyTorch's error."""
        try:
            return super().train()
        except ValueError as err:
            if ONE_SAMPLE in str(err):
                err.args = (f'{err}\n{self._one_sample_hint()}',
                            *err.args[1:])
            raise

    def build_train_loop(self, loop):
        """MMEngine's, with the project's epoch-based loop, then
        :meth:`check_train_dataloader`; a
        device-resident training set needs a data preprocessor that makes
        the views (its batches hold one image)."""
        if isinstance(loop, dict) and 'type' not in loop \
                and loop.get('by_epoch'):
            loop = {key: value for key, value in loop.items()
                    if key != 'by_epoch'}
            loop['type'] = EpochBasedTrainLoop
        loop = super().build_train_loop(loop)
        self.check_train_dataloader(loop.dataloader)
        self.build_hook_dataloaders()
        if isinstance(loop.dataloader, DeviceDataLoader):
            from mmssl_kd.models.data_preprocessors import GPUMultiViewAugment
            model = self.model.module if is_model_wrapper(self.model) \
                else self.model
            found = type(model.data_preprocessor).__name__
            if not isinstance(model.data_preprocessor, GPUMultiViewAugment):
                raise ValueError(
                    'train_dataloader reads a DeviceImageDataset, whose '
                    'batches hold one uint8 image per sample: the views '
                    "must be made on the device by the model's data "
                    f'preprocessor, but it is {found}. Set data_preprocessor'
                    "=dict(type='GPUMultiViewAugment', num_views=..., "
                    'transforms=[...]) with the recipe\'s view pipelines '
                    '(see the _device-data configs).')
        return loop

    def build_hook_dataloaders(self) -> None:
        """Build now the dataloaders that hooks read later (the kNN
        monitor's bank and queries: ``build_dataloaders(runner,
        train_dataset)``), so that a missing data folder stops the run
        before its first iteration, not after an epoch of training.
        ``train_dataset`` is the training dataloader's dataset config
        (None if it was given built), whose ``data_root`` the kNN datasets
        without one follow."""
        train = self._train_dataloader
        dataset = train.get('dataset') if isinstance(train, dict) else None
        for hook in self.hooks:
            if callable(getattr(hook, 'build_dataloaders', None)):
                hook.build_dataloaders(self, dataset)

    def check_train_dataloader(self, loader) -> None:
        """Refuse a train dataloader that gives no batch (MMEngine trained
        nothing, saved the untouched model as ``epoch_1.pth`` and exited
        with 0); warn when the global batch differs from the config's."""
        dataset, per_process, batch, drop_last = batching(loader)
        world = self.world_size
        sampler = getattr(getattr(loader, 'batch_sampler', None), 'sampler',
                          getattr(loader, 'sampler', None))
        if _length(loader) == 0 and not isinstance(sampler, InfiniteSampler):
            if dataset == 0:
                why = ('its dataset is empty. Check '
                       'train_dataloader.dataset (data_root, split, '
                       'subset_file, num_per_class).')
            elif None not in (per_process, batch) and per_process < batch:
                why = (f'its dataset has {dataset} samples; each of the '
                       f'{world} process(es) gets {per_process}, fewer than '
                       f'batch_size={batch} (a batch per process), and '
                       'drop_last=True drops that short batch. Lower '
                       f'train_dataloader.batch_size to at most '
                       f'{per_process}, set train_dataloader.drop_last='
                       'False, or use more data (or fewer processes).')
            else:
                why = (f'len(train_dataloader) is 0 (dataset {dataset}, '
                       f'batch_size {batch}, {world} process(es), '
                       f'drop_last={drop_last}).')
            raise ValueError('train_dataloader gives no batch, so the run '
                             f'would train nothing: {why}')
        if batch:
            self._warn_global_batch(batch * world, batch)

    def _warn_global_batch(self, actual: int, batch: int) -> None:
        """Warn when the global batch is not the one the config was written
        for (``auto_scale_lr.base_batch_size``, else the ``Nxb`` of its
        name) and the learning rate is not scaled to it."""
        scale = self.auto_scale_lr or {}
        if scale.get('enable'):
            return  # --auto-scale-lr: MMEngine logs the scaled rate
        name = NAME_BATCH.search(osp.basename(self.cfg.filename or ''))
        base = scale.get('base_batch_size')
        meant = base or (int(name[1]) * int(name[2]) if name else None)
        if not meant or actual == meant:
            return
        written = ' and '.join(
            ([f'{name[1]} process(es) x {name[2]} ({name[0]} in its name)']
             if name else []) +
            ([f'a global batch of {base} (auto_scale_lr.base_batch_size)']
             if base else []))
        fix = ('pass --auto-scale-lr to scale it by '
               f'{actual}/{meant}' if base else
               f'set auto_scale_lr = dict(base_batch_size={meant}) and pass '
               f'--auto-scale-lr to scale it by {actual}/{meant}')
        self.logger.warning(
            f'The global batch is {actual} ({batch} per process x '
            f'{self.world_size} process(es)), but the config was written '
            f'for {written}. The learning rate is the config\'s, tuned for '
            f'{meant}: {fix}, or run with a global batch of {meant}.')

    def _one_sample_hint(self) -> str:
        """What to change when a BatchNorm layer got one sample."""
        dataset, per_process, batch, drop_last = batching(
            self.train_loop.dataloader)
        short = (per_process % batch if None not in (per_process, batch)
                 and not drop_last else 0)
        last = (f"; with drop_last=False the epoch's last batch holds "
                f'{per_process} % {batch} = 1 sample' if short == 1 else '')
        return ('A BatchNorm layer in training mode got one sample, and it '
                'needs at least 2 per process. The train dataloader gives '
                f'batch_size={batch} per process x {self.world_size} '
                f'process(es){last}. Set train_dataloader.batch_size to 2 '
                'or more' + (', or train_dataloader.drop_last=True'
                             if short == 1 else '') + '.')

    def save_checkpoint(self, out_dir: str, filename: str,
                        file_client_args: Optional[dict] = None,
                        save_optimizer: bool = True,
                        save_param_scheduler: bool = True,
                        meta: Optional[dict] = None, by_epoch: bool = True,
                        backend_args: Optional[dict] = None) -> None:
        """MMEngine's, with ``meta['optimizers']``: the optimizers' types
        by part (``''`` for a single optimizer).  Its signature is
        MMEngine's, spelled out: :func:`mmssl_kd.cli.check_config_keys`
        reads it to refuse a ``CheckpointHook`` key that nothing takes."""
        if isinstance(self.optim_wrapper, OptimWrapper):  # built
            meta = dict(meta or {}, optimizers={
                part: type(optimizer).__name__ for part, optimizer
                in optimizers(self.optim_wrapper).items()})
        super().save_checkpoint(
            out_dir, filename, file_client_args=file_client_args,
            save_optimizer=save_optimizer,
            save_param_scheduler=save_param_scheduler, meta=meta,
            by_epoch=by_epoch, backend_args=backend_args)

    def resume(self, filename: str, resume_optimizer: bool = True,
               *args, **kwargs) -> None:
        """MMEngine's, after checking that the checkpoint's run had this
        config's length (:func:`schedule_change`; the config key
        ``allow_schedule_change = True`` extends a run on purpose) and that
        its optimizer state fits this config's optimizers
        (:func:`optimizer_mismatch`)."""
        # mapped, not read: MMEngine reads the file next
        checkpoint = load_checkpoint_file(filename, 'cpu', mmap=True)
        changed = schedule_change(checkpoint, self.cfg)
        if changed and not self.cfg.get('allow_schedule_change'):
            raise ValueError(
                f'Cannot resume from {filename!r}: its run had {changed}. '
                'The schedules (learning rate, weight decay, momentum, '
                'temperatures) follow the run length, so the resumed run '
                'would follow neither. Resume with the length it was '
                'written with, or, to extend the run on purpose, pass '
                '--cfg-options allow_schedule_change=True.')
        if resume_optimizer and isinstance(self.optim_wrapper, OptimWrapper):
            problem = optimizer_mismatch(checkpoint, self.optim_wrapper)
            if problem:
                raise ValueError(
                    f'Cannot resume from {filename!r}: {problem}. Its '
                    'optimizer state (steps, moments, group settings) '
                    'belongs to that optimizer. Resume with the config that '
                    "wrote it (its text is in the checkpoint's "
                    "meta['cfg']), or start a new run from its weights: "
                    'drop --resume and set `load_from` (--cfg-options '
                    'load_from=PATH).')
        super().resume(filename, resume_optimizer, *args, **kwargs)

    @staticmethod
    def build_dataloader(dataloader: Union[DataLoader, Dict],
                         seed: Optional[int] = None,
                         diff_rank_seed: bool = False):
        """MMEngine's, except for a device-resident dataset: its sampler
        is built as MMEngine builds one (``num_batch_per_epoch`` too), and
        the batches are cut on the device
        (:func:`~mmssl_kd.datasets.build_device_dataloader`)."""
        dataset_cfg = dataloader.get('dataset') \
            if isinstance(dataloader, dict) else None
        if not is_device_dataset(dataset_cfg):
            return _MMEngineRunner.build_dataloader(dataloader, seed,
                                                    diff_rank_seed)
        cfg = copy.deepcopy(dataloader)
        batches = cfg.pop('num_batch_per_epoch', None)
        dataset = dataset_cfg if isinstance(dataset_cfg, DeviceImageDataset) \
            else DATASETS.build(cfg['dataset'])
        if batches is not None:  # the first samples, as MMEngine's
            dataset = _SlicedDataset(dataset, batches * cfg.get(
                'batch_size', 1) * get_world_size())
        sampler = DATA_SAMPLERS.build(
            cfg['sampler'], default_args=dict(
                dataset=dataset, seed=None if diff_rank_seed else seed))
        return build_device_dataloader(cfg, dataset, sampler)



def schedule_change(checkpoint: dict, cfg: Config) -> Optional[str]:
    """``'max_epochs=1, this config max_epochs=2'`` when the ``train_cfg``
    in the checkpoint's config text (``meta['cfg']``, read without running
    it: :func:`mmssl_kd.cli.read_config_text`) has another ``max_epochs``
    or ``max_iters`` than ``cfg``; None if the same, or if the checkpoint
    holds no such config."""
    text = (checkpoint.get('meta') or {}).get('cfg')
    saved = read_config_text(text).get('train_cfg') \
        if isinstance(text, str) else None
    if not isinstance(saved, dict):
        return None
    current = cfg.get('train_cfg') or {}
    keys = [key for key in ('max_epochs', 'max_iters')
            if key in saved and saved[key] != current.get(key)]
    if not keys:
        return None
    return (', '.join(f'{key}={saved[key]}' for key in keys) +
            ', this config ' +
            ', '.join(f'{key}={current.get(key)}' for key in keys))


def optimizers(wrapper: OptimWrapper) -> Dict[str, Optimizer]:
    """The optimizers of a built wrapper by part (``''`` for one)."""
    if isinstance(wrapper, OptimWrapperDict):
        return {part: inner.optimizer for part, inner in wrapper.items()}
    return {'': wrapper.optimizer}


def _names(types: Dict[str, str]) -> str:
    return ', '.join(f'{part}: {kind}' if part else kind
                     for part, kind in sorted(types.items()))


def _parts(parts) -> str:
    return 'one optimizer' if list(parts) == [''] else \
        f'the parts {sorted(parts)}'


def _missing_settings(optimizer: Optimizer, saved: dict) -> List[str]:
    """The settings ``optimizer`` steps with (its defaults but the flags:
    booleans and None) that the saved state's first group lacks."""
    groups = saved.get('param_groups') or [{}]
    return [key for key, value in optimizer.defaults.items()
            if not isinstance(value, bool) and value is not None
            and key not in groups[0]]


def optimizer_mismatch(checkpoint: dict,
                       wrapper: OptimWrapper) -> Optional[str]:
    """Why ``checkpoint``'s optimizer state does not fit ``wrapper``'s
    optimizers, or None if it does (or holds none).

    Torch loads any state whose groups have the right sizes: another type's
    keeps its group settings (an AdamW state in Adam: AdamW's weight decay
    as Adam's) or fails in the first step (``KeyError: 'momentum'`` /
    ``'step'``).  The types compared are those the checkpoint names
    (``meta['optimizers']``, written by this Runner); for an older
    checkpoint, the settings the optimizer needs must be in the saved
    groups.
    """
    saved = checkpoint.get('optimizer')
    if saved is None:
        return None
    current = optimizers(wrapper)
    kinds = {part: type(optimizer).__name__
             for part, optimizer in current.items()}
    named = (checkpoint.get('meta') or {}).get('optimizers')
    if named:
        if named != kinds:
            return (f'its optimizer is {_names(named)}, this config\'s is '
                    f'{_names(kinds)}')
        return None
    if 'param_groups' in saved:  # one optimizer's state
        saved = {'': saved}
    if set(saved) != set(current):
        return (f'it holds the optimizer states of {_parts(saved)}, this '
                f'config has {_parts(current)}')
    for part, optimizer in current.items():
        missing = _missing_settings(optimizer, saved[part])
        if missing:
            where = f' of {part}' if part else ''
            return (f'its optimizer state{where} lacks the settings '
                    f'{missing} that this config\'s {kinds[part]} steps '
                    'with: it was written by another optimizer type')
    return None
