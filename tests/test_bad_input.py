"""Bad input fails early with a message that names the bad thing and says
what to do: one test per row of docs/troubleshooting.md."""
import argparse
import importlib.util
import sys
import warnings
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
import torch.nn as nn
from mmengine.config import Config, DictAction
from mmengine.model import BaseModel
from mmengine.registry import init_default_scope
from torch.utils.data import DataLoader

from mmssl_kd.cli import (
    add_config_arguments,
    build_model,
    check_config_keys,
    check_resume_checkpoint,
    config_error_hints,
    load_config,
)
from mmssl_kd.datasets import ImageFolder
from mmssl_kd.engine import Runner
from mmssl_kd.models import FrozenTeacher
from mmssl_kd.registry import DATASETS, MODELS, TRANSFORMS

REPO = Path(__file__).resolve().parents[1]
DIM = 16
BACKBONE = dict(type='CIFARResNet', depth=20)
NECK = dict(type='MoCoV2Neck', in_channels=64, hid_channels=64,
            out_channels=DIM)


@pytest.fixture(autouse=True)
def scope():
    init_default_scope('mmssl_kd')


def seed_cfg(**kwargs) -> dict:
    return dict(dict(type='SEED', backbone=BACKBONE, neck=NECK,
                     teacher=dict(type='FrozenTeacher', backbone=BACKBONE,
                                  neck=NECK),
                     queue_len=32), **kwargs)


def images(num: int = 2, size: int = 32) -> torch.Tensor:
    return torch.randn(num, 3, size, size,
                       generator=torch.Generator().manual_seed(0))


# ---------------------------------------------------------------------------
# data


@pytest.mark.parametrize('case,problem', [('missing', 'does not exist'),
                                          ('empty', 'is empty')])
def test_missing_or_empty_data_folder(tmp_path, case, problem):
    root = tmp_path / 'cifar10'
    if case == 'empty':
        root.mkdir()
    with pytest.raises(FileNotFoundError) as err:
        ImageFolder(data_root=str(root), split='train')
    msg = str(err.value)
    assert repr(str(root)) in msg and problem in msg
    assert 'ln -s ../shared/data data' in msg  # where the data goes


