"""The DDP wrapper of the distillers: MMEngine's, then the distiller's
after-step work.

MMEngine's ``MMDistributedDataParallel.train_step`` runs the forward and the
optimizer step itself, without calling the model's ``train_step``; so the
work a :class:`~mmssl_kd.models.algorithms.Distiller` does after the
optimizer step (the EMA teachers' update, the schedule logs) would be
skipped under DDP.  The project's Runner wraps every distiller in this one
unless ``model_wrapper_cfg`` names another
(``MMSeparateDistributedDataParallel``, for DoGo and MOKD, calls the
model's ``train_step`` and needs nothing more).
"""
from typing import Dict, Union

import torch
from mmengine.model import MMDistributedDataParallel
from mmengine.optim import OptimWrapper

from mmssl_kd.registry import MODEL_WRAPPERS


@MODEL_WRAPPERS.register_module()
class DistillerDataParallel(MMDistributedDataParallel):
    """``MMDistributedDataParallel`` whose ``train_step`` ends with the
    distiller's ``end_step`` (EMA update after the optimizer step)."""

    def train_step(self, data: Union[dict, tuple, list],
                   optim_wrapper: OptimWrapper) -> Dict[str, torch.Tensor]:
        return self.module.end_step(super().train_step(data, optim_wrapper))
