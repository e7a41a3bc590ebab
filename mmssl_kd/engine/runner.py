"""MMEngine's Runner, with the model's speed switches (``speed_cfg``)."""
from typing import Dict, Union

import torch
import torch.nn as nn
from mmengine.model import is_model_wrapper
from mmengine.runner import Runner as _MMEngineRunner

from mmssl_kd.registry import RUNNERS
from .speed import speed_up

SPEED_KEYS = ('channels_last', 'compile_backbones')


@RUNNERS.register_module()
class Runner(_MMEngineRunner):
    """MMEngine's ``Runner`` that applies the config's ::

        speed_cfg = dict(channels_last=False, compile_backbones=False)

    (:func:`mmssl_kd.engine.speed.speed_up`) to the model after building
    it and before wrapping it for distributed training.  ``tools/train.py``
    and ``tools/test.py`` use it; ``'mmengine.Runner'`` names the original.
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
