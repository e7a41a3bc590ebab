"""MMEngine's Runner, with the model's speed switches (``speed_cfg``) and
device-resident datasets."""
import copy
from typing import Dict, Optional, Union

import torch
import torch.nn as nn
from mmengine.model import is_model_wrapper
from mmengine.runner import Runner as _MMEngineRunner
from torch.utils.data import DataLoader

from mmssl_kd.datasets import (DeviceDataLoader, DeviceImageDataset,
                               build_device_dataloader, is_device_dataset)
from mmssl_kd.registry import DATA_SAMPLERS, DATASETS, RUNNERS
from .loops import EpochBasedTrainLoop
from .speed import speed_up

SPEED_KEYS = ('channels_last', 'compile_backbones')


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
    type name does.  ``tools/train.py`` and ``tools/test.py`` use it;
    ``'mmengine.Runner'`` names the original.
    """

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

    def build_train_loop(self, loop):
        """MMEngine's, with the project's epoch-based loop; a
        device-resident training set needs a data preprocessor that makes
        the views (its batches hold one image)."""
        if isinstance(loop, dict) and 'type' not in loop \
                and loop.get('by_epoch'):
            loop = {key: value for key, value in loop.items()
                    if key != 'by_epoch'}
            loop['type'] = EpochBasedTrainLoop
        loop = super().build_train_loop(loop)
        if isinstance(loop.dataloader, DeviceDataLoader):
            from mmssl_kd.models.data_preprocessors import \
                GPUMultiViewAugment
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

    @staticmethod
    def build_dataloader(dataloader: Union[DataLoader, Dict],
                         seed: Optional[int] = None,
                         diff_rank_seed: bool = False):
        """MMEngine's, except for a device-resident dataset: its sampler
        is built as MMEngine builds one, and the batches are cut on the
        device (:func:`~mmssl_kd.datasets.build_device_dataloader`)."""
        dataset_cfg = dataloader.get('dataset') \
            if isinstance(dataloader, dict) else None
        if not is_device_dataset(dataset_cfg):
            return _MMEngineRunner.build_dataloader(dataloader, seed,
                                                    diff_rank_seed)
        cfg = copy.deepcopy(dataloader)
        dataset = dataset_cfg if isinstance(dataset_cfg, DeviceImageDataset) \
            else DATASETS.build(cfg['dataset'])
        sampler = DATA_SAMPLERS.build(
            cfg['sampler'], default_args=dict(
                dataset=dataset, seed=None if diff_rank_seed else seed))
        return build_device_dataloader(cfg, dataset, sampler)

