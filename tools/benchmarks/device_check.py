"""One bounded command that shows what the toolbox does on this machine's
accelerator: speed, time to accuracy, and the user's launcher.

    bash tools/benchmarks/device_check.sh [--minutes 6] [--out DIR]
        [--compile] [--tiny]

Four checks, each in its own process with a share of the wall-clock
budget (``--minutes``, default 6; a check that overruns its share is
stopped, and the table says so):

* ``throughput`` (18 %): the training step at 224 px on synthetic images
  (``benchmark_train.py --synthetic``: random images through the recipe's
  pipeline, no dataset) of SEED ResNet-18 <- ResNet-50, DINO ViT-S/16 (2 x
  224 + 8 x 96, views made on the device), SDSSL (MoCo v3) ViT-S/16 and
  SEED + dense ResNet-18 <- DINOv2 ViT-B/14 (random weights where the file
  is absent), in fp32 and with ``--amp`` (bf16; ``--compile`` adds
  compiled backbones): images/s, peak memory, achieved TFLOP/s and their
  share of the dense bf16 peak, and the step's phases;
* ``tta-seed`` and ``tta-mocov3`` (30 % each): time to accuracy on CIFAR-10
  held on the device (the ``_device-data`` recipes, ``--amp``): SEED
  ResNet-18-CIFAR <- the supervised ResNet-56 teacher, and MoCo v3
  ResNet-18-CIFAR without one.  Each measures its step, sets the number of
  epochs that fits its training share (the recipe's schedule scaled to
  it), and logs the kNN top-1 (k=20, T=0.07; bank: the training images,
  queries: the test split) against training seconds (kNN time excluded);
* ``dist`` (14 %): two iterations of ``tools/dist_train.sh
  configs/sdssl/vit-s.py 1`` (torchrun, NCCL) on CIFAR-10 images, so the
  user's own command is seen to start on a GPU (on a machine without CUDA,
  ``tools/train.py`` in one process instead).

It prints one table (then the phases and the targets), and writes
``device_check.md``, ``device_check.json``, ``time_to_accuracy.png`` and
each check's log to ``--out``.  ``--tiny`` is the same command on a CPU in
about a minute: the CPU demo models at 32 px, a few iterations, a few
hundred images (the test suite runs it).
"""
import argparse
import copy
import gc
import json
import math
import os
import os.path as osp
import signal
import socket
import subprocess
import sys
import time
from typing import Dict, List, Optional

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
sys.path.insert(0, osp.join(REPO, 'tools', 'analysis_tools'))

#: (name, share of the budget) in the order they run.
CHECKS = (('throughput', 0.18), ('tta-seed', 0.30), ('tta-mocov3', 0.30),
          ('dist', 0.14))
