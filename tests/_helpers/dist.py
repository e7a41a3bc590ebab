"""gloo process groups for the tests, meeting in a rendezvous file (a TCP
port picked by a test could be taken by another suite on the machine
before the group binds it).  Use them through the ``gloo`` fixture
(conftest.py)."""
import contextlib
from typing import Callable, Iterator

import torch.distributed as dist
import torch.multiprocessing as mp


@contextlib.contextmanager
def gloo_group(init_method: str, rank: int = 0,
               world_size: int = 1) -> Iterator[None]:
    """This process in a gloo group of ``world_size``, destroyed after."""
    dist.init_process_group('gloo', init_method=init_method, rank=rank,
                            world_size=world_size)
    try:
        yield
    finally:
        dist.destroy_process_group()


def _in_group(rank: int, fn: Callable, init_method: str, world_size: int,
              args: tuple) -> None:
    with gloo_group(init_method, rank, world_size):
        fn(rank, *args)


class Gloo:
    """gloo groups of one test, meeting in its file ``init_method``."""

    def __init__(self, init_method: str):
        self.init_method = init_method

    def spawn(self, fn: Callable, *args, world_size: int = 2) -> None:
        """``fn(rank, *args)`` in ``world_size`` spawned processes, each a
        rank of one gloo group (``fn`` a module-level function)."""
        mp.spawn(_in_group, args=(fn, self.init_method, world_size, args),
                 nprocs=world_size)

    def group(self):
        """``with gloo.group():`` this process as a gloo group of one."""
        return gloo_group(self.init_method)


def mean_over_ranks(*tensors):
    """The tensors averaged over the ranks in place, as DDP averages
    gradients (as they are without a process group)."""
    if dist.is_initialized():
        for tensor in tensors:
            dist.all_reduce(tensor)
            tensor /= dist.get_world_size()
    return tensors
