"""Detection transfer end to end: a tiny COCO-format set pasted from real
images (tools/dataset_converters/make_tiny_coco.py), a ResNet-50 exported by
tools/model_converters/extract_backbone.py, a few training iterations of a
configs/benchmarks/detection config at 128 px through
tools/benchmarks/mmdetection/train.sh, then COCO mAP through test.sh.

Needs mmdet with compiled mmcv ops, which live in .venv-det
(tools/setup_det_env.sh); elsewhere the module is skipped with that reason.
"""
import importlib.util
import json
import math
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from mmssl_kd.compat import load_checkpoint_file

SKIP_REASON = ('mmdet with compiled mmcv ops is not installed: run '
               'tools/setup_det_env.sh and run this test with .venv-det')
try:
    import mmdet  # noqa: F401
    from mmcv import _ext  # noqa: F401
except (ImportError, AssertionError):  # mmdet asserts its mmcv version
    pytest.skip(SKIP_REASON, allow_module_level=True)

REPO = Path(__file__).resolve().parents[2]
CONFIGS = REPO / 'configs' / 'benchmarks' / 'detection'
SCRIPTS = REPO / 'tools' / 'benchmarks' / 'mmdetection'
ITERS = 4
SIZE = 128  # canvas and input size, px


def load_tool(path: Path):
    spec = importlib.util.spec_from_file_location(path.stem, path)
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    return tool


@pytest.fixture(scope='module')
def tiny_coco(tmp_path_factory, tiny_image_folder) -> Path:
    """A COCO-format set pasted from data/cifar10 (or, without it, from the
    tiny image folder of conftest.py)."""
    source = REPO / 'data' / 'cifar10'
    if not source.is_dir():
        source = tiny_image_folder
    out = tmp_path_factory.mktemp('coco')
    load_tool(REPO / 'tools/dataset_converters/make_tiny_coco.py').main(
        [str(source), '--out', str(out), '--num-train', '8', '--num-val',
         '6', '--canvas', str(SIZE), '--seed', '0'])
    return out


@pytest.fixture(scope='module')
def backbone(tmp_path_factory) -> Path:
    """A random ResNet-50 in the exported layout: an mmssl_kd-style
    checkpoint run through extract_backbone.py."""
    from mmpretrain.models import ResNet
    torch.manual_seed(0)
    net = ResNet(depth=50)
    net.init_weights()
    folder = tmp_path_factory.mktemp('backbone')
    ckpt, out = folder / 'epoch_1.pth', folder / 'backbone.pth'
    torch.save({'state_dict': {f'backbone.{k}': v for k, v in
                               net.state_dict().items()}}, ckpt)
    load_tool(REPO / 'tools/model_converters/extract_backbone.py').main(
        [str(ckpt), str(out)])
    return out


def tiny_config(base: str, classes: list, model: str, data: Path) -> str:
    """A config that inherits ``base`` and only shrinks it: the tiny set at
    SIZE px, ITERS iterations, no validation during training, the stem and
    stage 1 frozen so that their weights stay as loaded, and ``model`` (the
    settings of ``model=dict(...)``)."""
    return f"""_base_ = [{str(CONFIGS / base)!r}]
data_root = {str(data) + '/'!r}
metainfo = dict(classes={tuple(classes)!r})
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='Resize', scale=({SIZE}, {SIZE}), keep_ratio=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs')]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=({SIZE}, {SIZE}), keep_ratio=True),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='PackDetInputs', meta_keys=('img_id', 'img_path', 'ori_shape',
                                          'img_shape', 'scale_factor'))]
train_dataloader = dict(
    batch_size=2, num_workers=0, persistent_workers=False,
    dataset=dict(data_root=data_root, metainfo=metainfo,
                 ann_file='annotations/instances_train.json',
                 data_prefix=dict(img='train/'), pipeline=train_pipeline))
test_dataloader = dict(
    batch_size=2, num_workers=0, persistent_workers=False,
    dataset=dict(data_root=data_root, metainfo=metainfo,
                 ann_file='annotations/instances_val.json',
                 data_prefix=dict(img='val/'), pipeline=test_pipeline))
test_evaluator = dict(ann_file=data_root + 'annotations/instances_val.json')
val_dataloader = None
val_cfg = None
val_evaluator = None
model = dict(backbone=dict(frozen_stages=1), {model})
train_cfg = dict(_delete_=True, type='IterBasedTrainLoop', max_iters={ITERS})
param_scheduler = [dict(type='ConstantLR', factor=1.0, by_epoch=False)]
optim_wrapper = dict(optimizer=dict(lr=0.005))
default_hooks = dict(
    logger=dict(interval=1),
    checkpoint=dict(interval={ITERS}, by_epoch=False))
log_processor = dict(by_epoch=False)
randomness = dict(seed=0)
"""


