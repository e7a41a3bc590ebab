"""Evaluate a checkpoint on the config's test set.

    python tools/test.py CONFIG CHECKPOINT [--out preds.pkl] ...

A checkpoint whose keys are not those of the config's model stops the tool
(naming them) unless ``--allow-missing``.  For several GPUs use
``tools/dist_test.sh``.  A self-supervised (pre-training) config has no
test set: evaluate its checkpoints with ``tools/benchmarks/knn.py`` or a
linear probe (``tools/benchmarks/run_benchmarks.py``).
"""
import argparse
import os
import os.path as osp

import mmssl_kd  # noqa: F401  (first: safe checkpoint loader, registries)

# isort: split
from mmengine.evaluator import DumpResults

from mmssl_kd.cli import (
    add_allow_missing_argument,
    add_config_arguments,
    checkpoint_state_dict,
    load_config,
)
from mmssl_kd.engine import Runner


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Test a checkpoint with mmssl_kd.',
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('config', help='config file')
    parser.add_argument('checkpoint', help='checkpoint file (.pth)')
    parser.add_argument(
        '--work-dir',
        help='folder for the log and metrics (default: the config\'s '
        '`work_dir`, else work_dirs/<config name>)')
    parser.add_argument(
        '--out', metavar='FILE.pkl',
        help='also save the raw predictions to this pickle file')
    add_allow_missing_argument(parser)
    add_config_arguments(parser)
    parser.add_argument(
        '--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'],
        default='none', help='job launcher; dist_test.sh sets it')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0,
                        help=argparse.SUPPRESS)
    args = parser.parse_args()
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    if not osp.isfile(args.checkpoint):
        parser.error(f'checkpoint {args.checkpoint!r} does not exist')
    if args.out is not None and not args.out.endswith(('.pkl', '.pickle')):
        parser.error('--out must end with .pkl or .pickle')
    return args


def main() -> None:
    args = parse_args()
    cfg = load_config(args.config, args.cfg_options, args.work_dir,
                      args.launcher, args.trust_checkpoint)
    missing = [key for key in ('test_dataloader', 'test_cfg',
                               'test_evaluator') if cfg.get(key) is None]
    if missing:  # MMEngine: 'self._test_loop should not be None'
        raise SystemExit(
            f'tools/test.py: {args.config} has no {", ".join(missing)}: it '
            'is a pre-training config, without a labelled test set. '
            'Evaluate its checkpoint with a weighted kNN:\n'
            f'  python tools/benchmarks/knn.py {args.config} '
            f'{args.checkpoint}\nor a linear probe: python '
            'tools/benchmarks/run_benchmarks.py --help (configs/benchmarks/'
            'classification/).')
    cfg.load_from = args.checkpoint
    cfg.resume = False

    runner = Runner.from_cfg(cfg)
    # MMEngine loads `load_from` with strict=False, whatever fits
    checkpoint_state_dict(runner.model, args.checkpoint, args.allow_missing,
                          mmap=True)
    if args.out is not None:
        runner.test_evaluator.metrics.append(
            DumpResults(out_file_path=args.out))
    metrics = runner.test()
    for name, value in metrics.items():
        print(f'{name}: {value}')


if __name__ == '__main__':
    main()
