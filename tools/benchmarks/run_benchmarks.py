"""One command from a pre-training checkpoint to a table of benchmarks.

    python tools/benchmarks/run_benchmarks.py PRETRAIN_CONFIG CHECKPOINT
        --work-dir DIR [--part backbone] [--linear CONFIG]
        [--fine-tune CONFIG] [--semi CONFIG ...] [--epochs N] [--no-knn]
        [--cfg-options KEY=VALUE ...]

Steps, each a tool of its own that can be re-run alone (the commands are
printed):

1. weighted kNN of the part's features (``tools/benchmarks/knn.py``, with
   the ``KNNHook`` settings of PRETRAIN_CONFIG), unless ``--no-knn``;
2. the part's backbone exported to ``DIR/backbone.pth``
   (``tools/model_converters/extract_backbone.py``), and its keys checked
   against each benchmark's backbone: a mismatch is an error here, not a
   silently random-initialised probe;
3. each benchmark config (``configs/benchmarks/classification/``) written
   to ``DIR/<stage>/config.py`` with the exported backbone as its
   ``Pretrained`` weights, the pre-training config's input normalisation,
   ``--cfg-options`` and, with ``--epochs N``, a schedule shrunk to N
   epochs (every scheduler scaled and made iteration-based), then trained
   with ``tools/train.py``; the test split is evaluated once, after the
   last epoch;
4. a table of kNN top-1 and each stage's top-1 / top-5, also written to
   ``DIR/summary.json``.

DIR must be new or empty: nothing is overwritten.
"""
import argparse
import json
import os
import os.path as osp
import shlex
import subprocess
import sys
from typing import Dict, List, Optional, Tuple

import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope

import mmssl_kd  # noqa: F401  (registries, safe checkpoint loader)
from mmssl_kd.cli import ConfigOptionsAction, read_scalars
from mmssl_kd.compat import load_checkpoint_file
from mmssl_kd.registry import MODELS

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
TOOLS = osp.join(ROOT, 'tools')


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='kNN, linear probe, fine-tuning and semi-supervised '
        'fine-tuning of one pre-trained model, with a summary table')
    parser.add_argument('config', help='the pre-training config')
    parser.add_argument('checkpoint', help='a checkpoint of that config')
    parser.add_argument('--work-dir', required=True,
                        help='new or empty folder for every output')
    parser.add_argument(
        '--part', default='backbone',
        help="sub-model to evaluate: 'backbone' (the student, default), "
        "'peer', 'teacher', 'peer_teacher.module', ...")
    parser.add_argument('--linear', help='linear-probe config')
    parser.add_argument('--fine-tune', help='full fine-tuning config')
    parser.add_argument('--semi', nargs='+', default=[],
                        help='semi-supervised (subset) fine-tuning configs')
    parser.add_argument(
        '--epochs', type=int,
        help='shrink every benchmark schedule to this many epochs (a quick '
        'check; published numbers use the configs as they are)')
    parser.add_argument('--no-knn', action='store_true',
                        help='leave out the kNN step')
    parser.add_argument(
        '--cfg-options', nargs='+', action=ConfigOptionsAction, default={},
        help='settings for every benchmark config, e.g. '
        'train_dataloader.num_workers=2')
    args = parser.parse_args(argv)
    if not (args.linear or args.fine_tune or args.semi or not args.no_knn):
        parser.error('nothing to run: give --linear, --fine-tune or --semi, '
                     'or leave out --no-knn')
    if args.epochs is not None and args.epochs < 1:
        parser.error(f'--epochs must be at least 1, got {args.epochs}')
    return args


def run(cmd: List[str]) -> None:
    """Run a tool of this repository, echoing the command as one to paste
    into a shell (``python`` first, arguments quoted); stop on failure."""
    print('+ ' + shlex.join(['python'] + cmd), flush=True)
    done = subprocess.run([sys.executable] + cmd, cwd=os.getcwd())
    if done.returncode:
        raise SystemExit(f'{cmd[0]} failed (exit {done.returncode}); its log '
                         'is above')


def shorten_schedule(cfg: Config, epochs: int) -> None:
    """Scale ``train_cfg.max_epochs`` and every scheduler's epochs
    (``begin``, ``end``, ``T_max``, ``milestones``) to ``epochs``; the
    schedulers become iteration-based, so fractions of an epoch stay."""
    factor = epochs / cfg.train_cfg.max_epochs
    schedulers = cfg.param_scheduler
    for sched in schedulers if isinstance(schedulers, list) else [schedulers]:
        if not sched.get('by_epoch', True):
            raise ValueError(
                f'--epochs cannot shrink the iteration-based {sched.type} '
                'scheduler; shorten the config instead')
        for key in ('begin', 'end', 'T_max'):
            if key in sched:
                sched[key] = sched[key] * factor
        if 'milestones' in sched:
            sched.milestones = [m * factor for m in sched.milestones]
        sched.convert_to_iter_based = True
    cfg.train_cfg.max_epochs = epochs


def input_normalisation(pretrain: Config) -> Dict[str, object]:
    """``mean``, ``std`` and ``to_rgb`` of the pre-training config."""
    pre = pretrain.model.get('data_preprocessor') or \
        pretrain.get('data_preprocessor') or {}
    missing = [k for k in ('mean', 'std') if k not in pre]
    if missing:
        raise ValueError(f'the pre-training config sets no {missing} in its '
                         'data_preprocessor')
    return {k: pre[k] for k in ('mean', 'std', 'to_rgb') if k in pre}


