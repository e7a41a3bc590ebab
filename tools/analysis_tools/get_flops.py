"""Parameters and forward FLOPs per image of every sub-model of an algorithm.

    python tools/analysis_tools/get_flops.py CONFIG
        [--shape 32 | --shape 224 224] [--cfg-options ...]

The algorithm is built from CONFIG without any weights: every
``checkpoint`` in ``cfg.model`` (a ``FrozenTeacher`` loads its own when
built) is set to None and nothing is initialised from a file; the tool
says which files it left out (parameter counts and FLOPs do not depend on
the weights).  The parts are found from the model, not by algorithm name:

* ``student``: the algorithm's ``backbone`` and ``neck``, and its other
  children with parameters (heads, predictors, intermediate necks);
* every other child that is a backbone or holds one
  (:func:`mmssl_kd.evaluation.backbone_of`, EMA wrappers unwrapped): SEED's
  frozen ``teacher``, the EMA ``teacher`` of DINO, GLSD and MOKD, SDSSL's
  ``target``, DoGo's and MOKD's ``peer``, MOKD's ``peer_teacher``.

For each part the table gives one row per module and a total: the number of
parameters, of trainable ones (``requires_grad``), and the forward FLOPs of
one (1, 3, H, W) image in eval mode.  The backbone gets the image, the neck
the backbone's output, or, when that fails or does not give one vector per
image, the backbone's final vector (the last feature map average-pooled, a
ViT's [CLS] token: MOKD's and GLSD's DINO heads); other modules (heads,
predictors, T-Heads) run on other inputs and get parameters only.

FLOPs are counted by ``mmengine.analysis.FlopAnalyzer`` (fvcore's counter,
on a jit trace): one multiply-add is one FLOP.  Counted: convolutions,
matrix products (linear, matmul, mm, bmm, addmm, einsum, and the two of
PyTorch's fused ``scaled_dot_product_attention``, added here), batch,
group, layer and instance norms (a few FLOPs per element), adaptive average
pooling and upsampling.  Not counted (no handle, as in fvcore): element-wise
operations (additions, activations, softmax, scaling), max pooling, means,
the weight normalisation of the DINO heads' last layer; the tool lists the
operations it left out.

``--shape`` defaults to the first crop size (``RandomResizedCrop``,
``RandomCrop``, ``CenterCrop``) of the config's training pipeline (the
global crop of a multi-crop pipeline).
"""
import argparse
import math
import sys
from collections import Counter
from typing import Any, Callable, Dict, List, NamedTuple, Optional, Tuple

import torch
from mmengine.analysis import FlopAnalyzer
from mmengine.analysis.jit_handles import get_shape
from mmengine.config import Config
from mmengine.registry import init_default_scope
from torch import nn

import mmssl_kd  # noqa: F401  (registries)
from mmssl_kd.apis import add_config_arguments, build_model, load_config
from mmssl_kd.evaluation import backbone_of, unwrap_averaged
from mmssl_kd.evaluation.knn import _to_vector

#: Crop transforms (and their subclasses named after them, such as
#: ``RandomResizedCropWithBox``) and their size argument: (h, w), but (w, h)
#: for mmcv's ``CenterCrop``.
CROP_SIZES = {'RandomResizedCrop': 'scale', 'RandomCrop': 'crop_size',
              'CenterCrop': 'crop_size'}
#: Ways to feed the backbone's output to the neck, tried in this order:
#: as it is, and its final vector (a pooled map, a ViT's [CLS] token).
NECK_INPUTS: Tuple[Callable[[Any], Any], ...] = (
    lambda out: out, lambda out: (_to_vector(out), ))


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


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Parameters and FLOPs of the student, teachers and '
        'peers of an algorithm')
    parser.add_argument('config', help='algorithm config file')
    parser.add_argument('--shape', type=int, nargs='+', metavar='SIZE',
                        help='input size: S (square) or H W (default: the '
                        "training pipeline's crop size)")
    add_config_arguments(parser)
    args = parser.parse_args(argv)
    if args.shape is not None and len(args.shape) not in (1, 2):
        parser.error(f'--shape takes 1 or 2 sizes, got {args.shape}')
    return args


def crop_size(node: Any) -> Optional[Tuple[int, int]]:
    """(H, W) of the first crop transform in a config subtree."""
    if isinstance(node, dict):
        name = str(node.get('type', '')).split('.')[-1]
        crop = next((c for c in CROP_SIZES if name.startswith(c)), None)
        size = node.get(CROP_SIZES[crop]) if crop else None
        if isinstance(size, int):
            return size, size
        if size is not None:
            h, w = size[::-1] if crop == 'CenterCrop' else size
            return int(h), int(w)
        node = list(node.values())
    if isinstance(node, (list, tuple)):
        for item in node:
            found = crop_size(item)
            if found:
                return found
    return None


