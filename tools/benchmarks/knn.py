"""Weighted kNN accuracy of a checkpoint (DINO's ``eval_knn`` protocol).

    python tools/benchmarks/knn.py CONFIG CHECKPOINT [--ks 10 20 200]
        [--temperature 0.07] [--part peer] [--blocks 1 2 3]
        [--allow-missing] [--cfg-options ...] [--work-dir DIR]

The bank and query dataloaders (and the default ``ks`` and temperature) are
those of the ``KNNHook`` in the config's ``custom_hooks``, on the training
data root where they name none.  CHECKPOINT may
be ``random`` to evaluate the network at initialisation; a checkpoint
whose keys are not those of the config's model stops the tool (naming
them) unless ``--allow-missing``.  The last line
printed is ``kNN top-1 (k=20): XX.XX``; with ``--blocks 1 2 ...`` (SDSSL's
early exits) every block gets a table and the last line lists them.
"""
import argparse
import json
import os
import os.path as osp
from typing import Dict, List, Optional

import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmengine.runner import Runner

import mmssl_kd  # noqa: F401  (registries, safe checkpoint loader)
from mmssl_kd.cli import (
    add_allow_missing_argument,
    add_config_arguments,
    load_config,
    load_model,
)
from mmssl_kd.engine.hooks import KNNHook
from mmssl_kd.evaluation import knn_evaluate, part_model
from mmssl_kd.registry import HOOKS


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Weighted kNN accuracy of a self-supervised model')
    parser.add_argument('config', help='config file with a KNNHook')
    parser.add_argument('checkpoint',
                        help="checkpoint file, or 'random' for the "
                        'network at initialisation')
    parser.add_argument('--ks', type=int, nargs='+',
                        help="numbers of neighbours (default: the KNNHook's)")
    parser.add_argument('--temperature', type=float,
                        help="vote temperature (default: the KNNHook's)")
    parser.add_argument(
        '--part', default='backbone',
        help="sub-model whose backbone gives the features: 'backbone' (the "
        "trained model, default) or a sub-model with a backbone, such as "
        "'teacher' (SEED) or 'peer' (DoGo)")
    parser.add_argument(
        '--blocks', type=int, nargs='+',
        help='evaluate these blocks (from 1) of a backbone that returns '
        'every block, e.g. SDSSL\'s MultiLayerCLSViT: 1 2 ... 12')
    parser.add_argument('--work-dir',
                        help='write knn_results.json into this folder')
    add_allow_missing_argument(parser)
    add_config_arguments(parser)
    return parser.parse_args(argv)


def knn_hook(cfg: Config, config_path: str) -> KNNHook:
    """The ``KNNHook`` of ``cfg.custom_hooks``, built."""
    for hook in cfg.get('custom_hooks') or []:
        if hook.get('type') in ('KNNHook', 'mmssl_kd.KNNHook'):
            return HOOKS.build(hook)
    raise ValueError(
        f'{config_path} has no KNNHook in custom_hooks; tools/benchmarks/'
        'knn.py takes its bank_dataloader, query_dataloader, ks and '
        'temperature from there.')


def closest_k(ks: List[int], target: int = 20) -> int:
    """The k reported on the last line: 20 (DINO's choice) or the closest."""
    return min(ks, key=lambda k: (abs(k - target), k))


def main(argv: Optional[List[str]] = None) -> Dict[str, float]:
    args = parse_args(argv)
    cfg = load_config(args.config, args.cfg_options,
                      trusted=args.trust_checkpoint)
    init_default_scope(cfg.get('default_scope', 'mmssl_kd'))
    hook = knn_hook(cfg, args.config)
    ks = args.ks or list(hook.ks)
    temperature = (args.temperature if args.temperature is not None else
                   hook.temperature)

    model = load_model(cfg, args.checkpoint, args.allow_missing)
    model.to('cuda' if torch.cuda.is_available() else 'cpu')
    loaders = [Runner.build_dataloader(loader) for loader in
               hook.dataloader_cfgs(cfg.train_dataloader.get('dataset'))]
    print(f'kNN, T={temperature}, {args.checkpoint}, {args.part}')
    results = knn_evaluate(part_model(model, args.part), *loaders, ks=ks,
                           temperature=temperature, blocks=args.blocks)
    for block in args.blocks or [None]:
        prefix = '' if block is None else f'block{block}/'
        print_table({key[len(prefix):]: value for key, value in
                     results.items() if key.startswith(prefix)}, ks,
                    None if block is None else f'block {block}')
    if args.work_dir:
        os.makedirs(args.work_dir, exist_ok=True)
        with open(osp.join(args.work_dir, 'knn_results.json'), 'w') as f:
            json.dump(dict(config=args.config, checkpoint=args.checkpoint,
                           part=args.part, blocks=args.blocks,
                           temperature=temperature, ks=ks, results=results),
                      f, indent=2)
    k = closest_k(ks)
    if args.blocks:
        print(f'kNN top-1 (k={k}) per block: ' + '  '.join(
            f"{b}: {results[f'block{b}/top1_k{k}']:.2f}"
            for b in args.blocks))
    else:
        print(f"kNN top-1 (k={k}): {results[f'top1_k{k}']:.2f}")
    return results


def print_table(results: Dict[str, float], ks: List[int],
                title: Optional[str]) -> None:
    """One row per k: top-1 (and top-5 where there are 5+ classes)."""
    top5 = any(key.startswith('top5') for key in results)
    if title:
        print(title)
    print(f"{'k':>6}  {'top-1':>7}" + (f"  {'top-5':>7}" if top5 else ''))
    for k in ks:
        row = f"{k:>6}  {results[f'top1_k{k}']:>7.2f}"
        print(row + (f"  {results[f'top5_k{k}']:>7.2f}" if top5 else ''))


if __name__ == '__main__':
    main()