def _bad_image(path: Path, kind: str) -> None:
    img = np.random.default_rng(0).integers(0, 255, (32, 32, 3), np.uint8)
    if kind == 'empty':
        path.write_bytes(b'')
    elif kind == 'not an image':
        path.write_bytes(b'<html>403 Forbidden</html>')
    else:  # a download cut in half
        ok, data = cv2.imencode(path.suffix, img)
        path.write_bytes(data.tobytes()[:len(data) // 2])


@pytest.mark.parametrize('backend', ['cv2', 'pillow'])
@pytest.mark.parametrize('name,kind', [
    ('cut.jpg', 'truncated'), ('cut.png', 'truncated'),
    ('page.jpg', 'not an image'), ('zero.jpg', 'empty')])
def test_unreadable_image_names_the_file(tmp_path, backend, name, kind):
    folder = tmp_path / 'train' / 'class_a'
    folder.mkdir(parents=True)
    cv2.imwrite(str(folder / 'good.jpg'), np.zeros((8, 8, 3), np.uint8))
    _bad_image(folder / name, kind)
    dataset = DATASETS.build(dict(
        type='ImageFolder', data_root=str(tmp_path), split='train',
        pipeline=[dict(type='LoadImageFromFile',
                       imdecode_backend=backend)]))
    index = [Path(dataset.get_data_info(i)['img_path']).name
             for i in range(len(dataset))].index(name)
    assert dataset[1 - index]['img'].shape == (8, 8, 3)
    with pytest.raises(OSError) as err:
        dataset[index]
    msg = str(err.value)
    assert repr(str(folder / name)) in msg
    assert 'empty, truncated or not an image' in msg and 'Replace' in msg


def test_project_loader_is_the_default():
    assert TRANSFORMS.get('LoadImageFromFile').__module__ == \
        'mmssl_kd.datasets.transforms.loading'


# ---------------------------------------------------------------------------
# teachers


def test_missing_teacher_checkpoint(tmp_path):
    path = tmp_path / 'resnet56.pth'
    with pytest.raises(FileNotFoundError) as err:
        FrozenTeacher(backbone=BACKBONE, checkpoint=str(path))
    assert repr(str(path)) in str(err.value)
    assert 'model.teacher.checkpoint' in str(err.value)


def test_teacher_checkpoint_with_mismatched_keys(tmp_path):
    """A backbone-only file with a stray key, for a teacher with a neck."""
    state = {f'backbone.{k}': v for k, v in
             MODELS.build(BACKBONE).state_dict().items()}
    state['projector.weight'] = torch.zeros(3)
    path = tmp_path / 'teacher.pth'
    torch.save({'state_dict': state}, path)
    with pytest.raises(RuntimeError) as err:
        FrozenTeacher(backbone=BACKBONE, neck=NECK, checkpoint=str(path),
                      source='state_dict')
    msg = str(err.value)
    assert repr(str(path)) in msg
    assert '4 missing keys' in msg and 'neck.mlp.0.weight' in msg
    assert '1 unexpected keys' in msg and 'projector.weight' in msg
    assert 'prefix_map' in msg and 'strict=False' in msg  # the fixes


def test_teacher_embedding_size_differs_from_the_student():
    with pytest.raises(ValueError) as err:
        MODELS.build(seed_cfg(teacher=dict(
            type='FrozenTeacher', backbone=BACKBONE,
            neck=dict(NECK, out_channels=8))))
    msg = str(err.value)
    assert 'the student head gives 16, the teacher gives 8' in msg
    assert "neck's out_channels (model.neck) to 8" in msg
    assert 'model.teacher.neck' in msg


# ---------------------------------------------------------------------------
# model settings


def test_queue_shorter_than_the_global_batch():
    model = MODELS.build(seed_cfg(queue_len=4))
    with pytest.raises(ValueError) as err:
        model.loss([images(6)], None)
    msg = str(err.value)
    assert 'queue_len=4 is shorter than the global batch 6' in msg
    assert 'batch 6 per process x 1 process' in msg
    assert 'model.queue_len >= 6' in msg
    assert model.loss([images(4)], None)['loss'].isfinite()  # K = batch


@pytest.mark.parametrize('model,bad,good', [
    (seed_cfg(queue_lenn=64), 'queue_lenn', 'queue_len'),
    (seed_cfg(neck=dict(NECK, out_channel=DIM)), 'out_channel',
     'out_channels'),
    (seed_cfg(teacher=dict(type='FrozenTeacher', backbone=BACKBONE,
                           checkpont='teacher.pth')), 'checkpont',
     'checkpoint'),
])
def test_misspelled_model_key_suggests_the_closest(model, bad, good):
    with pytest.raises(TypeError) as err:
        build_model(Config(dict(model=model)))
    msg = str(err.value)
    assert f'`{bad}`' in msg and f'Did you mean `{good}`?' in msg


def test_misspelled_key_of_a_dataset_or_transform(tiny_image_folder):
    """``splitt`` reaches ``BaseDataset`` through ``**kwargs``: still the
    dataset's own arguments are offered."""
    with pytest.raises(TypeError, match='Did you mean `split`'), \
            config_error_hints():
        DATASETS.build(dict(type='ImageFolder',
                            data_root=str(tiny_image_folder), splitt='test'))
    with pytest.raises(TypeError, match='Did you mean `scale`'), \
            config_error_hints():
        TRANSFORMS.build(dict(type='RandomResizedCrop', scal=32))


def test_misspelled_top_level_key_warns(tmp_path):
    path = tmp_path / 'typo.py'
    path.write_text("model = dict(type='SEED')\n"
                    "train_cfgg = dict(max_epochs=1)\n"
                    "view_pipeline = []\n")
    with pytest.warns(UserWarning) as record:
        load_config(str(path))
    messages = [str(w.message) for w in record if 'Config key' in
                str(w.message)]
    assert messages == ['Config key `train_cfgg` is read by nothing; did '
                        'you mean `train_cfg`?']


def test_no_recipe_has_a_misspelled_top_level_key():
    with warnings.catch_warnings():
        warnings.filterwarnings('error', message='Config key')
        for path in sorted((REPO / 'configs').rglob('*.py')):
            if '_base_' not in path.parts:
                load_config(str(path))


@pytest.mark.parametrize('cfg,message', [
    (dict(default_hooks=dict(checkpoint=dict(type='CheckpointHook',
                                             intervl=2))),
     'Config key `default_hooks.checkpoint.intervl` is not read by '
     'CheckpointHook (it hands its other keys to Runner.save_checkpoint, '
     'which would fail at the first save). Did you mean `interval`? Valid '
     'keys: interval, by_epoch, '),
    (dict(custom_hooks=[dict(type='EMAHook', momentm=0.01)]),
     'Config key `custom_hooks[0].momentm` is not read by EMAHook. Did you '
     'mean `momentum`? Valid keys: ema_type, '),
    (dict(train_dataloader=dict(batch_sise=8)),
     "Config key `train_dataloader.batch_sise` is not read by the Runner's "
     'dataloader. Did you mean `batch_size`? Valid keys: dataset, '
     'batch_size, '),
    (dict(custom_hooks=[dict(type='KNNHook', bank_dataloader=dict(
        num_worker=2))]),
     'Config key `custom_hooks[0].bank_dataloader.num_worker` is not read '
     "by the Runner's dataloader. Did you mean `num_workers`?"),
    (dict(env_cfg=dict(cudnn_benchmrk=True)),
     'Config key `env_cfg.cudnn_benchmrk` is not read by the Runner (it '
     'would be ignored). Did you mean `cudnn_benchmark`? Valid keys: '
     'cudnn_benchmark, mp_cfg, dist_cfg, resource_limit.'),
])
def test_unknown_key_of_a_hook_dataloader_or_env_cfg(cfg, message):
    """Keys that a ``**kwargs`` or a plain dict would take silently."""
    with pytest.raises(ValueError) as err:
        check_config_keys(Config(cfg))
    assert str(err.value).startswith(message)


def test_known_keys_pass_and_all_unknown_keys_are_listed():
    check_config_keys(Config(dict(
        default_hooks=dict(checkpoint=dict(
            type='CheckpointHook', interval=2, priority='VERY_LOW'),
            logger=None),
        custom_hooks=[dict(type='EMAHook', momentum=0.01, update_buffers=True),
                      dict(type='CollapseMonitorHook')],
        train_dataloader=dict(batch_size=2, num_batch_per_epoch=3,
                              sampler=dict(type='DefaultSampler')),
        env_cfg=dict(cudnn_benchmark=True, dist_cfg=dict(backend='gloo')))))
    with pytest.raises(ValueError) as err:
        check_config_keys(Config(dict(
            train_dataloader=dict(batch_sise=2, shufle=True),
            env_cfg=dict(cudnn_benchmrk=True))))
    assert [line.split('`')[1] for line in str(err.value).splitlines()] == [
        'train_dataloader.batch_sise', 'train_dataloader.shufle',
        'env_cfg.cudnn_benchmrk']


def test_no_recipe_has_an_unknown_key():
    for path in sorted((REPO / 'configs').rglob('*.py')):
        if '_base_' not in path.parts:
            cfg = load_config(str(path))
            init_default_scope(cfg.get('default_scope', 'mmssl_kd'))
            check_config_keys(cfg)


def test_train_refuses_an_unknown_key_before_training(tmp_path, monkeypatch,
                                                       tiny_image_folder):
    """``tools/train.py`` stops when the Runner is built: no iteration, no
    checkpoint (the misspelled key failed at the first save)."""
    pipeline = [dict(type='LoadImageFromFile'),
                dict(type='MultiView', num_views=1,
                     transforms=[[dict(type='RandomFlip', prob=0.5)]]),
                dict(type='PackInputs')]
    config = ("default_scope = 'mmssl_kd'\n"
              f'model = {seed_cfg(queue_len=64)!r}\n'
              'train_dataloader = dict(batch_size=2, dataset=dict('
              f"type='ImageFolder', data_root={str(tiny_image_folder)!r}, "
              f"pipeline={pipeline!r}), sampler=dict(type='DefaultSampler'), "
              "collate_fn=dict(type='default_collate'))\n"
              "optim_wrapper = dict(optimizer=dict(type='SGD', lr=0.1))\n"
              "train_cfg = dict(type='IterBasedTrainLoop', max_iters=1)\n"
              "default_hooks = dict(checkpoint=dict(type='CheckpointHook', "
              'interval=1, by_epoch=False))\n')
    (tmp_path / 'seed.py').write_text(config)
    monkeypatch.setattr(sys, 'argv', [
        'train.py', str(tmp_path / 'seed.py'), '--work-dir',
        str(tmp_path / 'run'), '--cfg-options',
        'default_hooks.checkpoint.intervl=1'])
    with pytest.raises(ValueError, match='Did you mean `interval`'):
        _train_tool().main()
    assert not list((tmp_path / 'run').glob('*.pth'))


# ---------------------------------------------------------------------------
# batch size


class WithBatchNorm(BaseModel):
    """A linear layer and a BatchNorm1d: fails on a batch of one."""

    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(4, 4), nn.BatchNorm1d(4))

    def forward(self, inputs, data_samples=None, mode='tensor'):
        return dict(loss=self.net(inputs).pow(2).mean())


def toy_runner(work_dir: Path, samples: int, batch_size: int,
               drop_last: bool = False, name: str = 'toy.py',
               by_epoch: bool = True, **kwargs) -> Runner:
    """The project's Runner on ``samples`` random vectors, one epoch (or
    two iterations), its config named ``name``."""
    data = [dict(inputs=torch.randn(4)) for _ in range(samples)]
    loop = (dict(by_epoch=True, max_epochs=1) if by_epoch else
            dict(by_epoch=False, max_iters=2))
    return Runner(
        model=WithBatchNorm(), work_dir=str(work_dir),
        train_dataloader=DataLoader(data, batch_size=batch_size,
                                    drop_last=drop_last),
        train_cfg=loop,
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.1)),
        cfg=Config(dict(), cfg_text='# a toy\n',
                   filename=str(work_dir / name)),
        experiment_name=f'toy_{work_dir.name}', default_scope='mmssl_kd',
        **kwargs)


