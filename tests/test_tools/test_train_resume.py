"""tools/train.py and tools/test.py as the user runs them (subprocesses).

The resume tests check that an interrupted run, resumed with
``--resume auto``, ends with exactly the weights, optimizer state and
scheduler state of the uninterrupted run, with the dataloader settings the
configs ship (persistent data workers) and with ``num_workers=0``, stopped
after an epoch or inside one (``iter_N.pth``).
"""
import os
import socket

import pytest
import torch
from _helpers.tools import (
    MOCO_CONFIG,
    REPO,
    assert_identical,
    check,
    start_tool,
    train_full_and_resumed,
    write_config,
)
from mmengine.config import Config

from mmssl_kd.compat import load_checkpoint_file
from mmssl_kd.engine.work_dir import LOCK_NAME, lock_work_dir

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
    assert full['meta']['iter'] == 4


# The CPU demos of SEED, DoGo and GLSD with the dataloader settings they
# ship (two persistent workers) or in the main process, and SEED's with the
# images on the device, on the tiny image folder in batches of 2 (4
# iterations an epoch), without the kNN monitor, saving every 2 iterations;
# GLSD keeps its frozen last layer in epoch 1.
FOLDER = "dict(data_root=data_root, split='train', num_per_class=None)"
SEED_EXTRA = ("custom_hooks = []\n"
              "model = dict(queue_len=16, teacher=dict(checkpoint=None))\n")
DEMOS = {  # config, dataset, other changes
    'seed': ('seed/seed_resnet20-cifar_resnet56-cifar-sup_1xb256-coslr-1e_'
             'cifar10-demo.py', FOLDER, SEED_EXTRA),
    'dogo': ('dogo/dogo_resnet20-cifar_resnet56-cifar_1xb256-adam-1e_'
             'cifar10-demo.py', FOLDER, 'custom_hooks = []\n'),
    'glsd': ('global_local/glsd-geometric_vit-mini-p4_1xb256-coslr-5e_'
             'cifar10-demo.py', FOLDER,
             "custom_hooks = [dict(type='FreezeLastLayerHook', epochs=1)]\n"),
    'seed_device_data': (
        'seed/seed_resnet20-cifar_resnet56-cifar-sup_1xb256-coslr-1e_'
        'device-data_cifar10-demo.py',
        "dict(source=dict(data_root=data_root, split='train'))", SEED_EXTRA),
}
DEMO_BODY = """
_base_ = {config!r}
train_dataloader = dict(batch_size=2, {loader}dataset={dataset})
train_cfg = dict(max_epochs=2)
default_hooks = dict(checkpoint=dict(by_epoch=False, interval=2),
                     logger=dict(interval=1))
"""
DEMO_LOADERS = {'shipped': '',
                'main_process': 'num_workers=0, persistent_workers=False, '}
DEMO_RUNS = [('seed', 'shipped'), ('seed_device_data', 'shipped')] + [
    pytest.param(method, loader, marks=pytest.mark.slow)
    for method, loader in [('seed', 'main_process'), ('dogo', 'shipped'),
                           ('dogo', 'main_process'), ('glsd', 'shipped'),
                           ('glsd', 'main_process')]]


@pytest.mark.parametrize('method,loader', DEMO_RUNS)
def test_demo_resumes_exactly_inside_an_epoch(tmp_path, tiny_image_folder,
                                              method, loader):
    """Stopped after iteration 6 of 8, inside epoch 2: the resumed run
    trains its last 2 batches, and every tensor of the model, optimizer(s)
    and schedulers equals the uninterrupted run's."""
    config, dataset, extra = DEMOS[method]
    body = DEMO_BODY.format(config=str(REPO / 'configs' / config),
                            loader=DEMO_LOADERS[loader],
                            dataset=dataset) + extra
    log, full, resumed = train_full_and_resumed(
        tmp_path, tiny_image_folder, body, stop_iter=6)
    loader_cfg = Config.fromfile(str(tmp_path / 'moco.py')).train_dataloader
    if loader == 'shipped':
        assert loader_cfg.num_workers > 0 and loader_cfg.persistent_workers
    assert 'Resuming inside epoch 2: its first 2 of 4 batches' in log
    for key in ('state_dict', 'optimizer', 'param_schedulers'):
        assert_identical(full[key], resumed[key], key)


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


def test_train_tool_keeps_a_used_work_dir(trained_classifier, tmp_path):
    """A fresh run into a work dir with checkpoints stops before writing
    anything; a run into a work dir that a running run holds stops naming
    it; ``--overwrite-checkpoints`` starts the fresh run."""
    config, checkpoint = trained_classifier
    work = checkpoint.parent
    saved, entries = checkpoint.read_bytes(), set(os.listdir(work))
    log = check(start_tool('train.py', [config, '--work-dir', work],
                           tmp_path), returncode=1)
    assert f'tools/train.py: {work} holds the checkpoints of an earlier ' \
        'run (epoch_1.pth, last_checkpoint), which a fresh run would ' \
        'overwrite. Pass --resume' in log
    assert checkpoint.read_bytes() == saved
    assert set(os.listdir(work)) == entries | {LOCK_NAME}  # nothing new

    lock = lock_work_dir(str(work))  # a run in progress
    try:
        log = check(start_tool(
            'train.py', [config, '--work-dir', work, '--resume'], tmp_path),
            returncode=1)
    finally:
        lock.close()
    assert f'{work} is in use by another training run: pid {os.getpid()} ' \
        f'on {socket.gethostname()}, started ' in log

    check(start_tool('train.py', [config, '--work-dir', work,
                                  '--overwrite-checkpoints'], tmp_path))
    assert checkpoint.read_bytes() != saved  # the new run's


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
