"""Time a config's training step, phase by phase, and (``--reference``) the
same step in plain PyTorch in the same run, so the toolbox's overhead is a
ratio.

    python tools/analysis_tools/benchmark_train.py CONFIG [--reference]
        [--batch-size 64] [--premade 4] [--warmup 5] [--iters 20]
        [--amp] [--channels-last] [--compile] [--num-workers N]
        [--data-root DIR | --synthetic SIZE] [--peak-tflops T]
        [--cfg-options ...]
    python tools/analysis_tools/benchmark_train.py CONFIG --data-only
    python tools/analysis_tools/benchmark_train.py CONFIG --part NAME
        [--synthetic SIZE] [--batch-size B] [--amp] [--cfg-options ...]

The tool builds what the Runner would, without the Runner: the model
(``build_model`` + ``init_weights``: random weights, a frozen teacher's
own), its optimizer wrapper (``build_optim_wrapper``) and batches of its
``train_dataloader``.  The toolbox step is the real
``model.train_step(batch, optim_wrapper)``, what training runs, without the
Runner's hooks (logging, schedulers, checkpoints).  ``--reference`` adds
the plain-PyTorch step of ``tools/benchmarks/reference_steps.py`` (SEED,
DoGo, DINO) on a copy of the same model, with the same batches.  Each step
gets ``--warmup`` untimed iterations, then ``--iters`` timed ones in blocks
of ``--block``, the two steps' blocks alternating to cancel drift.

Milliseconds per iteration (median and mean) of each phase:

* ``data``: the next batch from the dataloader; with ``--premade N`` the N
  batches drawn at the start, in turn (data time about 0); with
  ``--synthetic SIZE`` N batches of random SIZE x SIZE images sent through
  the train pipeline after its loading step (no dataset needed);
* ``prep``: the data preprocessor (uint8 views to normalised floats);
* ``forward``: networks, loss and ``parse_losses``; DINO's EMA-teacher
  and centre updates (in both steps), SEED's enqueue (in the toolbox's);
* ``backward``;
* ``optimizer``: gradient clipping, the optimizer step(s), ``zero_grad``
  (in the reference: SEED's queue); with several optimizers (DoGo) all
  that follows the first backward but the other backwards;
* ``step``: all but data, the time the ratio toolbox / reference compares;
  ``total``: with data; images/s from it.

Phase boundaries are marked from hooks on the data preprocessor and on
the optimizer wrappers' ``backward``; on CUDA each mark waits for the
device.  Also printed: peak memory (CUDA: max allocated per step; CPU: the
process's peak resident set), training multiply-adds per image
(:func:`mmssl_kd.analysis.training_flops`, which counts one multiply-add as
one FLOP, as MMEngine does) and the achieved TFLOP/s, two per multiply-add
as the data sheets' peaks count them.  The switches are the training's
own: ``--amp`` is
``tools/train.py --amp``'s :class:`~mmssl_kd.engine.BF16OptimWrapper`
(bf16 autocast of preprocessing, forward and loss, fp32 logits in the
losses; the reference step runs under the same autocast);
``--channels-last`` and ``--compile`` are ``speed_cfg``'s
``channels_last`` and ``compile_backbones``
(:func:`mmssl_kd.engine.speed_up`, on both steps' models).  Without them
the config's own ``speed_cfg`` applies.

``--part NAME`` times one network of the model alone, forward only: one
of :func:`~mmssl_kd.models.algorithms.declared_nets` (``backbone``: the
student, ``teacher``, ``peer`` ...), e.g. a frozen DINOv2 ViT-B/14
teacher at the recipe's image size.  One batch (``--synthetic SIZE`` or
the dataloader's first) goes through the data preprocessor once,
untimed; each iteration is then the network's forward on its first view
under ``torch.no_grad()`` (and ``--amp``'s bf16 autocast): a
:class:`~mmssl_kd.models.FrozenTeacher`'s ``forward_features`` then
``forward_head``, as distillation runs it; another network's backbone then
neck, in eval mode.  Printed: the network's classes, its parameters,
weight memory (parameters and buffers in their own dtypes: a
``FoundationViT`` with ``weights_dtype='bfloat16'`` takes half), forward
multiply-adds per image, ms per batch, images/s and the peak memory
(CUDA: max allocated during the timed iterations, with only the network
and the data preprocessor on the device; CPU: the process's peak resident
set).  A teacher's weight file that is not on the machine stops the tool
with its path; ``--cfg-options model.teacher.checkpoint=None`` times the
teacher with random weights instead, at the same speed.
"""
import argparse
import functools
import itertools
import logging
import os.path as osp
import resource
import statistics
import sys
import time
from collections import Counter
from typing import Callable, Dict, Iterator, List, NamedTuple, Optional, Tuple

