"""Parameters and forward FLOPs per image of every sub-model of an algorithm.

    python tools/analysis_tools/get_flops.py CONFIG
        [--shape 32 | --shape 224 224] [--cfg-options ...]

The algorithm is built from CONFIG without any weights: every
``checkpoint`` in ``cfg.model`` (a ``FrozenTeacher`` loads its own when
built) is set to None and nothing is initialised from a file; the tool
says which files it left out (parameter counts and FLOPs do not depend on
the weights).  The parts are the networks the algorithm declares
(``Distiller.parts``; :func:`mmssl_kd.models.algorithms.declared_nets`):

* ``student``: the algorithm's ``backbone`` and ``neck``, and its other
  trained heads (predictors, intermediate necks, T-Heads);
* every other declared network: SEED's frozen ``teacher``, the EMA
  ``teacher`` of DINO, GLSD and MOKD, SDSSL's ``target``, DoGo's and MOKD's
  ``peer``, MOKD's ``peer_teacher``, the momentum networks of MoCo v3 and
  BYOL.

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
operations it left out. The counting lives in :mod:`mmssl_kd.analysis`
(shared with ``benchmark_train.py``).

``--shape`` defaults to the first crop size (``RandomResizedCrop``,
``RandomCrop``, ``CenterCrop``) of the config's training pipeline (the
global crop of a multi-crop pipeline).
"""
import argparse
import sys
from collections import Counter
from typing import Any, List, Optional, Tuple

from mmengine.config import Config
from mmengine.registry import init_default_scope

import mmssl_kd  # noqa: F401  (registries)
from mmssl_kd.analysis import Row, count_params, find_parts, human, part_rows
from mmssl_kd.cli import add_config_arguments, build_model, load_config

#: Crop transforms (and their subclasses named after them, such as
#: ``RandomResizedCropWithBox``) and their size argument: (h, w), but (w, h)
#: for mmcv's ``CenterCrop``.
CROP_SIZES = {'RandomResizedCrop': 'scale', 'RandomCrop': 'crop_size',
              'CenterCrop': 'crop_size'}


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
