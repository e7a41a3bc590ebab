"""SEED: its loss against hand computations and the InfoNCE limit, the
queue update, the frozen teacher, small patches, fp32 logits, resume,
and two gloo ranks against one process."""
import copy
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.distributed as dist
import torch.nn as nn
import torch.nn.functional as F
from mmengine.config import Config
from mmengine.optim import build_optim_wrapper
from mmengine.registry import DefaultScope
from mmengine.runner import Runner

from mmssl_kd.models.algorithms import SEED
from mmssl_kd.registry import MODELS

DIM = 16
WORLD = 2
BATCH = 4


@MODELS.register_module(force=True)
class TinyTestTeacher(nn.Module):
    """Stand-in for FrozenTeacher: conv-BN-pool-linear to a (B, D)
    embedding.  It does NOT freeze itself, so the tests below check that
    SEED does."""

    def __init__(self, out_dim: int = DIM):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, stride=2)
        self.bn = nn.BatchNorm2d(8)
        self.fc = nn.Linear(8, out_dim)

    def forward(self, x):
        return self.fc(F.relu(self.bn(self.conv(x))).mean((2, 3)))


def seed_cfg(**kwargs) -> dict:
    cfg = dict(
        type='SEED',
        backbone=dict(type='CIFARResNet', depth=20),
        neck=dict(type='MoCoV2Neck', in_channels=64, hid_channels=64,
                  out_channels=DIM),
        teacher=dict(type='TinyTestTeacher'),
        queue_len=32)
    cfg.update(kwargs)
    return cfg


def build(seed: int = 0, **kwargs) -> SEED:
    torch.manual_seed(seed)
    with DefaultScope.overwrite_default_scope('mmssl_kd'):
        return MODELS.build(seed_cfg(**kwargs))


def images(size: int = 32, seed: int = 1) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(BATCH, 3, size, size, generator=gen)


def embeddings(model: SEED, x: torch.Tensor):
    """L2-normalised student and teacher embeddings, computed directly."""
    z_s = F.normalize(model.neck(model.backbone(x))[0], dim=1)
    with torch.no_grad():
        z_t = F.normalize(model.teacher(x), dim=1)
    return z_s.detach(), z_t


def seed_loss_by_hand(z_s, z_t, queue, tau_s, tau_t) -> float:
    """-1/N sum_i sum_j p^T_ij log p^S_ij over D+ = [z^T_i, q_1..q_K]."""
    z_s, z_t, queue = (t.double().numpy() for t in (z_s, z_t, queue))
    total = 0.0
    for i in range(len(z_s)):
        anchors = [z_t[i]] + list(queue)
        s = np.array([z_s[i] @ d for d in anchors]) / tau_s
        t = np.array([z_t[i] @ d for d in anchors]) / tau_t
        p_t = np.exp(t - t.max())
        p_t /= p_t.sum()
        log_p_s = s - s.max() - np.log(np.exp(s - s.max()).sum())
        total -= (p_t * log_p_s).sum()
    return total / len(z_s)


def info_nce(z_s, z_t, queue, tau_s) -> torch.Tensor:
    """Cross-entropy with z^T as the positive and the queue as negatives."""
    logits = torch.cat([(z_s * z_t).sum(1, keepdim=True), z_s @ queue.t()],
                       dim=1)
    return F.cross_entropy(logits / tau_s,
                           torch.zeros(len(z_s), dtype=torch.long))


def test_loss_is_soft_cross_entropy_then_queue_update():
    """Soft target (tau_T = 0.1): the loss is L_SEED over the queue as it
    was BEFORE the step; afterwards the batch's teacher embeddings sit at
    the pointer.  With them among the anchors the loss would differ."""
    model = build(teacher_temp=0.1)
    x = images()
    z_s, z_t = embeddings(model, x)
    old_queue = model.queue.queue.clone()
    loss = model.loss([x], None)['loss']

    expected = seed_loss_by_hand(z_s, z_t, old_queue, 0.2, 0.1)
    assert loss.item() == pytest.approx(expected, rel=1e-5)
    torch.testing.assert_close(model.queue.queue[:BATCH], z_t)
    assert torch.equal(model.queue.queue[BATCH:], old_queue[BATCH:])
    assert int(model.queue.ptr) == BATCH
    with_batch = seed_loss_by_hand(z_s, z_t, model.queue.queue, 0.2, 0.1)
    assert abs(with_batch - loss.item()) > 1e-3