def input_shape(cfg: Config, shape: Optional[List[int]],
                config: str) -> Tuple[int, int]:
    """(H, W) from ``--shape``, else from the training pipeline."""
    if shape:
        return (shape[0], shape[-1])
    found = crop_size(cfg.get('train_dataloader'))
    if found is None:
        raise ValueError(
            f'found no {"/".join(CROP_SIZES)} in the train_dataloader of '
            f'{config}; give the input size: --shape H W')
    return found


def drop_checkpoints(node: Any, path: str = 'model') -> List[str]:
    """Set every ``checkpoint`` under ``node`` to None; ``'path=file'`` of
    each one dropped."""
    dropped = []
    if isinstance(node, dict):
        for key, value in node.items():
            if key == 'checkpoint' and isinstance(value, str):
                node[key] = None
                dropped.append(f'{path}.{key}={value}')
            else:
                dropped += drop_checkpoints(value, f'{path}.{key}')
    elif isinstance(node, (list, tuple)):
        for i, item in enumerate(node):
            dropped += drop_checkpoints(item, f'{path}[{i}]')
    return dropped


def _with_params(module: nn.Module) -> bool:
    return next(module.parameters(), None) is not None


def find_parts(model: nn.Module) -> List[Part]:
    """The student and every child of ``model`` that is or holds a
    backbone (see the module docstring)."""
    if not isinstance(getattr(model, 'backbone', None), nn.Module):
        raise ValueError(f'{type(model).__name__} has no `backbone`: '
                         'get_flops.py needs an algorithm with a student '
                         'backbone.')
    subs = {name: unwrap_averaged(child)
            for name, child in model.named_children()
            if name != 'backbone' and backbone_of(child) is not None}
    parts = [Part('student', model.backbone, getattr(model, 'neck', None),
                  {name: child for name, child in model.named_children()
                   if name not in ('backbone', 'neck', *subs)
                   and _with_params(child)})]
    for name, sub in subs.items():
        backbone = backbone_of(sub)
        if backbone is sub:
            parts.append(Part(name, sub, None, {}))
        elif isinstance(sub, nn.Sequential) and sub[0] is backbone:
            parts.append(Part(name, backbone, sub[1:] if len(sub) > 1
                              else None, {}))
        else:
            parts.append(Part(
                name, backbone, getattr(sub, 'neck', None),
                {n: c for n, c in sub.named_children()
                 if n not in ('backbone', 'neck') and _with_params(c)}))
    return parts


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


def format_table(rows: List[Row]) -> List[str]:
    """Aligned header and rows, a blank line between parts."""
    cells = [('part', 'module', 'type', 'params', 'trainable', 'FLOPs')]
    cells += [(r.part, r.module, r.type, human(r.params),
               human(r.trainable), human(r.flops)) for r in rows]
    widths = [max(len(c[i]) for c in cells) for i in range(6)]
    lines = []
    for i, cell in enumerate(cells):
        if i > 1 and cell[0] != cells[i - 1][0]:
            lines.append('')
        lines.append('  '.join(
            f'{c:<{w}}' if j < 3 else f'{c:>{w}}'
            for j, (c, w) in enumerate(zip(cell, widths))).rstrip())
    return lines


def main(argv: Optional[List[str]] = None) -> List[Row]:
    args = parse_args(argv)
    cfg = load_config(args.config, args.cfg_options,
                      trusted=args.trust_checkpoint)
    init_default_scope(cfg.get('default_scope', 'mmssl_kd'))
    dropped = drop_checkpoints(cfg.model)
    try:
        shape = input_shape(cfg, args.shape, args.config)
        model = build_model(cfg).eval()
        parts = find_parts(model)
    except ValueError as err:
        sys.exit(f'get_flops.py: {err}')
    unsupported: Counter = Counter()
    rows = [row for part in parts
            for row in part_rows(part, shape, unsupported)]
    total, trainable = count_params(model)
    rows.append(Row('all', 'total', type(model).__name__, total, trainable,
                    None))

    print(f'{type(model).__name__} of {args.config}: parameters and forward '
          f'FLOPs of one 3 x {shape[0]} x {shape[1]} image (eval mode; one '
          'multiply-add = 1 FLOP, fvcore/mmengine counting)')
    print('\n'.join(format_table(rows)))
    print('FLOPs: the backbone on the image, the neck on its output (or its '
          'final vector); "-": not run on the image, parameters only.')
    if unsupported:
        print('Operations not counted (no FLOP handle, as in fvcore): ' +
              ', '.join(sorted(unsupported)))
    if dropped:
        print('Built without weights (counts do not depend on them): ' +
              ', '.join(dropped))
    return rows


if __name__ == '__main__':
    main()
