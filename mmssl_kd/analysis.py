"""Sizes and FLOPs of an algorithm's parts (student, teachers, peers).

Shared by ``tools/analysis_tools/get_flops.py`` (parameters and forward
FLOPs per part) and ``tools/analysis_tools/benchmark_train.py`` (training
FLOPs per image).  The parts are the networks the model declares
(:func:`find_parts`).  FLOPs are counted by
``mmengine.analysis.FlopAnalyzer`` (fvcore's counter, on a jit trace): one
multiply-add is one FLOP; element-wise operations are not counted, and
PyTorch's fused attention gets the FLOPs of its two matrix products
(:func:`attention_flop_jit`).
"""
import copy
import math
from collections import Counter
from typing import Any, Callable, Dict, List, NamedTuple, Optional, Tuple

import torch
from mmengine.analysis import FlopAnalyzer
from mmengine.analysis.jit_handles import get_shape
from torch import nn

from mmssl_kd.models.algorithms import declared_nets
from mmssl_kd.models.utils import to_vector

#: Ways to feed the backbone's output to the neck, tried in this order:
#: as it is, and its final vector (a pooled map, a ViT's [CLS] token).
NECK_INPUTS: Tuple[Callable[[Any], Any], ...] = (
    lambda out: out, lambda out: (to_vector(out), ))


def attention_flop_jit(inputs: List[Any], outputs: List[Any]) -> int:
    """FLOPs of ``aten::scaled_dot_product_attention`` (MMPretrain's ViT
    attention in PyTorch 2): its two matrix products, ``q k^T`` and
    ``attn v``, as fvcore counts them when written out (softmax and scaling
    not counted)."""
    query, key, value = (get_shape(v) for v in inputs[:3])
    return math.prod(query[:-1]) * key[-2] * (query[-1] + value[-1])


class Part(NamedTuple):
    """A sub-model: its backbone, neck and other modules with parameters."""
    name: str
    backbone: nn.Module
    neck: Optional[nn.Module]
    others: Dict[str, nn.Module]


class Row(NamedTuple):
    """One line of the table; ``flops`` None where not counted."""
    part: str
    module: str
    type: str
    params: int
    trainable: int
    flops: Optional[int]


def _with_params(module: nn.Module) -> bool:
    return next(module.parameters(), None) is not None


def find_parts(model: nn.Module) -> List[Part]:
    """The networks ``model`` declares (``Distiller.parts``, see
    :func:`~mmssl_kd.models.algorithms.declared_nets`), the student first
    and named ``'student'``; each with its heads that have parameters."""
    return [Part('student' if name == 'backbone' else name, net.backbone,
                 net.neck, {key: head for key, head in
                            (net.heads or {}).items()
                            if head is not None and _with_params(head)})
            for name, net in declared_nets(model).items()]


class Embedding(nn.Module):
    """``neck(adapt(backbone(x)))``, or ``backbone(x)`` without a neck: the
    forward whose FLOPs are counted, with children ``backbone`` and
    ``neck``."""

    def __init__(self, backbone: nn.Module, neck: Optional[nn.Module],
                 adapt: Callable[[Any], Any]):
        super().__init__()
        self.backbone, self.neck, self.adapt = backbone, neck, adapt

    def forward(self, x: torch.Tensor) -> Any:
        out = self.backbone(x)
        return out if self.neck is None else self.neck(self.adapt(out))


def neck_input(part: Part, images: torch.Tensor
               ) -> Optional[Callable[[Any], Any]]:
    """The first of :data:`NECK_INPUTS` on which the neck gives one
    ``(B, D)`` vector per image (its last output if several), else None."""
    with torch.no_grad():
        out = part.backbone(images)
        for adapt in NECK_INPUTS:
            try:
                result = part.neck(adapt(out))
            except (RuntimeError, ValueError, TypeError, AssertionError,
                    IndexError):
                continue
            if isinstance(result, (tuple, list)):
                result = result[-1]
            if torch.is_tensor(result) and result.dim() == 2 and \
                    len(result) == len(images):
                return adapt
    return None


def count_params(*modules: nn.Module) -> Tuple[int, int]:
    """(all, trainable) parameters of ``modules``, shared ones once."""
    params = {id(p): p for m in modules for p in m.parameters()}.values()
    return (sum(p.numel() for p in params),
            sum(p.numel() for p in params if p.requires_grad))