def log_text(work_dir: Path) -> str:
    return ''.join(p.read_text() for p in work_dir.glob('*/*.log'))


@pytest.mark.parametrize('by_epoch', [True, False])
def test_batch_larger_than_the_dataset(tmp_path, by_epoch):
    """MMEngine trained nothing, saved epoch_1.pth and exited with 0 (the
    iteration-based loop stopped on a bare StopIteration)."""
    runner = toy_runner(tmp_path, samples=10, batch_size=16, drop_last=True,
                        by_epoch=by_epoch)
    with pytest.raises(ValueError) as err:
        runner.train()
    assert str(err.value) == (
        'train_dataloader gives no batch, so the run would train nothing: '
        'its dataset has 10 samples; each of the 1 process(es) gets 10, '
        'fewer than batch_size=16 (a batch per process), and drop_last=True '
        'drops that short batch. Lower train_dataloader.batch_size to at '
        'most 10, set train_dataloader.drop_last=False, or use more data (or '
        'fewer processes).')
    assert not list(tmp_path.glob('*.pth'))  # MMEngine saved epoch_1.pth


def test_empty_dataset(tmp_path):
    with pytest.raises(ValueError, match='its dataset is empty. Check '
                       r'train_dataloader.dataset \(data_root'):
        toy_runner(tmp_path, samples=0, batch_size=2).train()


