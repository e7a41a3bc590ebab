"""A recipe shrunk to two tiny iterations on the tiny image folder
(``tiny_config``), and its training losses (``train_losses``)."""
import atexit
import math
import os.path as osp
import re
import shutil
import tempfile
from pathlib import Path
from typing import Dict, List

import torch
from mmengine.config import Config
from mmengine.hooks import Hook

from mmssl_kd.engine import Runner
from mmssl_kd.registry import MODELS

CONFIG_DIR = Path(__file__).resolve().parents[2] / 'configs'
MAX_SIZE = 64  # cap on crop / resize sizes, px
BATCH = 2
# stand-in teacher files, one per teacher config, kept for the session
_STAND_INS: Dict[str, Path] = {}


def _cap_sizes(obj, cap: int):
    """Cap every ``scale``/``crop_size`` in a pipeline at ``cap`` px."""
    if isinstance(obj, dict):
        for key, value in obj.items():
            if key in ('scale', 'crop_size'):
                if isinstance(value, int):
                    obj[key] = min(value, cap)
                elif isinstance(value, (tuple, list)):
                    obj[key] = type(value)(min(v, cap) for v in value)
            else:
                _cap_sizes(value, cap)
    elif isinstance(obj, (list, tuple)):
        for item in obj:
            _cap_sizes(item, cap)


