"""The multi-view data preprocessor, moving only what the networks read.

MMPretrain's ``SelfSupDataPreprocessor`` sends the whole batch through
``cast_data``, data samples included: a ``.to(device)`` per sample, 1-2 ms
per step at batch 64 and a host-device copy per sample on a GPU, for
labels and crop boxes the algorithms read on the host.  This one moves the
views only (non-blocking, from pinned memory when the dataloader pins it)
and normalises them as MMPretrain's does.
"""
from typing import List, Optional, Sequence, Union

import torch
from mmpretrain.models.utils.data_preprocessor import (
    SelfSupDataPreprocessor as _MMPretrainSelfSupDataPreprocessor,
)

from mmssl_kd.registry import MODELS

Views = Union[torch.Tensor, List[torch.Tensor]]


@MODELS.register_module()
class SelfSupDataPreprocessor(_MMPretrainSelfSupDataPreprocessor):
    """MMPretrain's ``SelfSupDataPreprocessor`` (same arguments and output:
    ``{'inputs': views, 'data_samples': samples}``, each view (B, 3, H, W)
    float, normalised, RGB if ``to_rgb``), except that the data samples stay
    where the dataloader left them (on the host) and the copies to the device
    are non-blocking by default.  ``'mmpretrain.SelfSupDataPreprocessor'``
    names the original.

    Args:
        mean, std, to_rgb, bgr_to_rgb, rgb_to_bgr, pad_size_divisor,
        pad_value: as in MMPretrain.
        non_blocking: asynchronous host-to-device copies (default True;
            they overlap only with a dataloader that pins memory,
            ``train_dataloader.pin_memory=True``).
    """

    def __init__(self,
                 mean: Optional[Sequence[Union[float, int]]] = None,
                 std: Optional[Sequence[Union[float, int]]] = None,
                 pad_size_divisor: int = 1,
                 pad_value: Union[float, int] = 0,
                 to_rgb: bool = False,
                 bgr_to_rgb: bool = False,
                 rgb_to_bgr: bool = False,
                 non_blocking: bool = True):
        super().__init__(mean=mean, std=std,
                         pad_size_divisor=pad_size_divisor,
                         pad_value=pad_value, to_rgb=to_rgb,
                         bgr_to_rgb=bgr_to_rgb, rgb_to_bgr=rgb_to_bgr,
                         non_blocking=non_blocking)

    def normalize(self, view: torch.Tensor) -> torch.Tensor:
        """One (B, 3, H, W) uint8 view, on the device, to normalised float."""
        if self._channel_conversion:
            view = view[:, [2, 1, 0], ...]
        view = view.float()
        if self._enable_normalize:
            view = (view - self.mean) / self.std
        return view

    def forward(self, data: dict, training: bool = False) -> dict:
        """Views to the device and normalised; data samples untouched."""
        if not isinstance(data, dict) or 'inputs' not in data:
            raise TypeError('SelfSupDataPreprocessor takes a batch dict with '
                            "'inputs' (use collate_fn=dict(type="
                            "'default_collate') in the dataloader)")
        inputs: Views = self.cast_data(data['inputs'])
        if isinstance(inputs, (list, tuple)):
            inputs = [self.normalize(view) for view in inputs]
        else:
            inputs = self.normalize(inputs)
        return dict(inputs=inputs, data_samples=data.get('data_samples'))
