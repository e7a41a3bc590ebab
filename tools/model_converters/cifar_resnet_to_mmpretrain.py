"""Convert a CIFAR ResNet ``.th`` file into an MMEngine checkpoint.

    python tools/model_converters/cifar_resnet_to_mmpretrain.py SRC DST
        [--force] [--trust-checkpoint SRC]

SRC is a ``torch.save`` of ``{'state_dict', 'best_prec1'}`` with
DataParallel keys (``module.conv1.weight`` ... ``module.linear.bias``), as
in ``shared/weights/cifar10-resnet``.  DST gets ``{'state_dict', 'meta'}``
with the keys of MMPretrain's ``ImageClassifier`` (``backbone.*`` for
``CIFARResNet``, ``head.fc.*`` for ``LinearClsHead``), ready for
``tools/test.py`` with the configs in
``configs/benchmarks/classification/cifar10/``.  The file is read with the
project's safe loader; the BN ``num_batches_tracked`` counters it lacks are
written as 0 (eval-mode BN does not read them).
"""
import argparse
import os
import os.path as osp
from typing import Dict, List, Optional

import torch

from mmssl_kd.cli import add_trust_argument
from mmssl_kd.compat import load_checkpoint_file, trust_checkpoints
from mmssl_kd.models.backbones import CIFARResNet

CIFAR10_CLASSES = ('airplane', 'automobile', 'bird', 'cat', 'deer', 'dog',
                   'frog', 'horse', 'ship', 'truck')


def convert(src: dict, source_name: str = '') -> dict:
    """``.th`` content -> ``{'state_dict': ..., 'meta': ...}``.

    Raises ``KeyError`` if the keys are not those of a CIFAR ResNet.
    """
    state = src['state_dict']
    blocks = {k.split('.')[2] for k in state if k.startswith('module.layer1.')}
    depth = 6 * len(blocks) + 2
    if depth not in CIFARResNet.arch_settings:
        raise KeyError(f'{source_name}: {len(blocks)} blocks per stage is '
                       'not a CIFAR ResNet')
    backbone = CIFARResNet(depth=depth).state_dict()
    out: Dict[str, torch.Tensor] = {}
    for key, value in state.items():
        name = key.removeprefix('module.')
        if name.startswith('linear.'):
            out['head.fc.' + name.removeprefix('linear.')] = value
        elif name in backbone:
            out['backbone.' + name] = value
        else:
            raise KeyError(f'{source_name}: unexpected key {key!r}')
    for name, value in backbone.items():
        if name.endswith('num_batches_tracked'):
            out.setdefault('backbone.' + name, torch.zeros_like(value))
    missing = sorted({'backbone.' + n for n in backbone} - set(out))
    missing += [k for k in ('head.fc.weight', 'head.fc.bias') if k not in out]
    if missing:
        raise KeyError(f'{source_name}: {len(missing)} keys missing, e.g. '
                       f'{missing[:5]}')
    meta = dict(source=source_name, depth=depth,
                best_prec1=float(src.get('best_prec1', float('nan'))),
                dataset_meta=dict(classes=CIFAR10_CLASSES))
    return dict(state_dict=out, meta=meta)


def main(argv: Optional[List[str]] = None) -> None:
    parser = argparse.ArgumentParser(
        description='Convert a CIFAR ResNet .th file into an MMEngine '
        'checkpoint for MMPretrain\'s ImageClassifier.')
    parser.add_argument('src', help='the .th file')
    parser.add_argument('dst', help='the .pth file to write')
    parser.add_argument('--force', action='store_true',
                        help='overwrite DST if it exists')
    add_trust_argument(parser)
    args = parser.parse_args(argv)
    if osp.exists(args.dst) and not args.force:
        parser.error(f'{args.dst} exists; pass --force to overwrite it')
    trust_checkpoints(args.trust_checkpoint)
    ckpt = convert(load_checkpoint_file(args.src, map_location='cpu'),
                   osp.basename(args.src))
    os.makedirs(osp.dirname(osp.abspath(args.dst)), exist_ok=True)
    torch.save(ckpt, args.dst)
    print(f'{args.src} -> {args.dst} (CIFAR ResNet-{ckpt["meta"]["depth"]}, '
          f'{len(ckpt["state_dict"])} tensors)')


if __name__ == '__main__':
    main()