import mmssl_kd  # noqa: F401  (first: safe checkpoint loader, registries)

# isort: split
import numpy as np
import torch
from mmengine.dataset import Compose, default_collate
from mmengine.logging import MessageHub, MMLogger
from mmengine.optim import build_optim_wrapper
from mmengine.registry import init_default_scope
from mmengine.runner import set_random_seed
from torch import nn

from mmssl_kd.analysis import (
    Embedding,
    Part,
    PartFlops,
    count_params,
    human,
    neck_input,
    part_rows,
    training_flops,
)
from mmssl_kd.cli import add_config_arguments, load_config, load_model
from mmssl_kd.engine import Runner, speed_up
from mmssl_kd.models import FrozenTeacher
from mmssl_kd.models.algorithms import Net, declared_nets
from mmssl_kd.models.utils import bare
from mmssl_kd.registry import MODELS

# the plain-PyTorch steps: a benchmark's yardstick, so a tool, not package
_BENCHMARKS = osp.join(osp.dirname(osp.dirname(osp.abspath(__file__))),
                       'benchmarks')
if _BENCHMARKS not in sys.path:
    sys.path.insert(0, _BENCHMARKS)
from reference_steps import (  # noqa: E402
    ReferenceStep,
    build_reference_step,
    optim_wrappers,
)

PHASES = ('data', 'prep', 'forward', 'backward', 'optimizer')
#: Dense bf16 tensor-core peaks (TFLOP/s, NVIDIA's data sheets), by a
#: substring of ``torch.cuda.get_device_name()``, first match wins.
BF16_PEAK_TFLOPS = (('H100 PCIe', 756.), ('H100', 989.4), ('H200', 989.4),
                    ('A100', 312.))
COLUMNS = PHASES + ('step', 'total')
Step = Callable[[dict], None]


class Timing(NamedTuple):
    """One step's timed iterations, summarised."""
    name: str
    median: Dict[str, float]  # ms per iteration, by column
    mean: Dict[str, float]
    peak_mib: Optional[float]  # CUDA max allocated; None on CPU


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Time the training step of a config, phase by phase, '
        'beside a plain-PyTorch reference step',
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('config', help='algorithm config file')
    parser.add_argument('--reference', action='store_true',
                        help='also time the plain-PyTorch step (SEED, DoGo, '
                        'DINO) and print the ratio toolbox / reference')
    parser.add_argument('--batch-size', type=int,
                        help="images per batch (default: the config's)")
    parser.add_argument('--num-workers', type=int,
                        help="dataloader workers (default: the config's)")
    parser.add_argument('--data-root',
                        help="dataset folder (default: the config's)")
    parser.add_argument('--synthetic', type=int, metavar='SIZE',
                        help='no dataset: --premade batches (default 2) of '
                        'random SIZE x SIZE images through the train '
                        'pipeline after its loading step')
    parser.add_argument('--premade', type=int, default=0, metavar='N',
                        help='draw N batches once and reuse them, taking '
                        'data loading out (default 0: fresh batches)')
    parser.add_argument('--warmup', type=int, default=5,
                        help='untimed iterations per step (default 5)')
    parser.add_argument('--iters', type=int, default=20,
                        help='timed iterations per step (default 20)')
    parser.add_argument('--block', type=int, default=2,
                        help='iterations per block; with --reference the '
                        "two steps' blocks alternate (default 2)")
    parser.add_argument('--amp', action='store_true',
                        help='bf16 autocast of the forward and the loss')
    parser.add_argument('--channels-last', action='store_true',
                        help='channels-last model and input views')
    parser.add_argument('--compile', action='store_true',
                        help='torch.compile every backbone')
    parser.add_argument('--data-only', action='store_true',
                        help='time only the input: the dataloader and the '
                        "model's data preprocessor (where GPUMultiViewAugment "
                        'makes the views), images/s of each')
    parser.add_argument('--part', metavar='NAME',
                        help='time only the forward of this network of the '
                        "model (e.g. teacher, backbone: the student) on one "
                        "batch's first view, without gradients")
    parser.add_argument('--peak-tflops', type=float, metavar='T',
                        help="the device's dense bf16 peak in TFLOP/s, for "
                        'the share of peak (default: known GPUs, '
                        'see BF16_PEAK_TFLOPS)')
    parser.add_argument('--device', default='cuda' if
                        torch.cuda.is_available() else 'cpu',
                        help='cuda or cpu (default: cuda if there is one)')
    parser.add_argument('--seed', type=int, default=0,
                        help='seed of the weights and the data (default 0)')
    add_config_arguments(parser)
    args = parser.parse_args(argv)
    for name in ('warmup', 'premade'):
        if getattr(args, name) < 0:
            parser.error(f'--{name} must be >= 0')
    if args.synthetic is not None:
        if args.data_only or args.data_root:
            parser.error('--synthetic makes its own images: it does not go '
                         'with --data-only or --data-root')
        args.premade = args.premade or 2
    if args.part and (args.reference or args.data_only):
        parser.error('--part times one network alone: it does not go with '
                     '--reference or --data-only')
    for name in ('iters', 'block', 'batch_size'):
        if getattr(args, name) is not None and getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be >= 1")
    return args


