"""A FIFO memory of embeddings (MoCo's queue, SEED's instance queue)."""
import torch
import torch.nn as nn
import torch.nn.functional as F

from .gather import concat_all_gather


class FeatureQueue(nn.Module):
    """FIFO ring buffer of ``length`` embeddings of size ``dim``.

    Buffers (saved and restored with the model's state dict, moved with
    it): ``queue``, shape ``(length, dim)`` with one embedding per ROW
    (logits against it are ``z @ queue.T``), and ``ptr``, the 0-dim long
    index of the next row to overwrite.  Rows start as L2-normalised
    Gaussian vectors, as in MoCo and SEED.

    Unlike the official MoCo/SEED code, ``length`` need not be a multiple
    of the global batch: writes wrap around the end of the buffer.

    Args:
        dim: embedding size.
        length: number of embeddings kept (any positive integer).
    """

    def __init__(self, dim: int, length: int):
        super().__init__()
        if dim <= 0 or length <= 0:
            raise ValueError(f'FeatureQueue needs dim > 0 and length > 0, '
                             f'got dim={dim}, length={length}')
        self.dim = dim
        self.length = length
        self.register_buffer(
            'queue', F.normalize(torch.randn(length, dim), dim=1))
        self.register_buffer('ptr', torch.zeros((), dtype=torch.long))

    @torch.no_grad()
    def enqueue(self, keys: torch.Tensor) -> None:
        """Append ``keys`` (B, dim) from every rank (rank order), FIFO.

        The oldest rows are overwritten.  When more than ``length`` keys
        arrive at once, only the newest ``length`` are kept: the result is
        the same as writing the keys one by one.
        """
        if keys.dim() != 2 or keys.shape[1] != self.dim:
            raise ValueError(f'expected keys of shape (B, {self.dim}), got '
                             f'{tuple(keys.shape)}')
        keys = concat_all_gather(keys)
        num = keys.shape[0]
        kept = keys[-self.length:]
        # the write position stays on the device: no sync per step
        start = self.ptr + (num - kept.shape[0])
        rows = (start + torch.arange(kept.shape[0], device=keys.device)) \
            % self.length
        self.queue.index_copy_(0, rows, kept.to(self.queue.dtype))
        self.ptr.add_(num).remainder_(self.length)

    def extra_repr(self) -> str:
        return f'dim={self.dim}, length={self.length}'