@pytest.mark.parametrize('name,auto_scale_lr,warning', [
    ('toy_8xb2-coslr-1e_demo.py', None,
     'The global batch is 2 (2 per process x 1 process(es)), but the config '
     'was written for 8 process(es) x 2 (8xb2 in its name). The learning '
     "rate is the config's, tuned for 16: set auto_scale_lr = "
     'dict(base_batch_size=16) and pass --auto-scale-lr to scale it by '
     '2/16, or run with a global batch of 16.'),
    ('toy.py', dict(base_batch_size=8),
     'The global batch is 2 (2 per process x 1 process(es)), but the config '
     'was written for a global batch of 8 (auto_scale_lr.base_batch_size). '
     "The learning rate is the config's, tuned for 8: pass --auto-scale-lr "
     'to scale it by 2/8, or run with a global batch of 8.'),
    ('toy_1xb2-coslr-1e_demo.py', dict(base_batch_size=2), None),
    ('toy_8xb2-coslr-1e_demo.py', dict(base_batch_size=16, enable=True),
     None),  # --auto-scale-lr: the learning rate is scaled
    ('toy.py', None, None),
])
def test_global_batch_not_the_configs(tmp_path, name, auto_scale_lr,
                                      warning):
    """An N-GPU config run on M processes changed the global batch (and
    so the meaning of its learning rate) without a word."""
    toy_runner(tmp_path, samples=4, batch_size=2, name=name,
               auto_scale_lr=auto_scale_lr).train()
    log = log_text(tmp_path)
    if warning is None:
        assert 'The global batch' not in log
    else:
        assert warning in log