class Clock:
    """Splits an iteration's time into :data:`PHASES`: :meth:`mark` ends
    the current phase and starts the next; on CUDA it waits for the device
    first, so that a phase's kernels count in it."""

    def __init__(self, device: torch.device):
        self.cuda = device.type == 'cuda'
        self.times: Dict[str, float] = {}
        self.phase, self.last = 'data', 0.

    def start(self) -> None:
        self.times = dict.fromkeys(PHASES, 0.)
        self.phase, self.last = 'data', self._now()

    def mark(self, phase: str) -> None:
        now = self._now()
        self.times[self.phase] += now - self.last
        self.phase, self.last = phase, now

    def stop(self) -> Dict[str, float]:
        """The iteration's ms per column."""
        self.mark('data')
        ms = {k: 1e3 * v for k, v in self.times.items()}
        ms['step'] = sum(ms[k] for k in PHASES[1:])
        ms['total'] = ms['step'] + ms['data']
        return ms

    def _now(self) -> float:
        if self.cuda:
            torch.cuda.synchronize()
        return time.perf_counter()


def _marked_backward(backward: Callable, clock: Clock) -> Callable:
    @functools.wraps(backward)
    def marked(loss: torch.Tensor, **kwargs) -> None:
        clock.mark('backward')
        backward(loss, **kwargs)
        clock.mark('optimizer')
    return marked


def toolbox_step(model: nn.Module, optim_wrapper, clock: Clock) -> Step:
    """``model.train_step`` with phase marks hooked in: after the data
    preprocessor, around each wrapper's ``backward``."""
    def after_preprocess(module, inputs, out: dict) -> None:
        clock.mark('forward')

    model.data_preprocessor.register_forward_hook(after_preprocess)
    for wrapper in optim_wrappers(optim_wrapper):
        wrapper.backward = _marked_backward(wrapper.backward, clock)
    return lambda batch: model.train_step(batch, optim_wrapper)


def reference_step(ref: ReferenceStep, clock: Clock, amp: bool,
                   device: torch.device) -> Step:
    """The reference's four phases, marked."""
    def step(batch: dict) -> None:
        with torch.autocast(device.type, dtype=torch.bfloat16,
                            enabled=amp):
            views = ref.preprocess(batch)
            clock.mark('forward')
            losses = ref.forward(views)
        clock.mark('backward')
        ref.backward(losses)
        clock.mark('optimizer')
        ref.step()
    return step


def endless(loader) -> Iterator[dict]:
    """The loader's batches, epoch after epoch."""
    while True:
        yield from loader


