"""Small helpers every algorithm uses to build and reach its modules."""
import contextlib
from typing import Iterator, Union

import torch
import torch.nn as nn
from mmengine.model import BaseAveragedModel, is_model_wrapper


def bare(module: nn.Module) -> nn.Module:
    """``module`` without its model wrapper (DDP, MMEngine's wrappers)."""
    return module.module if is_model_wrapper(module) else module


def averaged(module: nn.Module) -> nn.Module:
    """The network an EMA wrapper (``BaseAveragedModel``) averages, else
    ``module`` itself."""
    return module.module if isinstance(module, BaseAveragedModel) else module


@contextlib.contextmanager
def paired_init() -> Iterator[None]:
    """Build modules from a copy of the random state: the modules built
    before and after start as they do without these, so an ablation that
    adds or drops them is a paired comparison under one seed."""
    with torch.random.fork_rng(devices=[]):
        yield


def build(cfg: Union[dict, nn.Module]) -> nn.Module:
    """A module from its config (``MODELS``), or the module itself."""
    from mmssl_kd.registry import MODELS
    return cfg if isinstance(cfg, nn.Module) else MODELS.build(cfg)