@pytest.mark.parametrize('samples,batch_size,advice', [
    (4, 1, 'batch_size=1 per process x 1 process(es). Set '
     'train_dataloader.batch_size to 2 or more.'),
    (5, 2, "batch_size=2 per process x 1 process(es); with drop_last=False "
     "the epoch's last batch holds 5 % 2 = 1 sample. Set "
     'train_dataloader.batch_size to 2 or more, or '
     'train_dataloader.drop_last=True.'),
])
def test_batchnorm_on_one_sample(tmp_path, samples, batch_size, advice):
    with pytest.raises(ValueError) as err:
        toy_runner(tmp_path, samples, batch_size).train()
    message = str(err.value)
    assert message.startswith('Expected more than 1 value per channel')
    assert message.endswith(
        '\nA BatchNorm layer in training mode got one sample, and it needs '
        'at least 2 per process. The train dataloader gives ' + advice)


# ---------------------------------------------------------------------------
# --cfg-options


def cfg_options(*values: str, action=None) -> dict:
    """``--cfg-options VALUES`` as every tool parses them (or with
    ``action``)."""
    parser = argparse.ArgumentParser()
    if action is None:
        add_config_arguments(parser)
    else:
        parser.add_argument('--cfg-options', nargs='+', action=action)
    return parser.parse_args(['--cfg-options', *values]).cfg_options


@pytest.mark.parametrize('value,expected', [
    ('/x/my ckpt.pth', '/x/my ckpt.pth'),
    ('"/x/my ckpt.pth"', '/x/my ckpt.pth'),
    (' data/my data ', 'data/my data'),
    ('[/a b/c.pth, d]', ['/a b/c.pth', 'd']),
    ('(my model, 2)', ('my model', 2)),
])
def test_cfg_options_keep_spaces_inside_values(value, expected):
    """MMEngine's DictAction deleted them: ``/x/myckpt.pth``."""
    assert cfg_options(f'load_from={value}') == {'load_from': expected}
    assert cfg_options(f'load_from={value}', action=DictAction) != {
        'load_from': expected}


@pytest.mark.parametrize('value', [
    '[a,b]', '[a, b]', 'a,b', '1', '-2', '1.5', '1e-3', 'True', 'false',
    'None', '(1,2)', '"(1,2)"', '( 1 , 2 )', "'x'", '[(1, 2), [a, b], c]',
    '"[(1,2),[a,b],c]"', 'data/cifar10', '[]'])
def test_cfg_options_parse_as_mmengine_does(value):
    assert cfg_options(f'key={value}') == cfg_options(f'key={value}',
                                                      action=DictAction)


# ---------------------------------------------------------------------------
# views

TWO_VIEW_NECK = dict(type='NonLinearNeck', in_channels=64, hid_channels=32,
                     out_channels=DIM, num_layers=2, with_avg_pool=True,
                     norm_cfg=dict(type='BN1d'))
TINY_VIT = dict(arch=dict(embed_dims=24, num_layers=2, num_heads=2,
                          feedforward_channels=48),
                img_size=16, patch_size=4)
PEER = dict(backbone=BACKBONE, neck=TWO_VIEW_NECK)
PREDICTOR = dict(TWO_VIEW_NECK, in_channels=DIM, with_avg_pool=False)
ALGORITHMS = {
    'SEED': (seed_cfg(), 2, 'expects 1 view per image, got 2',
             'MultiView(num_views=1)'),
    'DoGo': (dict(type='DoGo', model1=PEER, model2=PEER), 2,
             'DoGo with 2 peer(s) expects 4 views per image, got 2',
             'MultiView(num_views=4) (2 per peer)'),
    'SDSSL': (dict(type='SDSSL', backbone=dict(TINY_VIT,
                                               type='MultiLayerCLSViT'),
                   neck=dict(TWO_VIEW_NECK, in_channels=24,
                             with_avg_pool=False),
                   base='simclr'), 1, 'expects 2 views per image, got 1',
              'MultiView(num_views=2)'),
    'DINO': (dict(type='DINO',
                  backbone=dict(TINY_VIT, type='VisionTransformer',
                                out_type='cls_token'),
                  neck=dict(type='DINOHead', in_channels=24, out_channels=32,
                            hidden_channels=16, bottleneck_channels=8),
                  loss=dict(type='DINOLoss', out_channels=32)), 2,
             'expects at least 3 views per image, got 2',
             'the 2 global crops and at least one more'),
    'MoCoV3': (dict(type='MoCoV3', backbone=BACKBONE, neck=TWO_VIEW_NECK,
                    head=dict(type='MoCoV3Head', predictor=PREDICTOR,
                              loss=dict(type='CrossEntropyLoss'))), 1,
               'expects 2 views per image, got 1', 'MultiView(num_views=2)'),
    'SimCLR': (dict(type='SimCLR', backbone=BACKBONE, neck=TWO_VIEW_NECK,
                    head=dict(type='ContrastiveHead',
                              loss=dict(type='CrossEntropyLoss'))), 3,
               'expects 2 views per image, got 3', 'MultiView(num_views=2)'),
    'BYOL': (dict(type='BYOL', backbone=BACKBONE, neck=TWO_VIEW_NECK,
                  head=dict(type='LatentPredictHead', predictor=PREDICTOR,
                            loss=dict(type='CosineSimilarityLoss'))), 1,
             'expects 2 views per image, got 1', 'MultiView(num_views=2)'),
}