def time_steps(steps: Dict[str, Step], sources: Dict[str, Iterator[dict]],
               clock: Clock, args: argparse.Namespace,
               device: torch.device) -> List[Timing]:
    """Warm up each step, then time ``--iters`` iterations of each in
    alternating blocks."""
    cuda = device.type == 'cuda'

    def run(name: str, count: int) -> List[Dict[str, float]]:
        rows = []
        for _ in range(count):
            clock.start()
            batch = next(sources[name])
            clock.mark('prep')
            steps[name](batch)
            rows.append(clock.stop())
        return rows

    for name in steps:
        run(name, args.warmup)
    rows: Dict[str, List[Dict[str, float]]] = {name: [] for name in steps}
    peaks: Dict[str, float] = dict.fromkeys(steps, 0.)
    while any(len(r) < args.iters for r in rows.values()):
        for name in steps:
            if cuda:
                torch.cuda.reset_peak_memory_stats(device)
            rows[name] += run(name, min(args.block,
                                        args.iters - len(rows[name])))
            if cuda:
                peaks[name] = max(peaks[name],
                                  torch.cuda.max_memory_allocated(device))
    return [Timing(name,
                   {c: statistics.median(r[c] for r in rows[name])
                    for c in COLUMNS},
                   {c: statistics.mean(r[c] for r in rows[name])
                    for c in COLUMNS},
                   peaks[name] / 2**20 if cuda else None)
            for name in steps]


def describe_flops(parts: List[PartFlops]) -> str:
    """'1.23G = student 3 x 41.6M (1 x 32x32) + teacher 1 x ...'."""
    total = sum(p.factor * p.forward for p in parts)
    terms = []
    for p in parts:
        views = ' + '.join(f'{n:g} x {h}x{w}' for h, w, n in p.views)
        terms.append(f'{p.part} {p.factor} x {human(p.forward)} ({views})')
    return f'{human(total)} = ' + ' + '.join(terms)


def format_timings(timings: List[Timing], batch: int) -> List[str]:
    """The table: a median and a mean row per step."""
    head = ['ms / iteration', *COLUMNS, 'img/s']
    if timings[0].peak_mib is not None:
        head.append('peak MiB')
    cells = [head]
    for t in timings:
        for stat, ms in (('median', t.median), ('mean', t.mean)):
            row = [f'{t.name} {stat}'] + [f'{ms[c]:.1f}' for c in COLUMNS]
            row.append(f'{1e3 * batch / ms["total"]:.1f}')
            if t.peak_mib is not None:
                row.append(f'{t.peak_mib:.0f}')
            cells.append(row)
    widths = [max(len(row[i]) for row in cells) for i in range(len(head))]
    return ['  '.join(c.ljust(w) if i == 0 else c.rjust(w)
                      for i, (c, w) in enumerate(zip(row, widths)))
            for row in cells]


def on_device(device: torch.device) -> str:
    """'cpu (2 torch threads)', 'cuda'."""
    if device.type == 'cpu':
        return f'{device} ({torch.get_num_threads()} torch threads)'
    return str(device)


def switches(args: argparse.Namespace, speed: dict) -> str:
    """'amp: off, channels-last: on, compile: off'."""
    return (f'amp: {"bf16 autocast" if args.amp else "off"}, channels-last: '
            f'{"on" if speed.get("channels_last") else "off"}, compile: '
            f'{"backbones" if speed.get("compile_backbones") else "off"}')


def device_peak(peak_tflops: Optional[float], device: torch.device
                ) -> tuple:
    """(dense bf16 peak in TFLOP/s or None, where it comes from)."""
    if peak_tflops is not None:
        return peak_tflops, '--peak-tflops'
    if device.type == 'cuda':
        name = torch.cuda.get_device_name(device)
        return next(((peak, f'{key} data sheet') for key, peak
                     in BF16_PEAK_TFLOPS if key in name), (None, ''))
    return None, ''


def achieved_tflops(macs_per_image: float, batch: int, ms: float) -> float:
    """TFLOP/s of a step of ``ms`` milliseconds: two FLOPs per
    multiply-add, as the data sheets count their peaks."""
    return 2 * macs_per_image * batch / (ms * 1e-3) / 1e12


def peak_share(flops_per_image: float, batch: int, ms: float,
               peak_tflops: Optional[float], device: torch.device,
               work: str = 'training') -> str:
    """'achieved X TFLOP/s (Y % of the bf16 peak Z)' for the toolbox's
    median iteration (``flops_per_image``: ``work`` multiply-adds)."""
    achieved = achieved_tflops(flops_per_image, batch, ms)
    line = (f'achieved: {achieved:.3f} TFLOP/s (2 x {work} multiply-adds '
            'x images/s)')
    peak_tflops, source = device_peak(peak_tflops, device)
    if peak_tflops is None:
        return line + '; give --peak-tflops for the share of peak'
    return (line + f', {100 * achieved / peak_tflops:.1f} % of the dense '
            f'bf16 peak {peak_tflops:g} TFLOP/s ({source})')


