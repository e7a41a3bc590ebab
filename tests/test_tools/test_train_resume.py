"""tools/train.py and tools/test.py as the user runs them (subprocesses).

The resume test checks that an interrupted run, resumed with
``--resume auto``, ends with exactly the weights, optimizer state and
scheduler state of the uninterrupted run.
"""
import os
import subprocess
import sys
from pathlib import Path
from typing import List, Tuple

import pytest
import torch

from mmssl_kd.compat import load_checkpoint_file

REPO = Path(__file__).resolve().parents[2]

# MoCoV3 (with its momentum encoder) on a small CIFAR ResNet-18, two views
# with random augmentations.  Data loading runs in one worker that is
# restarted every epoch (persistent_workers=False): MMEngine seeds each new
# worker from the config seed, so epoch 2 draws the same augmentations
# whether or not the run was resumed.  With num_workers=0 the augmentations
# would draw from the main process's RNG, whose state a checkpoint does not
# hold; with persistent workers the worker's RNG would carry over from
# epoch 1 in the uninterrupted run only.
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
    batch_size=4, num_workers=1, persistent_workers=False,
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

# DoGo: two peers, each with its own optimizer (Adam and SGD with momentum,
# so both optimizer states matter) and the same schedule; the augmentations
# and data loading as in the MoCo config.
DOGO_CONFIG = MOCO_CONFIG.split('neck = dict(')[0] + """
train_dataloader['dataset']['pipeline'][1]['num_views'] = 4
neck = dict(type='NonLinearNeck', hid_channels=32, out_channels=16,
            num_layers=2, with_bias=False, with_last_bn=False,
            with_last_bias=True, with_avg_pool=True,
            norm_cfg=dict(type='BN1d'))
model = dict(
    type='DoGo',
    data_preprocessor=dict(type='SelfSupDataPreprocessor',
                           mean=[123.675, 116.28, 103.53],
                           std=[58.395, 57.12, 57.375], to_rgb=True),
    model1=dict(backbone=dict(type='ResNet_CIFAR', depth=18, stem_channels=8,
                              base_channels=8, norm_cfg=dict(type='BN')),
                neck=dict(neck, in_channels=64)),
    model2=dict(backbone=dict(type='CIFARResNet', depth=20),
                neck=dict(neck, in_channels=64)))
optim_wrapper = dict(
    constructor='PartsOptimWrapperConstructor',
    model1=dict(optimizer=dict(type='Adam', lr=1e-3, weight_decay=1e-6)),
    model2=dict(optimizer=dict(type='SGD', lr=0.05, momentum=0.9)))
""" + MOCO_CONFIG[MOCO_CONFIG.index('param_scheduler'):]

# MOKD: a CIFAR ResNet-20 and a small ViT, each with an EMA teacher, a DINO
# head and a T-Head (six centres), SGD for the CNN and AdamW for the ViT
# with a schedule each; 2 global + 2 local crops.
MOKD_CONFIG = MOCO_CONFIG.split('neck = dict(')[0] + """
train_dataloader['dataset']['pipeline'][1] = dict(
    type='MultiView', num_views=[2, 2], transforms=[
        view_pipeline,
        [dict(view_pipeline[0], scale=16)] + view_pipeline[1:]])
head = dict(type='DINOHead', out_channels=16, hidden_channels=16,
            bottleneck_channels=8)
thead = dict(type='TransformerHead', embed_dims=24, out_channels=16,
             num_blocks=1, num_heads=2, grid=(8, 8))
model = dict(
    type='MOKD',
    data_preprocessor=dict(type='SelfSupDataPreprocessor',
                           mean=[123.675, 116.28, 103.53],
                           std=[58.395, 57.12, 57.375], to_rgb=True),
    cnn=dict(backbone=dict(type='CIFARResNet', depth=20),
             neck=dict(head, in_channels=64),
             head=dict(thead, in_channels=64)),
    vit=dict(backbone=dict(type='VisionTransformer',
                           arch=dict(embed_dims=24, num_layers=2,
                                     num_heads=2, feedforward_channels=48),
                           img_size=32, patch_size=4, out_type='raw'),
             neck=dict(head, in_channels=24),
             head=dict(thead, in_channels=24)),
    loss=dict(type='DINOLoss', out_channels=16, teacher_temp=0.07,
              warmup_teacher_temp=0.04),
    cnn_warmup_epochs=2, vit_warmup_epochs=2, base_momentum=0.1)
optim_wrapper = dict(
    constructor='PartsOptimWrapperConstructor',
    cnn=dict(optimizer=dict(type='SGD', lr=0.05, momentum=0.9)),
    vit=dict(optimizer=dict(type='AdamW', lr=1e-3, weight_decay=0.04)))
param_scheduler = dict(
    cnn=[dict(type='CosineAnnealingLR', T_max=2, by_epoch=True, begin=0,
              end=2, convert_to_iter_based=True)],
    vit=[dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0,
              end=3)])
""" + MOCO_CONFIG[MOCO_CONFIG.index('train_cfg'):]