@pytest.mark.parametrize('name', sorted(ALGORITHMS))
def test_wrong_number_of_views(name):
    cfg, given, problem, fix = ALGORITHMS[name]
    model = MODELS.build(cfg)
    assert type(model).__module__.startswith('mmssl_kd.')
    with pytest.raises(ValueError) as err:  # checked before any forward
        model([images()] * given, None, mode='loss')
    msg = str(err.value)
    assert msg.startswith(name) and problem in msg and fix in msg


def test_pipeline_without_multiview():
    """Without MultiView the preprocessor gives a list of 3-D images."""
    model = MODELS.build(ALGORITHMS['MoCoV3'][0])
    with pytest.raises(ValueError) as err:
        model.loss(list(images(4)), None)
    assert 'got one image per sample (the training pipeline has no ' \
        'MultiView)' in str(err.value)


def test_gpu_view_pipeline_without_a_leading_crop():
    flip = dict(type='RandomFlip', prob=0.5)
    crop = dict(type='RandomResizedCrop', scale=32)
    with pytest.raises(ValueError) as err:
        MODELS.build(dict(type='GPUMultiViewAugment', num_views=2,
                          transforms=[[flip, crop]]))
    assert "starts with RandomResizedCrop (each view is cut from the one " \
        "image, and the crop sets its size), not 'RandomFlip'" \
        in str(err.value)


# ---------------------------------------------------------------------------
# resume


def _train_tool():
    spec = importlib.util.spec_from_file_location(
        'train_tool', REPO / 'tools' / 'train.py')
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    return tool


def test_resume_from_a_checkpoint_of_another_config(tmp_path, monkeypatch,
                                                    tiny_image_folder):
    """``tools/train.py --resume PATH`` stops before training when PATH
    holds another model, naming the keys that differ."""
    config = ("default_scope = 'mmssl_kd'\n"
              f'model = {seed_cfg(queue_len=64)!r}\n'
              'train_dataloader = dict(batch_size=2, dataset=dict('
              f"type='ImageFolder', data_root={str(tiny_image_folder)!r}, "
              "pipeline=[]), sampler=dict(type='DefaultSampler'))\n"
              "optim_wrapper = dict(optimizer=dict(type='SGD', lr=0.1))\n"
              "train_cfg = dict(type='IterBasedTrainLoop', max_iters=1)\n")
    saved = build_model(Config(dict(model=seed_cfg(queue_len=32))))
    checkpoint = tmp_path / 'iter_1.pth'
    torch.save({'state_dict': saved.state_dict(), 'meta': {}}, checkpoint)
    (tmp_path / 'seed.py').write_text(config)
    monkeypatch.setattr(sys, 'argv', [
        'train.py', str(tmp_path / 'seed.py'), '--work-dir',
        str(tmp_path / 'run'), '--resume', str(checkpoint)])
    with pytest.raises(ValueError) as err:
        _train_tool().main()
    msg = str(err.value)
    assert f"Cannot resume from {str(checkpoint)!r}" in msg
    assert 'shape mismatches' in msg
    assert 'queue.queue: checkpoint (32, 16), model (64, 16)' in msg
    assert 'load_from' in msg  # fine-tuning instead

    twin = build_model(Config(dict(model=seed_cfg(queue_len=32))))
    check_resume_checkpoint(twin, str(checkpoint))  # same model: passes
    del twin.teacher
    with pytest.raises(ValueError, match=r'unexpected keys \(checkpoint '
                       r'keys the model lacks\):\n +teacher\.'):
        check_resume_checkpoint(twin, str(checkpoint))