def set_up_data(cfg, args: argparse.Namespace, device: torch.device):
    """The train dataloader with the command line's settings."""
    loader = cfg.train_dataloader
    if args.batch_size:
        loader.batch_size = args.batch_size
    if args.num_workers is not None:
        loader.num_workers = args.num_workers
    if loader.get('num_workers', 0) == 0:
        loader.persistent_workers = False
    loader.pin_memory = device.type == 'cuda'
    if args.data_root:
        dataset = loader.dataset
        dataset = dataset.get('source', dataset)  # DeviceImageDataset
        dataset.data_root = args.data_root
    return Runner.build_dataloader(loader, seed=args.seed)


def synthetic_batches(cfg, size: int, batch_size: int, count: int,
                      seed: int, device: torch.device) -> List[dict]:
    """``count`` batches of random ``size`` x ``size`` images as the
    config's train dataloader gives them: sent through its pipeline after
    the loading step (views, crop boxes, data samples), or for a
    device-resident dataset cut as its loader cuts them (one uint8 image
    per sample, on ``device``)."""
    rng = np.random.default_rng(seed)
    dataset = cfg.train_dataloader.dataset
    if dataset.type == 'DeviceImageDataset':
        return [dict(inputs=[torch.from_numpy(rng.integers(
                    0, 256, (batch_size, 3, size, size), np.uint8)).to(
                        device)],
                     data_samples=None, aug_seed=seed + i,
                     gt_label=torch.zeros(batch_size, dtype=torch.long,
                                          device=device))
                for i in range(count)]
    pipeline = list(dataset.pipeline)
    if not pipeline or pipeline[0]['type'] != 'LoadImageFromFile':
        raise ValueError('--synthetic replaces the LoadImageFromFile that '
                         'starts the train pipeline; this one starts with '
                         f"{pipeline[0]['type'] if pipeline else 'nothing'}")
    transforms = Compose(pipeline[1:])
    batches = []
    for _ in range(count):
        samples = []
        for _ in range(batch_size):
            img = rng.integers(0, 256, (size, size, 3), np.uint8)
            samples.append(transforms(dict(
                img=img, img_shape=img.shape[:2], ori_shape=img.shape[:2],
                img_path='synthetic')))
        batches.append(default_collate(samples))
    return batches


def time_data(cfg, args: argparse.Namespace, device: torch.device) -> dict:
    """``--data-only``: images/s of the dataloader alone (``--iters``
    batches after ``--warmup``, end to end), then of the data preprocessor
    alone (on the last batch, ``--iters`` times)."""
    loader = set_up_data(cfg, args, device)
    pre_cfg = cfg.model.get('data_preprocessor') or cfg.get(
        'data_preprocessor')
    preprocessor = MODELS.build(pre_cfg).to(device)
    batches = endless(loader)
    for _ in range(args.warmup):
        batch = next(batches)
    start = time.perf_counter()
    for _ in range(args.iters):
        batch = next(batches)
    seconds = {'dataloader': time.perf_counter() - start}
    preprocessor(batch, True)  # warm-up
    start = time.perf_counter()
    for _ in range(args.iters):
        preprocessor(batch, True)
    if device.type == 'cuda':
        torch.cuda.synchronize()
    seconds['preprocessor'] = time.perf_counter() - start
    name = type(preprocessor).__name__
    print(f'input of {args.config}: batch {loader.batch_size}, '
          f'{loader.num_workers} dataloader workers, {name} on {device}; '
          f'warm-up {args.warmup}, timed {args.iters} batches')
    rates = {part: args.iters * loader.batch_size / value
             for part, value in seconds.items()}
    for part, rate in rates.items():
        print(f'{part} alone: {1e3 * seconds[part] / args.iters:.1f} ms / '
              f'batch, {rate:.0f} images/s')
    return rates