def run(script: str, *args: str) -> str:
    """Run a launch script with this Python; its output (fails the test
    with that output if the script fails)."""
    env = dict(os.environ, PYTHON=sys.executable)
    proc = subprocess.run(['bash', str(SCRIPTS / script), *args], cwd=REPO,
                          env=env, capture_output=True, text=True,
                          timeout=600)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output[-5000:]
    return output


# Each model gets the number of classes, fewer RoIs (the 4-conv box head on
# 512 RoIs per image costs most of the time), and no score threshold: a few
# iterations leave RetinaNet's scores below the default 0.05.
@pytest.mark.parametrize('base,model', [
    ('faster-rcnn_r50-fpn_8xb2-1x_coco.py',
     'roi_head=dict(bbox_head=dict(num_classes={n})), '
     'train_cfg=dict(rpn_proposal=dict(max_per_img=50), '
     'rcnn=dict(sampler=dict(num=16))), '
     'test_cfg=dict(rpn=dict(max_per_img=20), rcnn=dict(score_thr=0.0))'),
    ('retinanet_r50-fpn_8xb2-1x_coco.py',
     'bbox_head=dict(num_classes={n}), test_cfg=dict(score_thr=0.0)'),
], ids=['faster-rcnn-fpn', 'retinanet-fpn'])
def test_detector_trains_from_exported_backbone_and_gives_map(
        base, model, tiny_coco, backbone, tmp_path):
    coco = json.loads(
        (tiny_coco / 'annotations' / 'instances_train.json').read_text())
    classes = [c['name'] for c in coco['categories']]
    config = tmp_path / 'tiny.py'
    config.write_text(tiny_config(base, classes,
                                  model.format(n=len(classes)), tiny_coco))
    work_dir = tmp_path / 'work'

    log = run('train.sh', str(config), str(backbone), '--work-dir',
              str(work_dir))
    assert f'Iter(train) [{ITERS}/{ITERS}]' in log
    # every backbone tensor came from the exported file ...
    assert 'missing keys in source state_dict' not in log, log[-5000:]
    ckpt = load_checkpoint_file(str(work_dir / f'iter_{ITERS}.pth'),
                                map_location='cpu')['state_dict']
    exported = torch.load(backbone, weights_only=True)['state_dict']
    # ... and the frozen stem still holds it
    torch.testing.assert_close(ckpt['backbone.conv1.weight'],
                               exported['conv1.weight'], rtol=0, atol=0)
    assert all(torch.isfinite(v).all() for v in ckpt.values()
               if v.is_floating_point())

    out = run('test.sh', str(config), str(work_dir / f'iter_{ITERS}.pth'),
              '--work-dir', str(work_dir))
    metrics = dict(re.findall(r'^(coco/bbox_mAP\w*): (\S+)$', out, re.M))
    print(f'\n{base}: ' + ', '.join(f'{k}={v}' for k, v in metrics.items()))
    for key in ('coco/bbox_mAP', 'coco/bbox_mAP_50', 'coco/bbox_mAP_75',
                'coco/bbox_mAP_s', 'coco/bbox_mAP_m', 'coco/bbox_mAP_l'):
        value = float(metrics[key])
        # COCOeval gives -1 for a size range without ground-truth boxes
        assert math.isfinite(value) and (0 <= value <= 1 or value == -1), \
            (key, value)
    assert 0 <= float(metrics['coco/bbox_mAP']) <= 1
