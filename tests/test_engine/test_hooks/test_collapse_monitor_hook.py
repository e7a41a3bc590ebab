"""CollapseMonitorHook: the measures on hand-made inputs, the warnings and
their rate, and a two-iteration DINO training that logs every measure."""
import json
import logging
import math
from pathlib import Path
from types import SimpleNamespace
from typing import List

import pytest
import torch
import torch.nn as nn
from mmengine.config import Config
from mmengine.logging import MessageHub, MMLogger
from mmengine.model import MMDistributedDataParallel
from mmengine.registry import init_default_scope
from mmengine.runner import Runner

from mmssl_kd.engine.hooks import CollapseMonitorHook
from mmssl_kd.engine.hooks.collapse_monitor_hook import (
    embedding_std,
    entropies,
)
from mmssl_kd.models.losses import DINOLoss, SimilarityDistillationLoss
from mmssl_kd.registry import HOOKS

REPO = Path(__file__).resolve().parents[3]
DINO_DEMO = REPO / 'configs' / 'selfsup' / \
    'dino_vit-mini-p4_1xb256-coslr-5e_cifar10-demo.py'
DIM, K, BATCH = 32, 16, 8


def test_std_of_collapsed_and_of_random_embeddings():
    assert embedding_std(torch.ones(BATCH, DIM) * 3) == 0
    random = torch.randn(8192, 64, generator=torch.Generator().manual_seed(0))
    assert embedding_std(random) == pytest.approx(1 / math.sqrt(64), rel=0.02)


@pytest.mark.parametrize('probs,expected', [
    (torch.full((4, K), 1 / K), (math.log(K), math.log(K))),  # uniform
    (torch.eye(K)[[3, 3, 3]], (0., 0.)),  # one output for every image
    (torch.eye(K), (0., math.log(K))),  # sharp, a different one each
    (torch.tensor([[.5, .5, 0., 0.], [0., 0., .5, .5]]),
     (math.log(2), math.log(4))),
])
def test_entropies_by_hand(probs, expected):
    assert entropies(probs) == pytest.approx(expected, abs=1e-6)


class TinyModel(nn.Module):
    """A projection head that gives ``embedding`` for every image, and a
    DINO loss over teacher logits ``teacher`` (or SEED's loss without a
    centre when ``centred`` is False)."""

    def __init__(self, embedding: torch.Tensor, teacher: torch.Tensor,
                 centred: bool = True):
        super().__init__()
        self.embedding, self.teacher = embedding, teacher
        self.neck = nn.Identity()
        self.loss_module = DINOLoss(K) if centred else \
            SimilarityDistillationLoss(0.1, 0.04)

    def forward(self) -> None:
        self.neck(self.embedding)
        student = torch.zeros_like(self.teacher)
        if isinstance(self.loss_module, DINOLoss):
            self.loss_module([student] * 2, [self.teacher] * 2, 0.04)
        else:
            self.loss_module(student, self.teacher)


class Records(logging.Handler):
    def __init__(self):
        super().__init__(logging.WARNING)
        self.messages: List[str] = []

    def emit(self, record):
        self.messages.append(record.getMessage())


@pytest.fixture
def runner(request):
    name = f'collapse_{request.node.name}'
    logger = MMLogger.get_instance(name, log_level='WARNING')
    records = Records()
    logger.addHandler(records)
    yield SimpleNamespace(iter=0, logger=logger, records=records,
                          message_hub=MessageHub.get_instance(name))
    logger.removeHandler(records)


def train(hook: CollapseMonitorHook, runner, model: nn.Module,
          iters: int) -> dict:
    """``iters`` iterations of ``model()`` between the hook's calls; the
    last iteration's collapse scalars."""
    runner.model = model
    hook.before_train(runner)
    for runner.iter in range(iters):
        hook.before_train_iter(runner, runner.iter)
        model()
        hook.after_train_iter(runner, runner.iter)
    hook.after_train(runner)
    return {key.split('/', 2)[-1]: buffer.current()
            for key, buffer in runner.message_hub.log_scalars.items()}


def healthy_teacher() -> torch.Tensor:
    return torch.eye(BATCH, K) * 10  # a different output for each image


def test_collapsed_embedding_warns_once_per_warn_interval(runner):
    hook = HOOKS.build(dict(type='CollapseMonitorHook', interval=1,
                            warn_interval=3))
    logged = train(hook, runner, TinyModel(torch.ones(BATCH, DIM),
                                           healthy_teacher()), iters=5)
    assert logged['std'] == 0
    assert len(runner.records.messages) == 2  # iterations 1 and 4
    msg = runner.records.messages[0]
    assert 'collapse/std = 0.00e+00 is below std_threshold / sqrt(d) = ' \
        f'0.1 / sqrt({DIM})' in msg and '`neck`' in msg