def prepare(argv: Optional[List[str]] = None):
    """The arguments, the device, the config with the command line's
    switches applied, and the resulting ``speed_cfg``."""
    args = parse_args(argv)
    device = torch.device(args.device)
    cfg = load_config(args.config, args.cfg_options,
                      trusted=args.trust_checkpoint)
    init_default_scope(cfg.get('default_scope', 'mmssl_kd'))
    set_random_seed(args.seed)
    speed = dict(cfg.get('speed_cfg') or {})
    if args.channels_last:
        speed['channels_last'] = True
    if args.compile:
        speed['compile_backbones'] = True
    if args.amp:  # as tools/train.py --amp
        cfg.optim_wrapper.type = 'BF16OptimWrapper'
    return args, device, cfg, speed


def main(argv: Optional[List[str]] = None) -> dict:
    args, device, cfg, speed = prepare(argv)
    if args.data_only:
        return time_data(cfg, args, device)
    try:
        if args.part:
            return benchmark_part(cfg, args, device, speed)
        return benchmark(cfg, args, device, speed)
    except FileNotFoundError as err:  # a frozen teacher's weight file
        sys.exit(f'benchmark_train.py: {err}\n(To time random weights: '
                 '--cfg-options model.teacher.checkpoint=None.)')


def time_or_exit(steps: Dict[str, Step], sources: Dict[str, Iterator],
                 clock: Clock, args: argparse.Namespace,
                 device: torch.device, speed: dict) -> List[Timing]:
    """:func:`time_steps`; a backbone that ``--compile`` cannot compile
    (in the first iteration) stops the tool with the reason."""
    try:
        return time_steps(steps, sources, clock, args, device)
    except Exception as err:
        if not speed.get('compile_backbones'):
            raise
        reason = next(iter(str(err).strip().splitlines()), '')
        sys.exit(f'benchmark_train.py: --compile failed: '
                 f'{type(err).__name__}: {reason}\nRun without --compile.')


def benchmark(cfg, args: argparse.Namespace, device: torch.device,
              speed: dict, flops: Optional[List[PartFlops]] = None) -> dict:
    """Build, time and print (see the module docstring); ``flops``, if
    given, are the training FLOPs per image counted for the same model
    before (counting traces the model: seconds for a ViT)."""
    # the EMA teachers' cosine schedule runs over the iterations done here
    MessageHub.get_current_instance().update_info(
        'max_iters', args.warmup + args.iters)
    logger = MMLogger.get_current_instance()
    level = logger.level
    logger.setLevel(logging.ERROR)  # the optimizer's per-parameter report
    try:
        model = load_model(cfg, 'random').to(device).train()
        optim_wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
        if args.synthetic:
            batch_size = args.batch_size or cfg.train_dataloader.batch_size
            premade = synthetic_batches(cfg, args.synthetic, batch_size,
                                        args.premade, args.seed, device)
            loader = None
        else:
            loader = set_up_data(cfg, args, device)
            batch_size = loader.batch_size
            premade = list(itertools.islice(endless(loader), args.premade))
    finally:
        logger.setLevel(level)
    if flops is None:
        flops = training_flops(model, premade[0] if premade else
                               next(iter(loader)))

    clock = Clock(device)
    ref = None
    if args.reference:
        try:
            ref = build_reference_step(model, optim_wrapper)
        except ValueError as err:
            sys.exit(f'benchmark_train.py: {err}')
    for net in [model] + ([ref.model] if ref else []):
        speed_up(net, **speed)
    steps = {'toolbox': toolbox_step(model, optim_wrapper, clock)}
    if ref:
        steps['reference'] = reference_step(ref, clock, args.amp, device)
    if premade:
        sources = {name: itertools.cycle(premade) for name in steps}
    else:
        shared = endless(loader)
        sources = dict.fromkeys(steps, shared)
    timings = time_or_exit(steps, sources, clock, args, device, speed)

    data = (f'{args.premade} synthetic {args.synthetic}x{args.synthetic} '
            'batches (reused)' if args.synthetic else
            f'{args.premade} premade batches (reused)' if args.premade else
            f'the dataloader ({loader.num_workers} workers)')
    print(f'{type(model).__name__} of {args.config}: training step '
          '(toolbox: model.train_step' +
          (', reference: plain PyTorch)' if ref else ')'))
    print(f'device {on_device(device)}, batch {batch_size}, data from '
          f'{data}; warm-up {args.warmup}, timed {args.iters} iterations per '
          f'step in blocks of {args.block}' +
          (', alternating' if ref else ''))
    print(switches(args, speed))
    print('training FLOPs per image: ' + describe_flops(flops) +
          ' (trained parts x 3, frozen and EMA teachers x 1; one '
          'multiply-add = 1 FLOP; element-wise operations not counted)')
    print('\n'.join(format_timings(timings, batch_size)))
    if device.type == 'cpu':
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f'peak memory: {peak:.0f} MiB resident (the whole process: '
              'model, optimizer state, both steps, batches)')
    else:
        peak = None
    macs = sum(p.factor * p.forward for p in flops)
    share = peak_share(macs, batch_size, timings[0].median['total'],
                       args.peak_tflops, device)
    print(share)
    ratio = None
    if ref:
        ratio = tuple(getattr(timings[0], stat)['step'] /
                      getattr(timings[1], stat)['step']
                      for stat in ('median', 'mean'))
        print(f'toolbox / reference, step time (data excluded): '
              f'{ratio[0]:.3f} median, {ratio[1]:.3f} mean')
    return dict(timings=timings, flops=flops, ratio=ratio,
                peak_rss_mib=peak, batch_size=batch_size, share=share,
                achieved_tflops=achieved_tflops(
                    macs, batch_size, timings[0].median['total']),
                peak_tflops=device_peak(args.peak_tflops, device)[0])


