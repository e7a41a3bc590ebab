"""The command-line tools as the user runs them (subprocesses), a tiny MoCo v3
config for them, exact comparison of checkpoints, and a run trained in one
go beside one stopped and resumed (``train_full_and_resumed``)."""
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import List, Optional, Tuple

import torch

from mmssl_kd.compat import load_checkpoint_file

REPO = Path(__file__).resolve().parents[2]

# MoCoV3 (with its momentum encoder) on a small CIFAR ResNet-18, two views
# with random augmentations, loaded by a persistent worker as the configs
# ship (MMEngine's own loop: its random state would carry over from epoch 1
# in the uninterrupted run only; the project's seeds each sample, see
# mmssl_kd/engine/loops.py).
MOCO_CONFIG = """
default_scope = 'mmssl_kd'
view_pipeline = [
    dict(type='RandomResizedCrop', scale=32, crop_ratio_range=(0.3, 1.0),
         backend='pillow'),
    dict(type='RandomApply', prob=0.8, transforms=[
        dict(type='ColorJitter', brightness=0.4, contrast=0.4,
             saturation=0.2, hue=0.1)]),
    dict(type='RandomGrayscale', prob=0.2, keep_channels=True,
         channel_weights=(0.114, 0.587, 0.2989)),
    dict(type='RandomFlip', prob=0.5),
]
train_dataloader = dict(
    batch_size=4, num_workers=1, persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    collate_fn=dict(type='default_collate'),
    dataset=dict(type='CustomDataset', data_root=data_root,
                 data_prefix='train', pipeline=[
                     dict(type='LoadImageFromFile'),
                     dict(type='MultiView', num_views=2,
                          transforms=[view_pipeline]),
                     dict(type='PackInputs')]))
neck = dict(type='NonLinearNeck', num_layers=2, with_bias=False,
            with_last_bn=True, with_last_bn_affine=False,
            with_last_bias=False, norm_cfg=dict(type='BN1d'))
model = dict(
    type='MoCoV3', base_momentum=0.01,
    data_preprocessor=dict(type='SelfSupDataPreprocessor',
                           mean=[123.675, 116.28, 103.53],
                           std=[58.395, 57.12, 57.375], to_rgb=True),
    backbone=dict(type='ResNet_CIFAR', depth=18, stem_channels=8,
                  base_channels=8, norm_cfg=dict(type='BN')),
    neck=dict(neck, in_channels=64, hid_channels=32, out_channels=16,
              with_avg_pool=True),
    head=dict(type='MoCoV3Head', temperature=0.2,
              predictor=dict(neck, in_channels=16, hid_channels=32,
                             out_channels=16, with_avg_pool=False),
              loss=dict(type='CrossEntropyLoss', loss_weight=0.4)))
optim_wrapper = dict(optimizer=dict(type='AdamW', lr=1e-3, weight_decay=0.1))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=3),
    dict(type='CosineAnnealingLR', T_max=2, by_epoch=True, begin=0, end=2,
         convert_to_iter_based=True),
]
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=2)
default_hooks = dict(checkpoint=dict(type='CheckpointHook', interval=1),
                     logger=dict(type='LoggerHook', interval=1))
randomness = dict(seed=0, deterministic=True)
env_cfg = dict(cudnn_benchmark=False, dist_cfg=dict(backend='gloo'),
               mp_cfg=dict(mp_start_method='fork'))
"""

# The interrupted run must be the same 2-epoch run, stopped: a run with
# max_epochs=1 is a different run, because MoCoV3's momentum follows a cosine
# over `max_iters`.  This hook ends the process after the checkpoint of
# epoch `epoch` (or of iteration `iteration`) is written, as a crash would.
STOP_HOOK_MODULE = """
from mmengine.hooks import Hook
from mmengine.registry import HOOKS


@HOOKS.register_module()
class StopAfter(Hook):
    priority = 'LOWEST'  # after CheckpointHook

    def __init__(self, epoch=None, iteration=None):
        self.epoch = epoch
        self.iteration = iteration

    def after_train_iter(self, runner, batch_idx, data_batch=None,
                         outputs=None):
        if runner.iter + 1 == self.iteration:
            raise SystemExit(STOPPED)

    def after_train_epoch(self, runner):
        if runner.epoch + 1 == self.epoch:
            raise SystemExit(STOPPED)
"""
STOPPED = 17

