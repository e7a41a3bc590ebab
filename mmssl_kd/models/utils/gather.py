"""All-gather across ranks, without and with gradient.

Both concatenate the per-rank tensors along dim 0 in rank order and assume
every rank holds the same number of rows (``drop_last=True``).  Without an
initialised ``torch.distributed`` process group they are the identity.
"""
from typing import Tuple

import torch
import torch.distributed as dist


def _world_and_rank() -> Tuple[int, int]:
    if dist.is_available() and dist.is_initialized():
        return dist.get_world_size(), dist.get_rank()
    return 1, 0


def _all_gather_cat(x: torch.Tensor, world: int) -> torch.Tensor:
    x = x.contiguous()
    parts = [torch.empty_like(x) for _ in range(world)]
    dist.all_gather(parts, x)
    return torch.cat(parts, dim=0)


@torch.no_grad()
def concat_all_gather(x: torch.Tensor) -> torch.Tensor:
    """Rows of ``x`` from every rank, in rank order, without gradient."""
    world, _ = _world_and_rank()
    if world == 1:
        return x.detach()
    return _all_gather_cat(x, world)


class _GatherWithGrad(torch.autograd.Function):
    """All-gather whose backward sums the gradient over ranks.

    Rank ``r``'s rows enter the loss of every rank, so the gradient they
    receive is the sum over ranks of each rank's gradient with respect to
    them: all-reduce (sum) the incoming gradient, then keep this rank's
    slice.  With data-parallel averaging of parameter gradients this gives
    the gradient of the mean of the per-rank losses, i.e. the gradient of
    the single-process loss on the whole batch.
    """

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:
        world, rank = _world_and_rank()
        ctx.rows, ctx.rank = x.shape[0], rank
        return _all_gather_cat(x, world)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        grad = grad.contiguous()
        dist.all_reduce(grad, op=dist.ReduceOp.SUM)
        start = ctx.rank * ctx.rows
        return grad[start:start + ctx.rows]


def gather_with_grad(x: torch.Tensor) -> torch.Tensor:
    """Rows of ``x`` from every rank, in rank order, differentiable.

    Unlike mmpretrain's ``GatherLayer`` (whose backward returns only the
    local slice), the backward sums the gradient over ranks first.
    """
    if _world_and_rank()[0] == 1:
        return x
    return _GatherWithGrad.apply(x)