def test_zero_teacher_temperature_is_info_nce():
    model = build(teacher_temp=1e-6)
    x = images()
    z_s, z_t = embeddings(model, x)
    expected = info_nce(z_s, z_t, model.queue.queue.clone(), 0.2)
    loss = model.loss([x], None)['loss']
    assert loss.item() == pytest.approx(expected.item(), rel=1e-6)


class _SliceBackbone(nn.Module):
    """First DIM pixels as the feature: nothing autocast would change."""

    def forward(self, x):
        return (x.flatten(1)[:, :DIM], )


class _PassNeck(nn.Module):

    def forward(self, feats):
        return feats


class _ShiftedSliceTeacher(nn.Module):

    def __init__(self):
        super().__init__()
        gen = torch.Generator().manual_seed(3)
        self.register_buffer('shift', torch.randn(DIM, generator=gen))

    def forward(self, x):
        return x.flatten(1)[:, :DIM] + self.shift


def test_logits_in_fp32_under_bf16_autocast():
    """Queue row i at cosine 0.9985 to z^T_i: at tau_T = 1e-4 the target
    is one-hot on z^T_i.  A bf16 matmul (spacing 2^-8 below 1) returns
    that cosine as 0.996 or 1.0, so the naive target moves half its mass
    to row i wherever it rounds up."""
    model = SEED(backbone=_SliceBackbone(), neck=_PassNeck(),
                 teacher=_ShiftedSliceTeacher(), queue_len=32)
    x = images()
    z_s, z_t = embeddings(model, x)
    # unit vectors orthogonal to z^T, towards z^S: the student tells the
    # near-duplicate apart from z^T
    away = F.normalize(z_s - (z_s * z_t).sum(1, keepdim=True) * z_t, dim=1)
    cos = 0.9985
    model.queue.queue[:BATCH] = cos * z_t - (1 - cos**2)**0.5 * away
    queue = model.queue.queue.clone()
    twin = copy.deepcopy(model)

    reference = model.loss([x], None)['loss']
    with torch.autocast('cpu', dtype=torch.bfloat16):
        out = twin.loss([x], None)['loss']
        naive_s = torch.cat([(z_s * z_t).sum(1, keepdim=True),
                             z_s @ queue.t()], 1)
        naive_t = torch.cat([(z_t * z_t).sum(1, keepdim=True),
                             z_t @ queue.t()], 1)
        naive = model.criterion(naive_s, naive_t)
    assert naive_t.dtype == torch.float32  # but rounded through bf16
    assert out.dtype == torch.float32
    assert out.item() == pytest.approx(reference.item(), rel=1e-6)
    assert abs(naive.item() - reference.item()) > 0.01


FROZEN_TEACHER = dict(
    type='FrozenTeacher', backbone=dict(type='CIFARResNet', depth=20),
    neck=dict(type='MoCoV2Neck', in_channels=64, hid_channels=64,
              out_channels=DIM))
SGD = dict(optimizer=dict(type='SGD', lr=0.1, momentum=0.9,
                          weight_decay=1e-4))


def optim_wrapper(model: SEED, paramwise_cfg=None):
    """What the Runner builds under the project's scope."""
    cfg = dict(SGD, paramwise_cfg=paramwise_cfg) if paramwise_cfg else SGD
    with DefaultScope.overwrite_default_scope('mmssl_kd'):
        return build_optim_wrapper(model, cfg)


@pytest.mark.parametrize('teacher', [dict(type='TinyTestTeacher'),
                                     FROZEN_TEACHER])
def test_teacher_frozen_in_eval_mode_and_unchanged(teacher):
    """TinyTestTeacher does not freeze itself: SEED does."""
    model = build(teacher=teacher)
    model.train()
    assert model.backbone.training and model.neck.training
    assert not any(m.training for m in model.teacher.modules())
    assert not any(p.requires_grad for p in model.teacher.parameters())
    teacher_before = copy.deepcopy(model.teacher.state_dict())
    student_before = copy.deepcopy(model.backbone.state_dict())

    wrapper = optim_wrapper(model)
    for seed in (1, 2):
        wrapper.update_params(model.loss([images(seed=seed)], None)['loss'])

    assert all(p.grad is None for p in model.teacher.parameters())
    for name, value in model.teacher.state_dict().items():
        assert torch.equal(value, teacher_before[name]), name  # BN stats too
    assert not torch.equal(model.backbone.conv1.weight,
                           student_before['conv1.weight'])