# The interrupted run must be the same 2-epoch run, stopped: a run with
# max_epochs=1 is a different run, because MoCoV3's momentum follows a cosine
# over `max_iters`.  This hook ends the process after the checkpoint of
# epoch `epoch` is written, as a crash would.
STOP_HOOK_MODULE = """
from mmengine.hooks import Hook
from mmengine.registry import HOOKS


@HOOKS.register_module()
class StopAfterEpoch(Hook):
    priority = 'LOWEST'  # after CheckpointHook

    def __init__(self, epoch):
        self.epoch = epoch

    def after_train_epoch(self, runner):
        if runner.epoch + 1 == self.epoch:
            raise SystemExit(STOPPED)
"""
STOPPED = 17

STOPPED_CONFIG = """
_base_ = './moco.py'
custom_imports = dict(imports=['stop_after_epoch'],
                      allow_failed_imports=False)
custom_hooks = [dict(type='StopAfterEpoch', epoch=1)]
"""

CLASSIFIER_CONFIG = """
default_scope = 'mmssl_kd'
pipeline = [dict(type='LoadImageFromFile'),
            dict(type='Resize', scale=32),
            dict(type='PackInputs')]
train_dataloader = dict(
    batch_size=4, num_workers=0,
    sampler=dict(type='DefaultSampler', shuffle=True),
    collate_fn=dict(type='default_collate'),
    dataset=dict(type='CustomDataset', data_root=data_root,
                 data_prefix='train', pipeline=pipeline))
test_dataloader = dict(train_dataloader,
                       sampler=dict(type='DefaultSampler', shuffle=False),
                       dataset=dict(train_dataloader['dataset'],
                                    data_prefix='test'))
test_evaluator = dict(type='Accuracy', topk=(1, ))
test_cfg = dict()
model = dict(
    type='ImageClassifier',
    data_preprocessor=dict(type='ClsDataPreprocessor', num_classes=2,
                           mean=[123.675, 116.28, 103.53],
                           std=[58.395, 57.12, 57.375], to_rgb=True),
    backbone=dict(type='ResNet_CIFAR', depth=18, stem_channels=8,
                  base_channels=8, norm_cfg=dict(type='BN')),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(type='LinearClsHead', num_classes=2, in_channels=64,
              loss=dict(type='CrossEntropyLoss')))
optim_wrapper = dict(optimizer=dict(type='SGD', lr=0.05, momentum=0.9))
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=1)
randomness = dict(seed=0)
"""


class _RunsCode:
    """Unpickling this runs ``source``."""

    def __init__(self, source: str):
        self.source = source

    def __reduce__(self):
        return exec, (self.source,)


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
          timeout: int = 120) -> str:
    """Wait for ``proc``, check its exit status, return its output."""
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


def train_full_and_resumed(tmp_path: Path, data: Path, body: str,
                           stopped_extra: str = '') -> Tuple[str, dict, dict]:
    """Train ``body`` two epochs in one run (work dir ``full``), and in a
    run stopped after epoch 1 (``stopped_extra`` added to its config), then
    resumed with ``--resume auto`` (``resumed``).  The resume's log and the
    two runs' ``epoch_2.pth``."""
    config = write_config(tmp_path / 'moco.py', data, body)
    stopped = write_config(tmp_path / 'moco_stopped.py', data,
                           STOPPED_CONFIG + stopped_extra)
    (tmp_path / 'stop_after_epoch.py').write_text(
        STOP_HOOK_MODULE.replace('STOPPED', str(STOPPED)))

    # the two runs are independent: run them side by side
    full_run = start_tool('train.py', [config, '--work-dir', 'full'],
                          tmp_path)
    stopped_run = start_tool('train.py', [stopped, '--work-dir', 'resumed'],
                             tmp_path)
    check(full_run)
    check(stopped_run, returncode=STOPPED)
    assert not (tmp_path / 'resumed' / 'epoch_2.pth').exists()
    log = check(start_tool(
        'train.py', [config, '--work-dir', 'resumed', '--resume', 'auto'],
        tmp_path))
    assert 'resumed epoch: 1' in log
    assert 'Epoch(train) [1]' not in log  # epoch 1 was not trained again
    return log, *(load_checkpoint_file(str(tmp_path / run / 'epoch_2.pth'))
                  for run in ('full', 'resumed'))