def test_healthy_model_logs_every_measure_without_warning(runner):
    embedding = torch.randn(64, DIM,
                            generator=torch.Generator().manual_seed(1))
    teacher = healthy_teacher()
    logged = train(CollapseMonitorHook(interval=2), runner,
                   TinyModel(embedding, teacher), iters=2)  # measures iter 2
    assert logged['std'] == pytest.approx(embedding_std(embedding))
    assert logged['std'] > 0.5 / math.sqrt(DIM)
    assert set(logged) == {'std', 'teacher_entropy',
                           'teacher_entropy_of_mean', 'center_norm'}
    assert logged['teacher_entropy'] < 0.01  # sharp: 10 / 0.04 apart
    assert logged['teacher_entropy_of_mean'] == pytest.approx(
        math.log(BATCH), abs=0.01)
    # the centre given to the loss in iteration 2: one update, momentum 0.9
    assert logged['center_norm'] == pytest.approx(
        0.1 * teacher.mean(dim=0).norm().item())
    assert runner.records.messages == []


@pytest.mark.parametrize('teacher,warning', [
    (torch.zeros(BATCH, K), 'collapse/teacher_entropy = 2.773 is above '
     'uniform_threshold * log K = 0.95 * log 16'),
    # N: the rows of both global crops, which DINOLoss gives at once
    (torch.eye(K)[[0] * BATCH] * 10, 'collapse/teacher_entropy_of_mean = '
     '0.000 is below one_output_threshold * log min(N, K) = 0.1 * log 16'),
], ids=['uniform', 'one output'])
def test_collapsed_teacher_warns(runner, teacher, warning):
    embedding = torch.randn(BATCH, DIM)
    train(CollapseMonitorHook(interval=1), runner,
          TinyModel(embedding, teacher), iters=1)
    assert len(runner.records.messages) == 1
    assert warning in runner.records.messages[0]

    # a similarity distribution (no centre): logged, never warned about
    runner.records.messages.clear()
    logged = train(CollapseMonitorHook(interval=1), runner,
                   TinyModel(embedding, teacher, centred=False), iters=1)
    assert 'teacher_entropy_of_mean' in logged
    assert runner.records.messages == []


def test_model_without_the_module(runner):
    runner.model = nn.Linear(2, 2)
    with pytest.raises(ValueError, match=r"Linear has no module 'neck'; "
                       'set `module`'):
        CollapseMonitorHook().before_train(runner)


def test_unwraps_ddp(runner, gloo):
    """Under DDP the hook watches the wrapped model's ``neck``."""
    with gloo.group():
        model = TinyModel(torch.randn(BATCH, DIM), healthy_teacher())
        model.neck = nn.Linear(DIM, DIM)  # DDP needs a trained parameter
        runner.model = MMDistributedDataParallel(model)
        hook = CollapseMonitorHook(interval=1)
        hook.before_train(runner)
        hook.before_train_iter(runner, 0)
        model()
        hook.after_train_iter(runner, 0)
        assert runner.message_hub.get_scalar('train/collapse/std').current() \
            == pytest.approx(embedding_std(model.neck(model.embedding)))


def test_two_iterations_of_dino(tiny_image_folder, tmp_path):
    """The hook in a real Runner: the CPU DINO demo for two iterations on
    tiny data logs all four measures next to the losses."""
    init_default_scope('mmssl_kd')
    cfg = Config.fromfile(str(DINO_DEMO))
    cfg.train_dataloader.update(batch_size=2, num_workers=0,
                                persistent_workers=False, pin_memory=False)
    cfg.train_dataloader.dataset.pop('num_per_class', None)
    cfg.train_dataloader.dataset.update(data_root=str(tiny_image_folder),
                                        split='train')
    cfg.train_cfg = dict(type='IterBasedTrainLoop', max_iters=2)
    cfg.param_scheduler = None
    cfg.log_processor = dict(by_epoch=False)
    cfg.custom_hooks = [dict(type='CollapseMonitorHook', interval=1)]
    cfg.default_hooks.checkpoint = None
    cfg.default_hooks.logger.interval = 1
    cfg.work_dir = str(tmp_path)
    runner = Runner.from_cfg(cfg)
    runner.train()

    lines = [json.loads(line) for line in
             next(tmp_path.glob('*/vis_data/scalars.json')).read_text()
             .splitlines()]
    assert [line['step'] for line in lines] == [1, 2]
    names = ('std', 'teacher_entropy', 'teacher_entropy_of_mean',
             'center_norm')
    for line in lines:
        values = [line[f'collapse/{name}'] for name in names]
        assert all(math.isfinite(v) for v in values), line
    assert lines[-1]['collapse/center_norm'] > 0  # updated after step 1
    dim = cfg.model.neck.out_channels
    assert lines[0]['collapse/std'] > 0.1 / math.sqrt(dim)
    assert 0 < lines[0]['collapse/teacher_entropy'] < math.log(dim)