@pytest.mark.parametrize('paramwise_cfg', [None, dict(norm_decay_mult=0.)])
def test_frozen_teacher_not_in_optimizer(paramwise_cfg):
    """Both of MMEngine's paths (with and without paramwise_cfg) would
    take requires_grad=False parameters; the project's constructor, the
    default under its scope, leaves the FrozenTeacher out."""
    model = build(teacher=FROZEN_TEACHER)
    wrapper = optim_wrapper(model, paramwise_cfg)
    in_optimizer = [p for group in wrapper.optimizer.param_groups
                    for p in group['params']]
    student = [*model.backbone.parameters(), *model.neck.parameters()]
    assert {id(p) for p in in_optimizer} == {id(p) for p in student}
    assert len(in_optimizer) == len(student)
    assert len(list(model.teacher.parameters())) > 0


@pytest.mark.parametrize('teacher', [
    dict(type='TinyTestTeacher', out_dim=8),
    dict(FROZEN_TEACHER, neck=dict(FROZEN_TEACHER['neck'], out_channels=8))
])
def test_embedding_size_mismatch(teacher):
    with pytest.raises(ValueError, match='student head gives 16, the '
                       'teacher gives 8'):
        build(teacher=teacher)


def test_small_patch_loss_and_second_queue():
    """loss = large + mean over the 6 small crops (official code: one
    soft-CE over all B*6 small rows); queue 2 gets small crop 0 only."""
    model = build(small_patch=True, teacher_temp=1e-6)
    large = images()
    smalls = [images(16, seed=10 + c) for c in range(6)]
    z_s, z_t = embeddings(model, large)
    z_s_small, z_t_small = embeddings(model, torch.cat(smalls))
    queue, small_queue = (model.queue.queue.clone(),
                          model.small_queue.queue.clone())

    out = model.loss([large] + smalls, None)

    large_ref = info_nce(z_s, z_t, queue, 0.2)
    small_ref = [info_nce(z_s_small[c * BATCH:(c + 1) * BATCH],
                          z_t_small[c * BATCH:(c + 1) * BATCH],
                          small_queue, 0.2) for c in range(6)]
    assert out['distill_large'].item() == pytest.approx(
        large_ref.item(), rel=1e-5)
    assert out['distill_small'].item() == pytest.approx(
        sum(small_ref).item() / 6, rel=1e-5)
    torch.testing.assert_close(out['loss'],
                               out['distill_large'] + out['distill_small'])
    total, log_vars = model.parse_losses(out)  # what the Runner optimises
    assert total.item() == pytest.approx(out['loss'].item())

    first_crop = F.normalize(model.teacher(smalls[0]), dim=1)
    torch.testing.assert_close(model.small_queue.queue[:BATCH], first_crop)
    assert torch.equal(model.small_queue.queue[BATCH:], small_queue[BATCH:])
    torch.testing.assert_close(model.queue.queue[:BATCH], z_t)
    assert int(model.queue.ptr) == int(model.small_queue.ptr) == BATCH

    with pytest.raises(ValueError, match='7 view'):
        model.loss([large], None)


def test_wrong_number_of_views():
    with pytest.raises(ValueError, match='1 view'):
        build().loss([images(), images()], None)


def test_extract_feat_is_student_backbone():
    model = build().eval()
    x = images()
    feats = model(x, mode='tensor')
    assert feats[0].shape == (BATCH, 64, 8, 8)
    assert torch.equal(feats[0], model.backbone(x)[0])


def test_state_dict_round_trip_restores_queue():
    model = build(seed=0)
    for seed in (1, 2):
        model.loss([images(seed=seed)], None)
    restored = build(seed=5)
    assert not torch.equal(restored.queue.queue, model.queue.queue)
    restored.load_state_dict(model.state_dict())
    assert torch.equal(restored.queue.queue, model.queue.queue)
    assert int(restored.queue.ptr) == int(model.queue.ptr) == 2 * BATCH
    x = images(seed=3)
    assert model.loss([x], None)['loss'].item() == \
        restored.loss([x], None)['loss'].item()
    assert torch.equal(restored.queue.queue, model.queue.queue)