#: throughput models: (label, config, batch size, synthetic image size)
THROUGHPUT = (
    ('SEED R18 <- R50', 'configs/seed/seed_resnet18_resnet50-mocov2_8xb32-'
     'coslr-200e_gpu-aug_in1k.py', 256, 256),
    ('DINO ViT-S/16 2x224+8x96', 'configs/global_local/dino_vit-small-p16_'
     '8xb32-coslr-300e_gpu-aug_in1k.py', 128, 256),
    ('SDSSL (MoCo v3) ViT-S/16', 'configs/sdssl/vit-s.py', 128, 256),
    ('SEED + dense R18 <- DINOv2 ViT-B/14', 'configs/foundation/'
     'densedistill-global-dense_resnet18_vit-base-p14-dinov2_8xb32-coslr-'
     '200e_in1k.py', 256, 256),
)
TINY_THROUGHPUT = (
    ('SEED R20 <- R56', 'configs/seed/seed_resnet20-cifar_resnet56-cifar-'
     'sup_1xb256-coslr-1e_device-data_cifar10-demo.py', 8, 32),
    ('DINO ViT-mini/4', 'configs/selfsup/dino_vit-mini-p4_1xb256-coslr-5e_'
     'cifar10-demo.py', 4, 32),
    ('SDSSL (MoCo v3) ViT-mini/4', 'configs/sdssl/sdssl-mocov3_vit-mini-p4_'
     '1xb256-coslr-5e_cifar10-demo.py', 4, 32),
    ('SEED + dense R20 <- R56', 'configs/foundation/densedistill-global-'
     'dense_resnet20-cifar_resnet56-cifar-sup_1xb256-coslr-1e_cifar10-'
     'demo.py', 8, 32),
)
#: time-to-accuracy runs: check -> (label, config)
TTA = {
    'tta-seed': ('SEED ResNet-18-CIFAR <- ResNet-56', 'configs/seed/seed_'
                 'resnet18-cifar_resnet56-cifar-sup_1xb256-coslr-200e_'
                 'device-data_cifar10.py'),
    'tta-mocov3': ('MoCo v3 ResNet-18-CIFAR', 'configs/selfsup/mocov3_'
                   'resnet18-cifar_1xb256-coslr-200e_device-data_'
                   'cifar10.py'),
}
#: --tiny: CIFAR ResNet-20 students, 160 training images, 80 queries
TINY_TTA_OPTIONS = {
    'tta-seed': dict(model=dict(
        backbone=dict(_delete_=True, type='CIFARResNet', depth=20),
        neck=dict(in_channels=64, hid_channels=64))),
    'tta-mocov3': dict(model=dict(
        backbone=dict(_delete_=True, type='CIFARResNet', depth=20),
        neck=dict(in_channels=64))),
}
#: --tiny: images per batch (the test's image folder has 8 per split)
TINY_BATCH = 4
DIST_CONFIG = 'configs/sdssl/vit-s.py'
TINY_DIST_CONFIG = ('configs/sdssl/sdssl-mocov3_vit-mini-p4_1xb256-coslr-'
                    '5e_cifar10-demo.py')
