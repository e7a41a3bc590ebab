"""MMPretrain's MoCo v3 head with fp32 logits."""
import torch
from mmpretrain.models.heads import MoCoV3Head as _MMPretrainMoCoV3Head

from mmssl_kd.registry import MODELS
from ..losses import moco_logits


@MODELS.register_module()
class MoCoV3Head(_MMPretrainMoCoV3Head):
    """MMPretrain's :class:`~mmpretrain.models.heads.MoCoV3Head` (same
    arguments, predictor and loss module), whose InfoNCE logits are fp32
    under mixed precision (:func:`~mmssl_kd.models.losses.moco_logits`);
    MMPretrain's take the autocast dtype.  ``'mmpretrain.MoCoV3Head'``
    names the original."""

    def loss(self, base_out: torch.Tensor,
             momentum_out: torch.Tensor) -> torch.Tensor:
        """``loss_module(q k_all^T / tau, own index)``, ``q`` the predictor's
        output of ``base_out``, ``k`` the momentum encoder's."""
        pred = self.predictor([base_out])[0]
        return self.loss_module(*moco_logits(pred, momentum_out,
                                             self.temperature))
