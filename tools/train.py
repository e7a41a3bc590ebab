"""Train a model from a config file.

    python tools/train.py CONFIG [--work-dir DIR] [--resume [PATH]] ...
    python tools/train.py CONFIG --smoke    # a few iterations, end to end

For several GPUs use ``tools/dist_train.sh``, on a Slurm cluster
``tools/slurm_train.sh``.
"""
import argparse
import os
import os.path as osp

import mmssl_kd  # noqa: F401  (first: safe checkpoint loader, registries)

# isort: split
import torch

from mmssl_kd.cli import (
    add_config_arguments,
    check_resume_checkpoint,
    config_error_hints,
    load_config,
    smoke_config,
)
from mmssl_kd.engine import Runner
from mmssl_kd.engine.hooks import find_resumable_checkpoint
from mmssl_kd.engine.work_dir import (
    WorkDirError,
    claim_work_dir,
    launcher_rank,
)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Train a model with mmssl_kd.',
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('config', help='config file')
    parser.add_argument(
        '--work-dir',
        help='folder for logs and checkpoints (default: the config\'s '
        '`work_dir`, else work_dirs/<config name>)')
    parser.add_argument(
        '--resume', nargs='?', const='auto', metavar='PATH',
        help='resume training: with no value or "auto", from the latest '
        'complete checkpoint in the work dir (a fresh start if it has none); '
        'else from the checkpoint PATH. Keep the '
        'same config (schedules depend on max_epochs) and write the option '
        'after CONFIG')
    parser.add_argument(
        '--overwrite-checkpoints', action='store_true',
        help='start a fresh run in a work dir that holds checkpoints of an '
        'earlier run, replacing them as this run saves its own (without it '
        'such a run stops; --resume continues the earlier run instead)')
    parser.add_argument(
        '--amp', nargs='?', const='bf16', choices=['bf16', 'fp16'],
        help='mixed precision: bf16 autocast (the default; CPUs and GPUs '
        'from Ampere on; no loss scaling), or fp16 with a dynamic loss '
        'scale (older GPUs). The losses keep fp32 logits either way. Write '
        'it after CONFIG')
    parser.add_argument(
        '--auto-scale-lr', action='store_true',
        help='scale the learning rate by total batch size / '
        '`auto_scale_lr.base_batch_size` from the config')
    parser.add_argument(
        '--smoke', action='store_true',
        help='a smoke run of the whole recipe: 2 iterations of batch 8 at '
        'most (the first images of the training set), one batch of the '
        'kNN bank and queries, one checkpoint, in work_dirs/<config>-smoke '
        '(replacing an earlier smoke run\'s checkpoints) unless --work-dir; '
        'prints what it changed. It applies after --cfg-options')
    add_config_arguments(parser)
    parser.add_argument(
        '--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'],
        default='none',
        help='job launcher; the dist_*.sh and slurm_*.sh scripts set it')
    # torch.distributed.launch passes --local_rank, newer tools --local-rank
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0,
                        help=argparse.SUPPRESS)
    args = parser.parse_args()
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    if args.resume not in (None, 'auto') and not osp.isfile(args.resume):
        parser.error(f'--resume: checkpoint {args.resume!r} does not exist. '
                     'Give an existing .pth file, or use --resume (or '
                     '--resume auto) to resume from the latest checkpoint '
                     'in the work dir.')
    return args


def main() -> None:
    args = parse_args()
    work_dir = args.work_dir
    if args.smoke and work_dir is None:  # a scratch folder of its own
        work_dir = osp.join('work_dirs', osp.splitext(
            osp.basename(args.config))[0] + '-smoke')
        args.overwrite_checkpoints = True
    cfg = load_config(args.config, args.cfg_options, work_dir,
                      args.launcher, args.trust_checkpoint)
    if args.smoke:
        changed = smoke_config(cfg)
        if launcher_rank(args.launcher) == 0:
            print(changed, flush=True)

    try:  # held until the run ends (the process exits)
        work_dir_lock = claim_work_dir(  # noqa: F841
            cfg.work_dir, args.resume is not None or bool(cfg.get('resume')),
            args.overwrite_checkpoints, args.launcher)
    except WorkDirError as err:
        raise SystemExit(f'tools/train.py: {err}')

    if args.resume == 'auto':
        # the newest *complete* checkpoint, not blindly the file that
        # last_checkpoint names (MMEngine's find_latest_checkpoint)
        cfg.load_from = find_resumable_checkpoint(cfg.work_dir)
        cfg.resume = cfg.load_from is not None  # else a fresh run
    elif args.resume is not None:
        cfg.resume = True
        cfg.load_from = args.resume

    if args.amp == 'bf16':
        cfg.optim_wrapper.type = 'BF16OptimWrapper'
    elif args.amp == 'fp16':
        if not torch.cuda.is_available():
            raise SystemExit('tools/train.py: --amp fp16 needs a GPU (fp16 '
                             'autocast with loss scaling); on a CPU use '
                             '--amp, which is bf16.')
        cfg.optim_wrapper.type = 'AmpOptimWrapper'
        cfg.optim_wrapper.setdefault('loss_scale', 'dynamic')

    if args.auto_scale_lr:
        if not cfg.get('auto_scale_lr', {}).get('base_batch_size'):
            raise ValueError(
                '--auto-scale-lr needs `auto_scale_lr = dict('
                'base_batch_size=N)` in the config: N is the total batch '
                'size the learning rate was tuned for.')
        cfg.auto_scale_lr.enable = True

    with config_error_hints():  # a misspelled key: the closest valid one
        runner = Runner.from_cfg(cfg)
        if cfg.get('resume') and cfg.get('load_from'):  # same model
            check_resume_checkpoint(runner.model, cfg.load_from)
        runner.train()


if __name__ == '__main__':
    main()