def benchmark_config(path: str, backbone_file: str, pretrain: Config,
                     epochs: Optional[int], options: dict) -> Config:
    """The benchmark config at ``path``, set up for ``backbone_file``."""
    cfg = Config.fromfile(path)
    cfg.merge_from_dict(options)
    cfg.model.backbone.init_cfg = dict(type='Pretrained',
                                       checkpoint=osp.abspath(backbone_file))
    cfg.model.data_preprocessor.update(input_normalisation(pretrain))
    if epochs is not None:
        shorten_schedule(cfg, epochs)
    # evaluate once, after the last epoch; keep only the last checkpoint
    cfg.train_cfg.val_interval = cfg.train_cfg.max_epochs
    cfg.default_hooks.checkpoint.update(interval=cfg.train_cfg.max_epochs,
                                        max_keep_ckpts=1)
    return cfg


def check_backbone_keys(cfg: Config, state: Dict[str, torch.Tensor],
                        path: str) -> None:
    """Raise if the exported weights do not fit ``cfg``'s backbone."""
    own = MODELS.build(dict(cfg.model.backbone, init_cfg=None)).state_dict()
    missing = sorted(k for k in own if k not in state
                     and not k.endswith('num_batches_tracked'))
    unexpected = sorted(k for k in state if k not in own)
    shapes = sorted(k for k in state if k in own
                    and state[k].shape != own[k].shape)
    if missing or unexpected or shapes:
        raise ValueError(
            f'The exported backbone does not fit the backbone of {path} '
            f'({cfg.model.backbone.type}): missing {missing[:5]} '
            f'({len(missing)}), unexpected {unexpected[:5]} '
            f'({len(unexpected)}), other shapes {shapes[:5]}. Pick the '
            'benchmark config of the pre-trained architecture (or --part).')


def last_accuracy(work_dir: str) -> Tuple[float, float]:
    """Top-1 and top-5 of the last evaluation of a ``tools/train.py`` run."""
    evals = [r for r in read_scalars(work_dir) if 'accuracy/top1' in r]
    if not evals:
        raise RuntimeError(f'{work_dir}: the run logged no accuracy/top1')
    return evals[-1]['accuracy/top1'], evals[-1].get('accuracy/top5',
                                                     float('nan'))


def main(argv: Optional[List[str]] = None) -> Dict[str, Dict[str, float]]:
    args = parse_args(argv)
    work_dir = args.work_dir
    if osp.isdir(work_dir) and os.listdir(work_dir):
        raise SystemExit(f'--work-dir {work_dir} is not empty; give a new '
                         'folder (nothing is overwritten)')
    os.makedirs(work_dir, exist_ok=True)
    pretrain = Config.fromfile(args.config)
    init_default_scope('mmssl_kd')
    stages = ([('linear', args.linear)] if args.linear else []) + \
        ([('fine-tune', args.fine_tune)] if args.fine_tune else []) + \
        [(f'semi-{osp.splitext(osp.basename(p))[0].rsplit("-", 1)[-1]}', p)
         for p in args.semi]
    summary: Dict[str, Dict[str, float]] = {}

    if not args.no_knn:
        run([osp.join(TOOLS, 'benchmarks', 'knn.py'), args.config,
             args.checkpoint, '--part', args.part,
             '--work-dir', osp.join(work_dir, 'knn')])
        with open(osp.join(work_dir, 'knn', 'knn_results.json')) as f:
            results = json.load(f)['results']
        summary['kNN'] = {k: v for k, v in results.items()
                          if k.startswith('top1_k')}
    if stages:
        backbone_file = osp.join(work_dir, 'backbone.pth')
        run([osp.join(TOOLS, 'model_converters', 'extract_backbone.py'),
             args.checkpoint, backbone_file, '--part', args.part])
        state = load_checkpoint_file(backbone_file)['state_dict']
        configs = {name: benchmark_config(path, backbone_file, pretrain,
                                          args.epochs, args.cfg_options)
                   for name, path in stages}
        for (name, path) in stages:  # fail before any training
            check_backbone_keys(configs[name], state, path)
        for name, path in stages:
            stage_dir = osp.join(work_dir, name)
            os.makedirs(stage_dir)
            config_file = osp.join(stage_dir, 'config.py')
            configs[name].dump(config_file)
            run([osp.join(TOOLS, 'train.py'), config_file,
                 '--work-dir', stage_dir])
            top1, top5 = last_accuracy(stage_dir)
            summary[name] = {'top1': top1, 'top5': top5, 'config': path}

    print_summary(summary, args)
    with open(osp.join(work_dir, 'summary.json'), 'w') as f:
        json.dump(dict(config=args.config, checkpoint=args.checkpoint,
                       part=args.part, epochs=args.epochs, results=summary),
                  f, indent=2)
    return summary


def print_summary(summary: Dict[str, Dict[str, float]],
                  args: argparse.Namespace) -> None:
    """kNN top-1 for each k, then top-1 / top-5 per stage."""
    epochs = '' if args.epochs is None else \
        f", {args.epochs} epoch{'s' if args.epochs > 1 else ''} each"
    print(f'\n{args.checkpoint} ({args.part}{epochs})')
    print(f"{'benchmark':<14} {'top-1':>7} {'top-5':>7}")
    for key, value in summary.get('kNN', {}).items():
        print(f"{'kNN k=' + key[len('top1_k'):]:<14} {value:>7.2f}")
    for name, res in summary.items():
        if name != 'kNN':
            print(f"{name:<14} {res['top1']:>7.2f} {res['top5']:>7.2f}")


if __name__ == '__main__':
    main()