KNN_KEY = 'knn/top1_k20'
COLUMNS = ('check', 'setting', 'batch', 'images/s', 'peak GiB', 'TFLOP/s',
           '% bf16 peak', 'kNN top-1', 'epochs', 'seconds', 'status')


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Speed, time to accuracy and the launcher on this '
        "machine's accelerator, within a wall-clock budget",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--minutes', type=float, default=6.,
                        help='wall-clock budget for everything (default 6)')
    parser.add_argument('--out', help='output folder (default: '
                        'work_dirs/device_check_<time>)')
    parser.add_argument('--compile', action='store_true',
                        help='also time bf16 with compiled backbones')
    parser.add_argument('--tiny', action='store_true',
                        help='the CPU demo models, a few iterations and '
                        'images (a test of the command, not a measurement)')
    parser.add_argument('--data-root', default='data/cifar10',
                        help='the CIFAR-10 class folders (default '
                        'data/cifar10)')
    parser.add_argument('--checks', nargs='+', choices=[c for c, _ in CHECKS],
                        default=[c for c, _ in CHECKS],
                        help='run only these checks')
    parser.add_argument('--run-check', help=argparse.SUPPRESS)
    parser.add_argument('--budget', type=float, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.minutes <= 0:
        parser.error('--minutes must be > 0')
    return args


# --------------------------------------------------------------------------
# the driver


def main(argv: Optional[List[str]] = None) -> dict:
    args = parse_args(argv)
    if args.run_check:
        return run_check(args)
    start = time.monotonic()
    deadline = start + 60 * args.minutes
    out = args.out or osp.join(
        'work_dirs', time.strftime('device_check_%Y%m%d_%H%M%S'))
    os.makedirs(out, exist_ok=True)
    env = environment()
    print(f"device check: {env['device']}, torch {env['torch']}, budget "
          f'{args.minutes:g} min, output {out}', flush=True)
    shares = dict(CHECKS)
    todo = [name for name, _ in CHECKS if name in args.checks]
    results = {}
    for i, name in enumerate(todo):
        left = deadline - time.monotonic() - 5
        budget = left * shares[name] / sum(shares[n] for n in todo[i:])
        results[name] = launch(name, budget, deadline, out, args)
        status = results[name].get('status', '?')
        print(f'[{time.monotonic() - start:5.0f} s] {name}: {status}',
              flush=True)
    report = assemble(results, env, args, time.monotonic() - start)
    write_report(report, out)
    print(report['markdown'])
    return report


def environment() -> dict:
    import torch
    cuda = torch.cuda.is_available()
    return dict(
        date=time.strftime('%Y-%m-%d'), python=sys.version.split()[0],
        torch=torch.__version__, cuda=torch.version.cuda if cuda else None,
        device=torch.cuda.get_device_name(0) if cuda else
        f'CPU ({os.cpu_count()} cores, {torch.get_num_threads()} torch '
        'threads)')


def launch(name: str, budget: float, deadline: float, out: str,
           args: argparse.Namespace) -> dict:
    """Run one check in a child process; stop it past its budget (plus a
    grace for writing its results) or the deadline."""
    result_file = osp.join(out, f'{name}.json')
    command = [sys.executable, osp.abspath(__file__), '--run-check', name,
               '--budget', f'{budget:.1f}', '--out', out,
               '--minutes', str(args.minutes), '--data-root', args.data_root]
    command += ['--tiny'] * args.tiny + ['--compile'] * args.compile
    timeout = max(1., min(budget + 20, deadline - time.monotonic()))
    began = time.monotonic()
    code = run_bounded(command, timeout, osp.join(out, f'{name}.log'))
    result = {}
    if osp.isfile(result_file):
        with open(result_file) as f:
            result = json.load(f)
    result['seconds_used'] = round(time.monotonic() - began, 1)
    if code == 'timeout':
        result['status'] = f'stopped after {timeout:.0f} s (its share)'
    elif code != 0:
        result['status'] = f'failed (exit {code}): ' + last_error(
            osp.join(out, f'{name}.log'))
    return result


def run_bounded(command: List[str], timeout: float, log: str,
                env: Optional[dict] = None):
    """Run ``command`` (in the repository, output to ``log``); past
    ``timeout`` seconds kill it with every process it started.  Returns
    the exit code, or ``'timeout'``."""
    with open(log, 'w') as out:
        child = subprocess.Popen(command, stdout=out, stderr=out, cwd=REPO,
                                 env=env, start_new_session=True)
        try:
            return child.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(child.pid, signal.SIGKILL)
            child.wait()
            return 'timeout'


def last_error(log: str) -> str:
    """The last line of a traceback in ``log`` (or its last line)."""
    with open(log, errors='replace') as f:
        lines = [line.strip() for line in f if line.strip()]
    errors = [line for line in lines if 'Error' in line.split(':')[0]]
    return (errors or lines or ['no output'])[-1][:300]


# --------------------------------------------------------------------------
# the checks (each in its own process)


def run_check(args: argparse.Namespace) -> dict:
    """Run check ``args.run_check`` within ``args.budget`` seconds and
    write its results to ``<out>/<check>.json`` as they come."""
    import torch

    import mmssl_kd  # noqa: F401  (safe checkpoint loader, registries)
    torch.backends.cudnn.benchmark = True  # fixed sizes: autotune once
    recorder = Recorder(osp.join(args.out, f'{args.run_check}.json'))
    ends = time.monotonic() + args.budget
    if args.run_check == 'throughput':
        throughput(recorder, ends, args)
    elif args.run_check in TTA:
        time_to_accuracy(recorder, args.run_check, ends, args)
    else:
        dist(recorder, ends, args)
    recorder.update(status=recorder.data.get('status', 'ok'))
    return recorder.data


class Recorder:
    """A check's results, rewritten to its JSON file at every update (a
    check stopped at its budget keeps what it measured)."""

    def __init__(self, path: str):
        self.path = path
        self.data: dict = dict(rows=[])

    def update(self, **items) -> None:
        self.data.update(items)
        self._write()

    def add_row(self, **row) -> None:
        self.data['rows'].append(row)
        self._write()

    def _write(self) -> None:
        with open(self.path + '.tmp', 'w') as f:
            json.dump(self.data, f, indent=1)
        os.replace(self.path + '.tmp', self.path)


def throughput(recorder: Recorder, ends: float,
               args: argparse.Namespace) -> None:
    """Each model in fp32 and bf16 (and compiled): 3 warm-up and 10 timed
    iterations, while the share of the budget lasts."""
    import benchmark_train
    import torch
    models = TINY_THROUGHPUT if args.tiny else THROUGHPUT
    precisions = ['fp32', 'bf16'] + ['bf16 + compile'] * args.compile
    runs = [(m, p) for m in models for p in precisions]
    flops = {}
    for i, ((label, config, batch, size), precision) in enumerate(runs):
        left = ends - time.monotonic()
        share = left / (len(runs) - i)
        if share < 3:
            recorder.add_row(check='throughput', setting=f'{label}, '
                             f'{precision}', status='no time left')
            continue
        argv = [config, '--synthetic', str(size), '--batch-size', str(batch),
                '--premade', '2', '--seed', '0']
        argv += ['--amp'] * ('bf16' in precision)
        argv += ['--compile'] * ('compile' in precision)
        cli, device, cfg, speed = benchmark_train.prepare(argv)
        _without_absent_teacher(cfg)
        cli.warmup, cli.iters = (1, 2) if args.tiny else (3, 10)
        try:
            result = benchmark_train.benchmark(cfg, cli, device, speed,
                                               flops.get(label))
        except Exception as err:  # the next row may still run
            recorder.add_row(check='throughput', setting=f'{label}, '
                             f'{precision}', batch=batch,
                             status=f'failed: {type(err).__name__}: '
                             f'{str(err)[:200]}')
            continue
        flops[label] = result['flops']
        timing = result['timings'][0]
        peak = result['peak_tflops']
        memory = (timing.peak_mib if device.type == 'cuda' else
                  result['peak_rss_mib']) / 1024
        recorder.add_row(
            check='throughput', setting=f'{label}, {precision}', batch=batch,
            images_s=round(1e3 * batch / timing.median['total'], 1),
            peak_gib=round(memory, 2),
            tflops=round(result['achieved_tflops'], 2),
            peak_share=None if peak is None else
            round(100 * result['achieved_tflops'] / peak, 1),
            phases_ms={k: round(v, 2) for k, v in timing.median.items()},
            iterations=cli.iters, status='ok')
        del result
        gc.collect()  # the step's closures hold the model in cycles
        if device.type == 'cuda':
            torch.cuda.empty_cache()


def _without_absent_teacher(cfg) -> None:
    """A teacher whose weight file is not here is timed at random weights
    (the same FLOPs)."""
    teacher = cfg.model.get('teacher')
    if teacher and teacher.get('checkpoint') and \
            not osp.isfile(teacher.checkpoint):
        teacher.checkpoint = None


def scale_schedule(cfg, epochs: int) -> None:
    """The recipe's epoch-based schedulers stretched or squeezed to
    ``epochs``: every boundary (begin, end) scaled, kept in order and at
    least one epoch apart (so a warm-up keeps one epoch); ``max_epochs``
    set."""
    old = cfg.train_cfg.max_epochs
    schedulers = cfg.param_scheduler
    schedulers = schedulers if isinstance(schedulers, list) else [schedulers]
    by_epoch = [s for s in schedulers if s.get('by_epoch', True)]
    bounds = sorted({min(s.get(k, d), old) for s in by_epoch
                     for k, d in (('begin', 0), ('end', old))})
    scaled, last = {}, -1
    for bound in bounds:
        last = scaled[bound] = 0 if bound == 0 else \
            max(last + 1, round(bound * epochs / old))
    if last > epochs:
        raise ValueError(f'{len(bounds) - 1} scheduler phases do not fit '
                         f'in {epochs} epochs')
    for sched in by_epoch:
        sched.update(begin=scaled[min(sched.get('begin', 0), old)],
                     end=scaled[min(sched.get('end', old), old)])
        if 'T_max' in sched:
            sched.T_max = sched.end - sched.begin
    cfg.train_cfg.max_epochs = epochs


def time_to_accuracy(recorder: Recorder, name: str, ends: float,
                     args: argparse.Namespace) -> None:
    """Measure the step, fit the epochs to the share, train, and log the
    kNN top-1 against training seconds."""
    import benchmark_train
    import torch
    from mmengine.hooks import Hook

    from mmssl_kd.cli import load_config
    from mmssl_kd.engine import Runner
    label, config = TTA[name]
    if args.tiny:
        label += ' (--tiny: ResNet-20)'
    began = time.monotonic()
    cfg = load_config(config, work_dir=osp.join(args.out, name))
    knn = next(h for h in cfg.custom_hooks if h.type == 'KNNHook')
    knn.ks = (20, )
    for loader in (cfg.train_dataloader, knn.bank_dataloader,
                   knn.query_dataloader):
        loader.dataset.source.data_root = args.data_root
    if args.tiny:
        cfg.merge_from_dict(TINY_TTA_OPTIONS[name])
        cfg.train_dataloader.batch_size = TINY_BATCH
        _without_absent_teacher(cfg)
    cfg.optim_wrapper.type = 'BF16OptimWrapper'  # tools/train.py --amp
    cfg.env_cfg.cudnn_benchmark = True
    cfg.default_hooks.checkpoint = None
    cfg.default_hooks.logger = dict(type='LoggerHook', interval=100)
    cfg.launcher = 'none'

    # the step, timed as benchmark_train.py times it, on the real loader
    cli, device, _, speed = benchmark_train.prepare(
        [config, '--amp', '--premade', '0', '--seed', '0'])
    cli.warmup, cli.iters = (1, 2) if args.tiny else (10, 30)
    step = benchmark_train.benchmark(copy.deepcopy(cfg), cli, device, speed)
    phases = step['timings'][0].median
    step_s = phases['total'] / 1e3
    per_epoch = len(Runner.build_dataloader(cfg.train_dataloader, seed=0))
    del step
    if device.type == 'cuda':
        torch.cuda.empty_cache()
    # training gets 85 % of what is left, the kNN passes and start-up the rest
    train_s = 0.85 * (ends - time.monotonic())
    epochs = 2 if args.tiny else \
        max(2, int(train_s / (1.1 * step_s * per_epoch)))
    scale_schedule(cfg, epochs)
    knn.interval = max(1, epochs // 6)
    recorder.update(label=label, config=config, epochs_planned=epochs,
                    batch=cfg.train_dataloader.batch_size,
                    step_ms=round(1e3 * step_s, 2), iters_per_epoch=per_epoch,
                    phases_ms={k: round(v, 2) for k, v in phases.items()},
                    probe_seconds=round(time.monotonic() - began, 1))

    class Clock(Hook):
        """Training seconds per epoch (kNN passes excluded: the kNN hook
        runs in ``after_train_epoch``, after the last iteration), the kNN
        top-1 after each pass, and a stop when the share is spent."""
        priority = 'LOWEST'

        def __init__(self):
            self.seconds, self.curve, self.epochs = 0., [], 0

        def _now(self) -> float:
            if torch.cuda.is_available():
                torch.cuda.synchronize()
            return time.monotonic()

        def before_train_epoch(self, runner) -> None:
            self.t0 = self._now()

        def after_train_iter(self, runner, batch_idx, data_batch=None,
                             outputs=None) -> None:
            if batch_idx + 1 == len(runner.train_dataloader):
                self.seconds += self._now() - self.t0
                self.epochs = runner.epoch + 1
                runner.message_hub.update_info(KNN_KEY, None)

        def after_train_epoch(self, runner) -> None:
            value = runner.message_hub.get_info(KNN_KEY)
            if value is not None:
                self.curve.append(dict(seconds=round(self.seconds, 2),
                                       epoch=self.epochs,
                                       top1=round(float(value), 2)))
                recorder.update(curve=self.curve)
            per_epoch_s = self.seconds / self.epochs
            if not args.tiny and time.monotonic() + 2 * per_epoch_s > ends:
                runner.train_loop.stop_training = True

    clock = Clock()
    runner = Runner.from_cfg(cfg)
    runner.register_hook(clock)
    if device.type == 'cuda':
        torch.cuda.reset_peak_memory_stats()
    runner.train()
    if not clock.curve or clock.curve[-1]['epoch'] != clock.epochs:
        hook = next(h for h in runner.hooks if type(h).__name__ == 'KNNHook')
        hook._evaluate(runner, f'epoch {clock.epochs}', runner.iter)
        clock.after_train_epoch(runner)
    images = clock.epochs * per_epoch * cfg.train_dataloader.batch_size
    memory = (torch.cuda.max_memory_allocated() / 2**30
              if device.type == 'cuda' else None)
    recorder.update(curve=clock.curve, epochs=clock.epochs,
                    train_seconds=round(clock.seconds, 1),
                    runner_step_ms=round(
                        1e3 * clock.seconds / (clock.epochs * per_epoch), 2),
                    images_s=round(images / clock.seconds, 1),
                    peak_gib=None if memory is None else round(memory, 2),
                    top1=clock.curve[-1]['top1'])


def dist(recorder: Recorder, ends: float, args: argparse.Namespace) -> None:
    """Two iterations of the user's launcher on CIFAR-10 images."""
    import torch
    work_dir = osp.join(args.out, 'dist')
    root = args.data_root
    data = [
        f'train_dataloader.dataset.data_root={root}',
        'train_cfg.max_epochs=1', 'default_hooks.checkpoint=None',
        'train_dataloader.num_workers=4', 'train_dataloader.persistent_'
        'workers=False',
    ]
    for loader, split in (('bank', 'train'), ('query', 'test')):
        key = f'custom_hooks.KNNHook.{loader}_dataloader'
        data += [f'{key}.dataset.data_root={root}',
                 f'{key}.dataset.split={split}',
                 f'{key}.dataset.num_per_class=4', f'{key}.num_workers=2']
    if torch.cuda.is_available():
        config, batch = DIST_CONFIG, 128
        with socket.socket() as sock:
            sock.bind(('127.0.0.1', 0))
            port = sock.getsockname()[1]
        command = ['bash', 'tools/dist_train.sh', config, '1']
        env = dict(os.environ, PORT=str(port))
        how = 'tools/dist_train.sh (torchrun, NCCL), 1 GPU'
    else:
        config, batch = TINY_DIST_CONFIG, 2
        command = [sys.executable, 'tools/train.py', config]
        env = dict(os.environ)
        how = 'tools/train.py in one process (no CUDA for torchrun + NCCL)'
    # 2 iterations: 2 batches of images in the one epoch (drop_last)
    classes = len(os.listdir(osp.join(root, 'train')))
    per_class = math.ceil(2 * batch / classes)
    data += [f'train_dataloader.dataset.num_per_class={per_class}',
             f'train_dataloader.batch_size={batch}']
    command += ['--work-dir', work_dir, '--cfg-options'] + data
    recorder.update(command=' '.join(command), how=how)
    began = time.monotonic()
    code = run_bounded(command, max(1, ends - time.monotonic()),
                       osp.join(args.out, 'dist_train.log'), env)
    with open(osp.join(args.out, 'dist_train.log'), errors='replace') as f:
        text = f.read()
    done = '[1][2/2]' in text
    recorder.update(seconds=round(time.monotonic() - began, 1), config=config,
                    batch=batch, iterations=2 if done else 0,
                    status='ok' if code == 0 and done else
                    f'failed (exit {code}): '
                    f"{last_error(osp.join(args.out, 'dist_train.log'))}")


# --------------------------------------------------------------------------
# the report


def assemble(results: Dict[str, dict], env: dict, args, seconds: float
             ) -> dict:
    """The table's rows, the phases, the targets, and their Markdown."""
    rows = []
    tput = results.get('throughput', {})
    for row in tput.get('rows', []):
        size = '32' if args.tiny else '224'
        rows.append(dict(row, check=f'throughput {size} px'))
    if tput.get('status', 'ok') != 'ok':
        rows.append(dict(check='throughput', status=tput['status']))
    for name in ('tta-seed', 'tta-mocov3'):
        run = results.get(name)
        if run is None:
            continue
        rows.append(dict(
            check='time to accuracy', setting=f"{run.get('label', name)}, "
            'bf16', batch=run.get('batch'),
            images_s=run.get('images_s'), peak_gib=run.get('peak_gib'),
            knn=run.get('top1'), epochs=run.get('epochs'),
            seconds=run.get('train_seconds'), status=run.get('status')))
    if 'dist' in results:
        run = results['dist']
        rows.append(dict(check='launcher', setting=run.get('how', 'dist'),
                         batch=run.get('batch'), seconds=run.get('seconds'),
                         status=run.get('status')))
    report = dict(environment=env, minutes=args.minutes, tiny=args.tiny,
                  seconds=round(seconds, 1), rows=rows,
                  curves={n: results[n].get('curve', []) for n in TTA
                          if n in results},
                  tta={n: {k: v for k, v in results[n].items()
                           if k != 'rows'} for n in TTA if n in results})
    report['targets'] = targets(report, args.tiny)
    report['markdown'] = markdown(report)
    return report


def _cells(row: dict) -> List[str]:
    def num(key, fmt='{:,.1f}'):
        value = row.get(key)
        return '' if value is None else fmt.format(value)
    return [row.get('check', ''), row.get('setting', ''),
            num('batch', '{}'), num('images_s'), num('peak_gib', '{:.2f}'),
            num('tflops'), num('peak_share'), num('knn', '{:.2f}'),
            num('epochs', '{}'), num('seconds'), row.get('status', '')]


def _table(head, rows) -> List[str]:
    lines = ['| ' + ' | '.join(head) + ' |',
             '| ' + ' | '.join('---' for _ in head) + ' |']
    return lines + ['| ' + ' | '.join(str(c) for c in r) + ' |'
                    for r in rows]


def markdown(report: dict) -> str:
    env = report['environment']
    lines = [f"Device check, {env['date']}: {env['device']}, Python "
             f"{env['python']}, torch {env['torch']}"
             + (f", CUDA {env['cuda']}" if env['cuda'] else '')
             + f"; budget {report['minutes']:g} min, used "
             f"{report['seconds']:.0f} s" + (' (--tiny)' if report['tiny']
                                             else '') + '. Channels-last '
             '(the default), cuDNN autotuning on; bf16 is tools/train.py '
             "--amp; fp32 convolutions use cuDNN's default TF32.", '']
    lines += _table(COLUMNS, [_cells(r) for r in report['rows']])
    phases = [r for r in report['rows'] if r.get('phases_ms')]
    phases += [dict(setting=f"{t.get('label')}, bf16 (time to accuracy)",
                    phases_ms=t['phases_ms'])
               for t in report['tta'].values() if t.get('phases_ms')]
    if phases:
        head = ('setting', 'data', 'views (prep)', 'forward', 'backward',
                'optimizer', 'step ms')
        lines += ['', 'Where a step\'s time goes (median ms per iteration; '
                  'each phase waits for the device):', '']
        lines += _table(head, [
            [r['setting']] + [f"{r['phases_ms'].get(k, 0):.2f}" for k in
                              ('data', 'prep', 'forward', 'backward',
                               'optimizer', 'total')] for r in phases])
    for name, run in report['tta'].items():
        if run.get('runner_step_ms'):
            lines.append('')
            lines.append(
                f"{run['label']}: the Runner's iteration took "
                f"{run['runner_step_ms']:.2f} ms against the bare step's "
                f"{run['step_ms']:.2f} ms (hooks, logging, the loss's "
                'host sync, batches cut on the device).')
    for name, curve in report['curves'].items():
        if curve:
            points = ', '.join(f"{p['seconds']:.0f} s (epoch {p['epoch']}) "
                               f"{p['top1']:.1f} %" for p in curve)
            lines += ['', f"{report['tta'][name]['label']}, kNN top-1 "
                      f'(k=20) after training seconds: {points}']
    if report['targets']:
        lines += ['', 'Targets (issue 18):', '']
        lines += [f"- {t['target']}: {'met' if t['met'] else 'missed'} "
                  f"({t['value']})" for t in report['targets']]
    return '\n'.join(lines)


def _at(curve: List[dict], seconds: float) -> Optional[float]:
    """The top-1 reached within ``seconds`` of training (the last point
    at or before it)."""
    values = [p['top1'] for p in curve if p['seconds'] <= seconds]
    return values[-1] if values else None


def targets(report: dict, tiny: bool) -> List[dict]:
    """Issue 18's targets against what was measured (not for --tiny)."""
    if tiny:
        return []
    found = []
    seed = report['curves'].get('tta-seed') or []
    moco = report['curves'].get('tta-mocov3') or []
    if seed:
        within = _at(seed, 120)
        found.append(dict(
            target='SEED ResNet-18 <- ResNet-56 reaches >= 80 % kNN top-1 '
            'within 2 minutes of training', met=bool(within and within >= 80),
            value=f'{within} % at <= 120 s' if within is not None else
            'no kNN point within 120 s'))
    if seed and moco:
        ahead = [(p['seconds'], p['top1'], _at(moco, p['seconds']))
                 for p in seed]
        ahead = [a for a in ahead if a[2] is not None]
        found.append(dict(
            target='SEED stays ahead of MoCo v3 at equal training time',
            met=bool(ahead) and all(s > m for _, s, m in ahead),
            value='; '.join(f'{t:.0f} s: {s:.1f} vs {m:.1f}'
                            for t, s, m in ahead) or 'no common time'))
    rows = {r.get('setting'): r for r in report['rows']}
    for label, goal in (('ViT-S/16', 35), ('SEED R18 <- R50', 25)):
        best = [r for s, r in rows.items() if s and label in s
                and 'bf16' in s and r.get('peak_share') is not None]
        for r in best:
            found.append(dict(target=f'{r["setting"]} at >= {goal} % of the '
                              'bf16 dense peak', met=r['peak_share'] >= goal,
                              value=f"{r['peak_share']} %"))
    for label, _, _, _ in THROUGHPUT:
        fp32 = rows.get(f'{label}, fp32', {}).get('images_s')
        bf16 = rows.get(f'{label}, bf16', {}).get('images_s')
        if fp32 and bf16:
            found.append(dict(target=f'{label}: --amp >= 1.5x fp32',
                              met=bf16 >= 1.5 * fp32,
                              value=f'{bf16 / fp32:.2f}x'))
    return found


def write_report(report: dict, out: str) -> None:
    with open(osp.join(out, 'device_check.md'), 'w') as f:
        f.write(report['markdown'] + '\n')
    with open(osp.join(out, 'device_check.json'), 'w') as f:
        json.dump({k: v for k, v in report.items() if k != 'markdown'}, f,
                  indent=1)
    plot_curves(report, osp.join(out, 'time_to_accuracy.png'))


def plot_curves(report: dict, path: str) -> None:
    """kNN top-1 against training seconds, one line per run."""
    curves = {n: c for n, c in report['curves'].items() if c}
    if not curves:
        return
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(6.4, 4))
    for name, curve in curves.items():
        ax.plot([p['seconds'] for p in curve], [p['top1'] for p in curve],
                marker='o', label=report['tta'][name]['label'])
        last = curve[-1]
        ax.annotate(f"epoch {last['epoch']}", (last['seconds'], last['top1']),
                    textcoords='offset points', xytext=(4, -12), fontsize=8)
    if not report['tiny']:
        ax.axvline(120, color='grey', lw=0.8, ls='--')
        ax.axhline(80, color='grey', lw=0.8, ls='--')
    env = report['environment']
    ax.set(xlabel='training seconds (kNN passes excluded)',
           ylabel='kNN top-1 (k=20, T=0.07), %',
           title=f"CIFAR-10 on {env['device']}, bf16", ylim=(0, 100))
    ax.grid(alpha=0.3)
    ax.legend(loc='lower right')
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


if __name__ == '__main__':
    main()