class PartNet(NamedTuple):
    """The network ``--part`` times, and what it is."""
    module: nn.Module  # what the timed forward calls
    part: Part  # its backbone and neck, for the FLOP count
    kind: str  # the class of the model's network: FrozenTeacher ...
    runs: str  # what the forward runs, in words


def declared_net(model: nn.Module, name: str) -> Net:
    """``declared_nets(model)[name]``; an unknown name stops the tool,
    listing the model's."""
    nets = declared_nets(model)
    if name not in nets:
        sys.exit(f'benchmark_train.py: --part {name!r}: '
                 f'{type(bare(model)).__name__} declares the networks '
                 f'{", ".join(map(repr, nets))}')
    return nets[name]


def part_network(model: nn.Module, name: str,
                 shape: Tuple[int, int]) -> PartNet:
    """The network ``name`` (:func:`declared_net`) as it is timed: a
    frozen teacher itself (its ``forward_features`` then
    ``forward_head``), else its backbone then its neck, in eval mode (the
    neck fed as :func:`~mmssl_kd.analysis.neck_input` finds at ``shape``;
    left out if no way fits)."""
    net = declared_net(model, name)
    part = Part(name, net.backbone, net.neck, {})
    teacher = next((m for m in model.modules() if isinstance(
        m, FrozenTeacher) and m.backbone is net.backbone), None)
    if teacher is not None:
        return PartNet(teacher, part, type(teacher).__name__,
                       'forward_features + forward_head')
    kind = type(getattr(bare(model), name, net.backbone)).__name__
    for module in (net.backbone, net.neck):
        if module is not None:
            module.eval()
    if net.neck is None:
        return PartNet(net.backbone, part, kind, 'backbone')
    adapt = neck_input(part, torch.zeros(2, 3, *shape))
    runs = ('backbone + neck' if adapt else
            'backbone (the neck left out: it takes no form of its output)')
    return PartNet(Embedding(net.backbone, net.neck if adapt else None,
                             adapt), part, kind, runs)


def timm_name(backbone: nn.Module) -> Optional[str]:
    """A timm wrapper's model name (``FoundationViT``, ``TimmBackbone``,
    MMPretrain's ``TIMMBackbone``), else None."""
    name = getattr(backbone, 'model_name', None)
    timm_model = getattr(backbone, 'timm_model', None)
    if name is None and timm_model is not None:
        name = (getattr(timm_model, 'pretrained_cfg', None) or {}).get(
            'architecture')
    return name if isinstance(name, str) else None


def weight_memory(module: nn.Module) -> Tuple[float, str]:
    """(MiB of ``module``'s parameters and buffers in their own dtypes,
    the dtypes)."""
    tensors = {id(t): t for t in itertools.chain(
        module.parameters(), module.buffers())}.values()
    mib = sum(t.numel() * t.element_size() for t in tensors) / 2**20
    dtypes = sorted({str(t.dtype).replace('torch.', '') for t in tensors})
    return mib, ', '.join(dtypes)