def runner_cfg(data_root: Path, work_dir: Path, **kwargs) -> Config:
    pipeline = [
        dict(type='LoadImageFromFile'),
        dict(type='Resize', scale=32),
        dict(type='MultiView', num_views=1,
             transforms=[[dict(type='RandomFlip', prob=0.5)]]),
        dict(type='PackInputs'),
    ]
    cfg = dict(
        default_scope='mmssl_kd',
        experiment_name=f'test_seed_{work_dir.name}',
        work_dir=str(work_dir),
        model=seed_cfg(teacher=FROZEN_TEACHER, data_preprocessor=dict(
            type='SelfSupDataPreprocessor', mean=[128.] * 3,
            std=[64.] * 3, to_rgb=True)),
        train_dataloader=dict(
            batch_size=BATCH, num_workers=0,
            sampler=dict(type='DefaultSampler', shuffle=True),
            collate_fn=dict(type='default_collate'),
            dataset=dict(type='CustomDataset', data_root=str(data_root),
                         data_prefix='train', pipeline=pipeline)),
        train_cfg=dict(type='IterBasedTrainLoop', max_iters=2),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.03, momentum=0.9,
                                          weight_decay=1e-4)),
        default_hooks=dict(
            checkpoint=dict(type='CheckpointHook', interval=2,
                            by_epoch=False),
            logger=dict(type='LoggerHook', interval=1)),
        randomness=dict(seed=0),
        log_level='WARNING')
    cfg.update(kwargs)
    return Config(cfg)


def test_runner_resume_restores_queue(tiny_image_folder, tmp_path):
    first = Runner.from_cfg(
        runner_cfg(tiny_image_folder, tmp_path / 'first'))
    first.train()
    checkpoint = tmp_path / 'first' / 'iter_2.pth'
    second = Runner.from_cfg(runner_cfg(
        tiny_image_folder, tmp_path / 'second', resume=True,
        load_from=str(checkpoint), randomness=dict(seed=1)))
    assert not torch.equal(second.model.queue.queue, first.model.queue.queue)
    second.load_or_resume()
    assert torch.equal(second.model.queue.queue, first.model.queue.queue)
    assert int(second.model.queue.ptr) == 2 * BATCH
    assert second.iter == 2


def two_steps(model: SEED, x: torch.Tensor) -> list:
    """Loss, student gradients (averaged over ranks, as DDP does) and the
    queue after each of two steps on ``x`` (no weight update)."""
    steps = []
    for _ in range(2):
        model.zero_grad()
        loss = model.loss([x], None)['loss']
        loss.backward()
        loss = loss.detach()
        grads = {n: p.grad.clone() for n, p in model.named_parameters()
                 if p.grad is not None}
        if dist.is_initialized():
            for t in [loss] + list(grads.values()):
                dist.all_reduce(t)
                t /= dist.get_world_size()
        steps.append(dict(loss=loss, grads=grads,
                          queue=model.queue.queue.clone(),
                          ptr=int(model.queue.ptr)))
    return steps


def gloo_worker(rank, out_dir):
    model = build(teacher_temp=0.1)
    model.eval()  # BN on running statistics: samples independent
    local = images().chunk(WORLD)[rank]
    torch.save(two_steps(model, local), out_dir / f'rank{rank}.pt')


def test_two_process_loss_gradient_and_queue_match_single_process(
        tmp_path, gloo):
    """Half the batch on each of two gloo ranks: the same loss and student
    gradient as one process with the whole batch, and the same queue (the
    gathered teacher embeddings in rank order) on every rank."""
    gloo.spawn(gloo_worker, tmp_path, world_size=WORLD)
    model = build(teacher_temp=0.1)
    model.eval()
    reference = two_steps(model, images())
    ranks = [torch.load(tmp_path / f'rank{r}.pt') for r in range(WORLD)]
    for step in range(2):  # bit-identical queues on every rank
        assert torch.equal(ranks[0][step]['queue'], ranks[1][step]['queue'])
    for steps in ranks:
        for got, ref in zip(steps, reference):
            torch.testing.assert_close(got['loss'], ref['loss'])
            assert got['grads'].keys() == ref['grads'].keys()
            for name, grad in ref['grads'].items():
                torch.testing.assert_close(got['grads'][name], grad,
                                           rtol=1e-4, atol=1e-6)
            # the teacher saw half batches: equal up to rounding
            torch.testing.assert_close(got['queue'], ref['queue'])
            assert got['ptr'] == ref['ptr']