def size_cap(model: dict) -> int:
    """MAX_SIZE, or for timm ViTs named in the model (``model_name=
    '..._patch14_...'``, which need whole patches) the largest multiple of
    their patch sizes' least common multiple up to MAX_SIZE (at least
    one multiple)."""
    patches = [int(p) for p in re.findall(r"_patch(\d+)", repr(model))]
    step = math.lcm(*patches) if patches else 1
    return max(step, MAX_SIZE // step * step)


def _tiny_dataloader(loader: dict, root: Path, split: str, cap: int,
                     **dataset_kwargs) -> None:
    loader.update(batch_size=BATCH, num_workers=0, persistent_workers=False,
                  pin_memory=False)
    dataset = loader.dataset
    if dataset.type == 'DeviceImageDataset':  # its source lists the images
        dataset = dataset.source
    assert dataset.type == 'ImageFolder', (
        f'{dataset.type}: teach this test to point it at the tiny image '
        'folder')
    dataset.pop('subset_file', None)  # names images of the real data
    dataset.update(data_root=str(root), split=split, **dataset_kwargs)
    _cap_sizes(dataset.get('pipeline', []), cap)


def _tiny_schedulers(schedulers) -> list:
    """Each scheduler of a list gets one of the two iterations."""
    if isinstance(schedulers, dict):
        schedulers = [schedulers]
    for i, sched in enumerate(schedulers):
        sched.pop('convert_to_iter_based', None)
        sched.update(by_epoch=False, begin=i, end=i + 1)
        if 'T_max' in sched:
            sched.T_max = 1
    return schedulers


def _tiny_schedule(cfg) -> None:
    """Two iterations; each scheduler (of each optimizer) gets one."""
    cfg.train_cfg = dict(type='IterBasedTrainLoop', max_iters=2)
    schedulers = cfg.param_scheduler
    if isinstance(schedulers, dict) and 'type' not in schedulers:
        cfg.param_scheduler = {part: _tiny_schedulers(s)
                               for part, s in schedulers.items()}
    else:
        cfg.param_scheduler = _tiny_schedulers(schedulers)
    cfg.log_processor = dict(cfg.get('log_processor', {}), by_epoch=False)


def _seeded_build(cfg: dict) -> torch.nn.Module:
    """``MODELS.build(cfg)`` with seed 0, the global RNG left as it was:
    the same stand-in weights in every run (two runs compared with each
    other must not differ by their random teachers)."""
    with torch.random.fork_rng():
        torch.manual_seed(0)
        return MODELS.build(cfg)


def _stand_in_state(teacher: dict) -> dict:
    """A seeded random ``teacher`` in the key layout its config reads:
    ``prefix_map`` inverted, or the official DINOv2 / DINOv3 layout."""
    model = _seeded_build(dict(teacher, checkpoint=None))
    source = teacher.get('source')
    if source in ('dinov2', 'dinov3') and not teacher.get('prefix_map'):
        from _helpers.foundation import official_state
        name = teacher.backbone.model_name
        family = source + ''.join(f'-{tag}' for tag in ('reg', 'giant',
                                                        'qkvb')
                                  if tag in name)
        return official_state(family, model.backbone.timm_model)
    inverse = {new: old for old, new in
               (teacher.get('prefix_map') or {}).items() if new is not None}
    news = sorted(inverse, key=len, reverse=True)
    saved = {}
    for key, value in model.state_dict().items():
        new = next((n for n in news if key.startswith(n)), None)
        saved[key if new is None else inverse[new] + key[len(new):]] = value
    return {'state_dict': saved}


def _provide_teacher_weights(cfg) -> None:
    """Point a teacher whose weight file is absent (ImageNet and
    foundation teachers, teachers the project's own recipes train, a
    checkout without the shared weights) at a stand-in file: a seeded
    random teacher saved in the layout its config reads, so the config's
    loading path runs unchanged. One file per teacher config, written once
    per session (a ViT-B teacher is 350 MB)."""
    teacher = cfg.model.get('teacher')
    if not teacher or not teacher.get('checkpoint') or \
            osp.isfile(teacher.checkpoint):
        return
    key = repr(dict(teacher, checkpoint=None))
    if key not in _STAND_INS:
        folder = Path(tempfile.mkdtemp(prefix='stand-in-teacher-'))
        atexit.register(shutil.rmtree, folder, ignore_errors=True)
        _STAND_INS[key] = folder / 'teacher.pth'
        torch.save(_stand_in_state(teacher), _STAND_INS[key])
    cfg.model.teacher.checkpoint = str(_STAND_INS[key])


def _provide_pretrained_backbone(cfg, tmp_path: Path) -> None:
    """Point a benchmark backbone's absent ``Pretrained`` checkpoint (a
    pre-training run's output) at a random one in the same key layout."""
    init = (cfg.model.get('backbone') or {}).get('init_cfg') or {}
    if init.get('type') != 'Pretrained' or osp.isfile(init['checkpoint']):
        return
    backbone = _seeded_build(dict(cfg.model.backbone, init_cfg=None))
    prefix = init.get('prefix', '')
    path = tmp_path / 'pretrained.pth'
    torch.save({'state_dict': {prefix + k: v for k, v in
                               backbone.state_dict().items()}}, path)
    cfg.model.backbone.init_cfg.checkpoint = str(path)


class _LossRecorder(Hook):
    """Every logged loss term (and the total) of each training iteration."""

    def __init__(self):
        self.losses: List[Dict[str, float]] = []

    def after_train_iter(self, runner, batch_idx, data_batch=None,
                         outputs=None):
        self.losses.append({k: float(v.detach()) for k, v in outputs.items()
                            if k.startswith('loss')})


def tiny_config(path: Path, data_root: Path, work_dir: Path,
                iters: int = 2) -> Config:
    """The recipe at ``path`` with its data at ``data_root`` (tiny batches
    and images), ``iters`` iterations, absent weight files replaced by
    random ones in their layout, and no checkpoints."""
    cfg = Config.fromfile(str(path))
    cap = size_cap(cfg.model)
    _tiny_dataloader(cfg.train_dataloader, data_root, 'train', cap)
    for key in ('val_dataloader', 'test_dataloader'):
        if cfg.get(key):
            _tiny_dataloader(cfg[key], data_root, 'test', cap)
    knn_hooks = [h for h in cfg.get('custom_hooks', [])
                 if h.get('type') == 'KNNHook']
    for hook in knn_hooks:  # one image per class: one batch each
        _tiny_dataloader(hook.bank_dataloader, data_root, 'train', cap,
                         num_per_class=1)
        _tiny_dataloader(hook.query_dataloader, data_root, 'test', cap,
                         num_per_class=1)
    _tiny_schedule(cfg)
    cfg.train_cfg.max_iters = iters
    work_dir.mkdir(parents=True, exist_ok=True)  # stand-in weights go here
    _provide_teacher_weights(cfg)
    _provide_pretrained_backbone(cfg, work_dir)
    cfg.default_hooks.checkpoint = None  # nothing to keep from two steps
    cfg.work_dir = str(work_dir)
    cfg.launcher = 'none'
    return cfg


def train_losses(cfg: Config) -> List[Dict[str, float]]:
    """Train ``cfg``; the loss terms of every iteration."""
    runner = Runner.from_cfg(cfg)
    recorder = _LossRecorder()
    runner.register_hook(recorder, priority='LOWEST')
    runner.train()
    assert runner.iter == cfg.train_cfg.max_iters
    return recorder.losses