def part_rows(part: Part, shape: Tuple[int, int],
              unsupported: Counter) -> List[Row]:
    """The table rows of one part; adds its uncounted ops to
    ``unsupported``."""
    adapt = None
    if part.neck is not None:
        adapt = neck_input(part, torch.zeros(2, 3, *shape))
    counted = Embedding(part.backbone, part.neck if adapt else None, adapt)
    analyzer = FlopAnalyzer(counted, (torch.zeros(1, 3, *shape), ))
    analyzer.set_op_handle(
        'aten::scaled_dot_product_attention', attention_flop_jit)
    analyzer.unsupported_ops_warnings(False).uncalled_modules_warnings(
        False).tracer_warnings('none')
    flops = analyzer.by_module()
    unsupported.update(analyzer.unsupported_ops())

    def row(module: str, net: nn.Module, counted_flops: Optional[int]):
        type_name = (' + '.join(type(m).__name__ for m in net)
                     if isinstance(net, nn.Sequential) else
                     type(net).__name__)
        return Row(part.name, module, type_name, *count_params(net),
                   counted_flops)

    rows = [row('backbone', part.backbone, flops['backbone'])]
    if part.neck is not None:
        rows.append(row('neck', part.neck, flops['neck'] if adapt else None))
    rows += [row(name, module, None) for name, module in part.others.items()]
    modules = [part.backbone, *part.others.values()]
    if part.neck is not None:
        modules.append(part.neck)
    return rows + [Row(part.name, 'total', '', *count_params(*modules),
                       flops[''])]


def human(value: Optional[int]) -> str:
    """``1.23G``, ``45.68M``, ``7.89K``, ``12``; ``-`` for None."""
    if value is None:
        return '-'
    for unit, size in (('G', 1e9), ('M', 1e6), ('K', 1e3)):
        if abs(value) >= size:
            return f'{value / size:.2f}{unit}'
    return str(value)


class PartFlops(NamedTuple):
    """A part's share of one training image's FLOPs."""
    part: str
    forward: int  # forward FLOPs per image, all its views
    factor: int  # 3: trained (forward + backward), 1: forward only
    views: Tuple[Tuple[int, int, float], ...]  # (H, W, inputs per image)


def training_flops(model: nn.Module, data: dict,
                   unsupported: Optional[Counter] = None
                   ) -> List[PartFlops]:
    """The FLOPs that one training step spends per image, part by part.

    One loss forward of a CPU copy of ``model`` (eval mode, no gradient,
    at most two images of the batch ``data``) records the inputs each
    part's backbone gets: the views and their sizes (SEED: one view to the
    student and the teacher; DoGo: two per peer; DINO: two global and the
    local crops to the student, the global ones to the EMA teacher).  Each
    part's forward FLOPs per image is the sum over those inputs of
    :func:`part_rows`' total at their size, times the inputs per image.  A
    part with trainable parameters counts three times (forward, and a
    backward of about twice its cost), a frozen or EMA teacher once; the
    loss itself (similarity matrices, softmaxes) is not counted.

    Args:
        model: the algorithm (left unchanged).
        data: a batch from its dataloader (``inputs``, ``data_samples``).
        unsupported: gets the operations the counter left out.
    """
    views = data['inputs']
    views = views if isinstance(views, (list, tuple)) else [views]
    images = min(2, len(views[0]))
    samples = data.get('data_samples')
    data = dict(data, inputs=[view[:images].cpu() for view in views],
                data_samples=None if samples is None else samples[:images])
    data.pop('gt_label', None)
    counted = copy.deepcopy(model).cpu().eval()
    parts = find_parts(counted)
    shapes: Dict[str, Counter] = {part.name: Counter() for part in parts}
    hooks = [part.backbone.register_forward_pre_hook(
        lambda module, args, seen=shapes[part.name]: seen.update(
            {tuple(args[0].shape[-2:]): len(args[0]) / images}))
        for part in parts]
    try:
        with torch.no_grad():
            counted(**counted.data_preprocessor(data, True), mode='loss')
    finally:
        for hook in hooks:
            hook.remove()
    unsupported = Counter() if unsupported is None else unsupported
    result = []
    for part in parts:
        forward, trainable = 0, 0
        for shape, per_image in shapes[part.name].items():
            total = part_rows(part, shape, unsupported)[-1]
            forward += round(per_image * total.flops)
            trainable = total.trainable
        views = tuple((h, w, n) for (h, w), n in shapes[part.name].items())
        result.append(PartFlops(part.name, forward, 3 if trainable else 1,
                                views))
    return result