STOPPED_CONFIG = """
_base_ = './moco.py'
custom_imports = dict(imports=['stop_after'], allow_failed_imports=False)
custom_hooks = _base_.get('custom_hooks', []) + [dict(type='StopAfter', {})]
"""

def write_config(path: Path, data_root: Path, body: str) -> Path:
    path.write_text(f'data_root = {str(data_root)!r}\n' + body)
    return path


def start_tool(tool: str, args: List[str], cwd: Path) -> subprocess.Popen:
    """Start ``tools/<tool>`` as a user would, from ``cwd``; one thread, as
    the test machines are small and shared."""
    env = dict(os.environ, OMP_NUM_THREADS='1',
               PYTHONPATH=os.pathsep.join([str(REPO), str(cwd)]))
    return subprocess.Popen(
        [sys.executable, str(REPO / 'tools' / tool), *map(str, args)],
        cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True)


def check(proc: subprocess.Popen, returncode: int = 0,
          timeout: int = 600) -> str:
    """Wait for ``proc``, check its exit status, return its output.  The
    timeout guards against a hang only: a run takes up to a minute and a
    half on a busy 2-core machine."""
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        raise
    assert proc.returncode == returncode, out[-3000:] + err[-3000:]
    return out + err


def assert_identical(a, b, where: str = 'checkpoint') -> None:
    """Exact equality of nested dicts/lists of tensors and plain values."""
    if isinstance(a, torch.Tensor):
        assert isinstance(b, torch.Tensor), where
        assert a.dtype == b.dtype and a.shape == b.shape, where
        assert torch.equal(a, b), f'{where} differs'
    elif isinstance(a, dict):
        assert isinstance(b, dict) and a.keys() == b.keys(), where
        for key in a:
            assert_identical(a[key], b[key], f'{where}[{key!r}]')
    elif isinstance(a, (list, tuple)):
        assert isinstance(b, (list, tuple)) and len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b)):
            assert_identical(x, y, f'{where}[{i}]')
    else:
        assert a == b, f'{where}: {a!r} != {b!r}'


def trained_batches(log: str) -> List[Tuple[int, int]]:
    """(epoch, batch) of each iteration a run logged (logger interval 1)."""
    return [(int(epoch), int(batch)) for epoch, batch in re.findall(
        r'Epoch\(train\)\s*\[\s*(\d+)\]\[\s*(\d+)/\d+\]', log)]


def last_checkpoint(work_dir: Path) -> dict:
    path = (work_dir / 'last_checkpoint').read_text().strip()
    return load_checkpoint_file(path)


def train_full_and_resumed(tmp_path: Path, data: Path, body: str,
                           stopped_extra: str = '',
                           stop_iter: Optional[int] = None
                           ) -> Tuple[str, dict, dict]:
    """Train ``body`` two epochs in one run (work dir ``full``), and in a
    run stopped after epoch 1, or after iteration ``stop_iter`` once its
    ``iter_N.pth`` is written (``stopped_extra`` added to its config), then
    resumed with ``--resume auto`` (``resumed``).  Together the stopped and
    the resumed run train each batch of the full run once, in its order.
    The resume's log and the two runs' last checkpoints."""
    config = write_config(tmp_path / 'moco.py', data, body)
    stop = 'epoch=1' if stop_iter is None else f'iteration={stop_iter}'
    stopped = write_config(tmp_path / 'moco_stopped.py', data,
                           STOPPED_CONFIG.format(stop) + stopped_extra)
    (tmp_path / 'stop_after.py').write_text(
        STOP_HOOK_MODULE.replace('STOPPED', str(STOPPED)))

    # the two runs are independent: run them side by side
    full_run = start_tool('train.py', [config, '--work-dir', 'full'],
                          tmp_path)
    stopped_run = start_tool('train.py', [stopped, '--work-dir', 'resumed'],
                             tmp_path)
    full_log = check(full_run)
    stopped_log = check(stopped_run, returncode=STOPPED)
    log = check(start_tool(
        'train.py', [config, '--work-dir', 'resumed', '--resume', 'auto'],
        tmp_path))
    assert 'resumed epoch: ' in log
    batches = trained_batches(full_log)
    assert batches and batches[-1][0] == 2
    assert trained_batches(stopped_log) + trained_batches(log) == batches
    full, resumed = (last_checkpoint(tmp_path / run)
                     for run in ('full', 'resumed'))
    assert full['meta']['iter'] == resumed['meta']['iter'] == len(batches)
    return log, full, resumed
