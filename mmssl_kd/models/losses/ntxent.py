"""NT-Xent, SimCLR's contrastive loss (Chen et al., ICML 2020, Eq. 1).

For ``2N`` L2-normalised embeddings (two views of ``N`` images) and the
positive pair ``(i, j)`` (the two views of one image),

    l(i, j) = -log exp(s_ij / tau) / sum_{k != i} exp(s_ik / tau)
    L = 1 / (2N) sum_i l(i, pos(i))

with ``s`` the cosine similarity.  DoGo (Bhat et al., 2021) uses it with
``tau = 0.5`` for each peer.
"""
import torch
import torch.nn as nn
import torch.nn.functional as F

from mmssl_kd.registry import MODELS
from ..utils import gather_with_grad


@MODELS.register_module()
class NTXentLoss(nn.Module):
    """NT-Xent over the batch gathered from every rank.

    Each rank scores its own ``2n`` rows against the ``2N`` gathered rows
    (:func:`gather_with_grad`, whose backward sums over ranks), so the
    mean over ranks of the loss and of its gradient is the single-process
    NT-Xent on the whole batch.  Logits are fp32 with autocast disabled.

    Args:
        temperature: tau (DoGo hard-codes 0.5).
    """

    def __init__(self, temperature: float = 0.5):
        super().__init__()
        self.temperature = temperature

    def forward(self, z1: torch.Tensor, z2: torch.Tensor) -> torch.Tensor:
        """Mean NT-Xent of the local rows.

        Args:
            z1: (n, D) embeddings of the first view (unnormalised).
            z2: (n, D) embeddings of the second view, row ``i`` the same
                image as row ``i`` of ``z1``.

        Returns:
            The scalar loss.
        """
        with torch.autocast(z1.device.type, enabled=False):
            z1 = F.normalize(z1.float(), dim=1)
            z2 = F.normalize(z2.float(), dim=1)
            k1, k2 = gather_with_grad(z1), gather_with_grad(z2)
            n, total = z1.shape[0], k1.shape[0]
            # this rank's first row in the gathered batch (equal shards)
            offset = n * (torch.distributed.get_rank()
                          if total != n else 0)
            queries = torch.cat([z1, z2])
            keys = torch.cat([k1, k2])
            logits = queries @ keys.t() / self.temperature
            local = offset + torch.arange(n, device=z1.device)
            self_idx = torch.cat([local, local + total])
            rows = torch.arange(2 * n, device=z1.device)
            logits[rows, self_idx] = float('-inf')
            positives = torch.cat([local + total, local])
            return F.cross_entropy(logits, positives)

    def extra_repr(self) -> str:
        return f'temperature={self.temperature}'