@pytest.mark.parametrize('body,extra_state', [
    (MOCO_CONFIG, ('momentum_encoder.', )),
    (DOGO_CONFIG, ('peer.', )),
    (MOKD_CONFIG, ('peer.', 'teacher.', 'peer_teacher.', 'losses.')),
], ids=['mocov3', 'dogo', 'mokd'])
def test_resume_is_exact(tmp_path, tiny_image_folder, body, extra_state):
    """Every tensor of the model, optimizer(s) and schedulers equal."""
    _, full, resumed = train_full_and_resumed(tmp_path, tiny_image_folder,
                                              body)
    for prefix in extra_state:  # momentum encoder, peers, teachers, centres
        assert any(k.startswith(prefix) for k in full['state_dict']), prefix
    parts = {DOGO_CONFIG: ('model1', 'model2'), MOKD_CONFIG: ('cnn', 'vit')}
    if body in parts:  # one optimizer state per part, each stepped
        assert set(full['optimizer']) == set(parts[body])
        assert all(full['optimizer'][key]['state'] for key in parts[body])
    for key in ('state_dict', 'optimizer', 'param_schedulers'):
        assert_identical(full[key], resumed[key], key)
    assert full['meta']['iter'] == resumed['meta']['iter'] == 4


def test_resume_from_missing_file_fails_early(tmp_path, tiny_image_folder):
    config = write_config(tmp_path / 'moco.py', tiny_image_folder,
                          MOCO_CONFIG)
    log = check(start_tool('train.py',
                           [config, '--resume', '/missing/epoch_3.pth'],
                           tmp_path), returncode=2)
    assert "'/missing/epoch_3.pth' does not exist" in log
    assert not (tmp_path / 'work_dirs').exists()  # nothing was started


@pytest.fixture(scope='module')
def trained_classifier(tmp_path_factory, tiny_image_folder):
    """(config, checkpoint) of a classifier trained 1 epoch by train.py;
    the default work dir is ``work_dirs/<config name>``."""
    root = tmp_path_factory.mktemp('classifier')
    config = write_config(root / 'classifier.py', tiny_image_folder,
                          CLASSIFIER_CONFIG)
    check(start_tool('train.py', [config], root))
    checkpoint = root / 'work_dirs' / 'classifier' / 'epoch_1.pth'
    assert checkpoint.is_file()
    return config, checkpoint


def test_test_tool_prints_accuracy(trained_classifier, tmp_path):
    config, checkpoint = trained_classifier
    out = tmp_path / 'preds.pkl'
    log = check(start_tool(
        'test.py', [config, checkpoint, '--out', out, '--work-dir', 'tested'],
        tmp_path))
    assert 'accuracy/top1: ' in log
    assert out.is_file() and (tmp_path / 'tested').is_dir()


def test_test_tool_trusts_only_named_checkpoint(trained_classifier, tmp_path):
    """A checkpoint with code in it is refused unless --trust-checkpoint."""
    config, checkpoint = trained_classifier
    marker = tmp_path / 'ran'
    ckpt = load_checkpoint_file(str(checkpoint))
    ckpt['meta']['note'] = _RunsCode(f'open({str(marker)!r}, "w").close()')
    evil = tmp_path / 'evil.pth'
    torch.save(ckpt, evil)

    log = check(start_tool('test.py', [config, evil], tmp_path),
                returncode=1)
    assert 'UntrustedCheckpointError' in log and 'exec' in log
    assert not marker.exists()

    log = check(start_tool(
        'test.py', [config, evil, '--trust-checkpoint', evil], tmp_path))
    assert 'accuracy/top1: ' in log and marker.exists()