def first_view(model: nn.Module, cfg, args: argparse.Namespace,
               device: torch.device) -> torch.Tensor:
    """One batch (``--synthetic``'s, or the dataloader's first) through
    the model's data preprocessor, moved to ``device``: its first view."""
    if args.synthetic:
        batch = synthetic_batches(
            cfg, args.synthetic,
            args.batch_size or cfg.train_dataloader.batch_size, 1,
            args.seed, device)[0]
    else:
        batch = next(iter(set_up_data(cfg, args, device)))
    with torch.no_grad():
        views = model.data_preprocessor.to(device)(batch, True)['inputs']
    return views[0] if isinstance(views, (list, tuple)) else views


def forward_step(module: nn.Module, clock: Clock, amp: bool,
                 device: torch.device) -> Callable[[torch.Tensor], None]:
    """``module`` on a view without gradients, marked as the forward."""
    def step(view: torch.Tensor) -> None:
        clock.mark('forward')
        with torch.no_grad(), torch.autocast(
                device.type, dtype=torch.bfloat16, enabled=amp):
            module(view)
    return step


def benchmark_part(cfg, args: argparse.Namespace, device: torch.device,
                   speed: dict) -> dict:
    """``--part``: build, time and print one network's forward (see the
    module docstring).  Only the network and the data preprocessor go to
    ``device``."""
    model = load_model(cfg, 'random')
    declared_net(model, args.part)  # a wrong name stops before the data
    view = first_view(model, cfg, args, device)
    batch_size, shape = len(view), tuple(view.shape[-2:])
    net = part_network(model, args.part, shape)
    macs = part_rows(net.part, shape, Counter())[-1].flops
    params = count_params(net.module)[0]
    mib, dtypes = weight_memory(net.module)
    speed_up(model, **speed)
    net.module.to(device)
    clock = Clock(device)
    timing = time_or_exit(
        {args.part: forward_step(net.module, clock, args.amp, device)},
        {args.part: itertools.repeat(view)}, clock, args, device, speed)[0]

    backbone, neck = net.part.backbone, net.part.neck
    name = timm_name(backbone)
    modules = f'backbone {type(backbone).__name__}' + \
        (f' {name}' if name else '') + \
        (f', neck {type(neck).__name__}' if neck is not None else '')
    data = (f'1 synthetic {args.synthetic}x{args.synthetic} batch'
            if args.synthetic else 'the first batch of the dataloader')
    print(f'{args.part} of {args.config}: {net.kind} ({modules}); timed: '
          f'{net.runs} on the first view, under torch.no_grad()')
    print(f'device {on_device(device)}, batch {batch_size} of '
          f'{shape[0]}x{shape[1]} images ({data}, preprocessed once); '
          f'warm-up {args.warmup}, timed {args.iters} iterations')
    print(switches(args, speed))
    print(f'parameters: {human(params)}, weights: {mib:.2f} MiB '
          f'(parameters and buffers: {dtypes})')
    print(f'forward multiply-adds per image: {human(macs)} at '
          f'{shape[0]}x{shape[1]} (one multiply-add = 1 FLOP; element-wise '
          'operations not counted)')
    median, mean = timing.median['step'], timing.mean['step']
    rate = 1e3 * batch_size / median
    print(f'forward: {median:.2f} ms / batch median, {mean:.2f} mean; '
          f'{rate:.1f} images/s (median)')
    rss = None
    if timing.peak_mib is not None:
        print(f'peak memory: {timing.peak_mib:.0f} MiB CUDA max allocated '
              'during the timed iterations (weights, view, activations)')
    else:
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f'peak memory: {rss:.0f} MiB resident (the whole process: '
              'the whole model, the batch)')
    print(peak_share(macs, batch_size, median, args.peak_tflops, device,
                     'forward'))
    return dict(part=args.part, kind=net.kind, backbone=type(
                    backbone).__name__, model_name=name, params=params,
                weight_mib=mib, weight_dtypes=dtypes, macs=macs,
                input_size=shape, batch_size=batch_size, median_ms=median,
                mean_ms=mean, images_per_s=rate,
                peak_cuda_mib=timing.peak_mib, peak_rss_mib=rss,
                achieved_tflops=achieved_tflops(macs, batch_size, median),
                timing=timing)


if __name__ == '__main__':
    main()
