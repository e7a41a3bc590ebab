"""Speed switches applied to a built model: channels-last memory format and
``torch.compile`` of the backbones.

Both change how the networks run, not what they compute (up to float
rounding).  The Runner applies them from the config's ``speed_cfg`` right
after building the model and before wrapping it for DDP (DDP lays out its
gradient buckets in the parameters' memory format); the benchmark tool
applies them from its ``--channels-last`` / ``--compile`` switches.
"""
from typing import Union

import torch
import torch.nn as nn

from mmssl_kd.analysis import find_parts

CompileCfg = Union[bool, dict]


def speed_up(model: nn.Module, channels_last: bool = False,
             compile_backbones: CompileCfg = False) -> nn.Module:
    """Apply the switches to ``model`` in place and return it.

    Args:
        channels_last: store every 4-d weight (convolutions) as NHWC, so
            each convolution and its activations run channels-last (the
            input is converted by the first convolution).  Faster for CNNs
            on CPUs (oneDNN) and on GPUs with mixed precision; a ViT only has
            its patch embedding affected.
        compile_backbones: ``torch.compile`` every backbone the model holds
            (student, frozen or EMA teacher, peer), not the whole training
            step: losses, queues and all-gathers stay eager.  True, or a
            dict of ``torch.compile`` arguments (e.g. ``dict(mode=
            'max-autotune')``).  The first iterations compile (tens of
            seconds to minutes).
    """
    if channels_last:
        model.to(memory_format=torch.channels_last)
    if compile_backbones:
        options = {} if compile_backbones is True else dict(compile_backbones)
        for part in find_parts(model):
            part.backbone.compile(**options)
    return model
