"""Pull one sub-model's backbone out of an mmssl_kd checkpoint.

    python tools/model_converters/extract_backbone.py CKPT OUT [--part peer]
        [--layout timm] [--force] [--trust-checkpoint CKPT]

``--part backbone`` (default) is the trained model (the student, DoGo's
first peer); ``peer`` is DoGo's second peer, ``teacher`` SEED's frozen
teacher.  OUT gets ``{'state_dict', 'meta'}`` whose keys are the backbone's
own (``conv1.weight``, ...), so it loads into a bare backbone
(``init_cfg=dict(type='Pretrained', checkpoint=OUT)``) or into an
``ImageClassifier`` with ``prefix`` left out.  ``--layout timm`` or
``torchvision`` renames the keys for those libraries' ResNet and
VisionTransformer (:mod:`mmssl_kd.models.converters`).  Only tensors and
plain values are written: the file loads with
``torch.load(weights_only=True)``.
"""
import argparse
import os
import os.path as osp
from typing import Dict, List, Optional

import torch

from mmssl_kd.apis import add_trust_argument
from mmssl_kd.compat import load_checkpoint_file, trust_checkpoints
from mmssl_kd.models.converters import LAYOUTS, convert_backbone


def extract(state_dict: Dict[str, torch.Tensor],
            part: str = 'backbone') -> Dict[str, torch.Tensor]:
    """The tensors under ``<part>.backbone.`` (``backbone.`` for
    ``part='backbone'``), with that prefix removed.

    Raises:
        KeyError: no key has the prefix; the message lists the parts the
            checkpoint has.
    """
    prefix = 'backbone.' if part == 'backbone' else f'{part}.backbone.'
    out = {key[len(prefix):]: value for key, value in state_dict.items()
           if key.startswith(prefix)}
    if not out:
        parts = sorted({key.split('.backbone.')[0] for key in state_dict
                        if '.backbone.' in key})
        raise KeyError(
            f'no key starts with {prefix!r}; parts with a backbone in this '
            f"checkpoint: {['backbone'] + parts}")
    return out


def main(argv: Optional[List[str]] = None) -> None:
    parser = argparse.ArgumentParser(
        description="Write one sub-model's backbone weights of an mmssl_kd "
        'checkpoint as a backbone-only state dict.')
    parser.add_argument('checkpoint', help='mmssl_kd training checkpoint')
    parser.add_argument('out', help='the .pth file to write')
    parser.add_argument(
        '--part', default='backbone',
        help="'backbone' (the trained model, default), 'peer' (DoGo's "
        "second peer), 'teacher' (SEED), ...")
    parser.add_argument(
        '--layout', default='mmpretrain', choices=LAYOUTS,
        help='key names: MMPretrain (default), timm or torchvision '
        '(ResNet and ViT backbones)')
    parser.add_argument('--force', action='store_true',
                        help='overwrite OUT if it exists')
    add_trust_argument(parser)
    args = parser.parse_args(argv)
    if osp.exists(args.out) and not args.force:
        parser.error(f'{args.out} exists; pass --force to overwrite it')
    trust_checkpoints(args.trust_checkpoint)
    ckpt = load_checkpoint_file(args.checkpoint, map_location='cpu')
    state = ckpt.get('state_dict', ckpt)
    try:
        weights = convert_backbone(extract(state, args.part), args.layout)
    except (KeyError, ValueError) as err:
        parser.error(f'{args.checkpoint}: {err.args[0]}')
    meta = dict(source=osp.abspath(args.checkpoint), part=args.part,
                layout=args.layout)
    for key in ('epoch', 'iter'):
        if key in ckpt.get('meta', {}):
            meta[key] = ckpt['meta'][key]
    os.makedirs(osp.dirname(osp.abspath(args.out)), exist_ok=True)
    torch.save(dict(state_dict=weights, meta=meta), args.out)
    print(f'{args.checkpoint} [{args.part}] -> {args.out} '
          f'({len(weights)} tensors)')


if __name__ == '__main__':
    main()
