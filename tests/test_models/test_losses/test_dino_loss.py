"""mmssl_kd/models/losses/dino_loss.py: DINOLoss against the same sum
written with plain torch ops in float64, its centre's EMA, the pairs it
compares, and the teacher-temperature warm-up against numpy.linspace."""
import numpy as np
import pytest
import torch
from _helpers.losses import loss_at_epoch, teacher_temp_of

from mmssl_kd.models.losses import DINOLoss, crop_pairs, teacher_temp_at

B, K = 4, 6
S_TAU = 0.1


def crops(globals_=2, locals_=3, seed=0):
    """(student outputs of every crop, teacher outputs of the globals)."""
    gen = torch.Generator().manual_seed(seed)
    student = [torch.randn(B, K, generator=gen)
               for _ in range(globals_ + locals_)]
    teacher = [torch.randn(B, K, generator=gen) for _ in range(globals_)]
    return student, teacher


def reference(student, teacher, centre, teacher_temp):
    """DINO's Eq. 3 in float64: the mean over (teacher global t, crop
    s != t) of the batch mean of ``-sum_k P_t log P_s``, with
    ``P_t = softmax((g_t - c) / tau_t)`` and ``P_s = softmax(g_s / tau_s)``."""
    total, pairs = 0., 0
    for t, g_t in enumerate(teacher):
        p_t = torch.softmax((g_t.double() - centre.double()) / teacher_temp,
                            dim=-1)
        for s, g_s in enumerate(student):
            if s == t:
                continue
            log_p_s = torch.log_softmax(g_s.double() / S_TAU, dim=-1)
            total = total + (-(p_t * log_p_s).sum(-1)).mean()
            pairs += 1
    return total / pairs


@pytest.mark.parametrize('epoch', [0, 2, 4, 9])
def test_loss_is_the_mean_cross_entropy_over_the_pairs(epoch):
    """2 global + 3 local crops, a non-zero centre, at an epoch inside and
    after a 5-epoch warm-up: the float32 loss equals the float64 sum up to
    float32 rounding (sums reordered), and so does its student gradient;
    the teacher gets none."""
    student, teacher = crops()
    student = [s.requires_grad_() for s in student]
    teacher = [t.requires_grad_() for t in teacher]
    loss_fn = DINOLoss(K, student_temp=S_TAU, teacher_temp=0.07,
                       warmup_teacher_temp=0.04, warmup_epochs=5)
    centre = torch.linspace(-0.3, 0.2, K)[None]
    loss_fn.center.copy_(centre)
    loss = loss_at_epoch(loss_fn, epoch, student, teacher)
    expected = reference([s.detach().requires_grad_() for s in student],
                         [t.detach() for t in teacher], centre,
                         teacher_temp_of(loss_fn, epoch))
    assert loss.dtype == torch.float32
    torch.testing.assert_close(loss.double(), expected.detach(), rtol=1e-5,
                               atol=0)
    loss.backward()
    assert all(t.grad is None for t in teacher)
    ref_inputs = [s.detach().double().requires_grad_() for s in student]
    ref = reference(ref_inputs, [t.detach() for t in teacher], centre,
                    teacher_temp_of(loss_fn, epoch))
    ref.backward()
    for ours, theirs in zip(student, ref_inputs):
        torch.testing.assert_close(ours.grad.double(), theirs.grad,
                                   rtol=1e-4, atol=1e-7)


def test_the_warm_up_changes_the_loss():
    """The temperature reaches the loss: epochs 0 and 4 of a warm-up from
    0.04 to 0.07 give different values (each as the reference)."""
    student, teacher = crops()
    values = []
    for epoch in (0, 4):
        loss_fn = DINOLoss(K, student_temp=S_TAU, teacher_temp=0.07,
                           warmup_teacher_temp=0.04, warmup_epochs=5)
        values.append(loss_at_epoch(loss_fn, epoch, student, teacher))
    assert abs(values[0] - values[1]) > 1e-3


def test_centre_is_an_ema_of_the_teacher_batch_mean():
    """After each call ``c <- 0.9 c + 0.1 mean(all teacher outputs)``; the
    loss of a call uses the centre from before it."""
    loss_fn = DINOLoss(K, student_temp=S_TAU, teacher_temp=0.04,
                       center_momentum=0.9)
    centre = torch.zeros(1, K, dtype=torch.float64)
    for step in range(3):
        student, teacher = crops(seed=step)
        loss = loss_at_epoch(loss_fn, 0, student, teacher)
        torch.testing.assert_close(
            loss.double(), reference(student, teacher, centre, 0.04),
            rtol=1e-5, atol=0)
        centre = 0.9 * centre + 0.1 * torch.cat(teacher).double().mean(
            0, keepdim=True)
        torch.testing.assert_close(loss_fn.center.double(), centre,
                                   rtol=1e-6, atol=1e-7)


def test_crop_pairs_skip_only_the_same_crop():
    assert list(crop_pairs(4, 2)) == [(0, 1), (0, 2), (0, 3),
                                      (1, 0), (1, 2), (1, 3)]
    for student, teacher in ((2, 2), (10, 2), (3, 1)):
        pairs = list(crop_pairs(student, teacher))
        assert len(pairs) == teacher * (student - 1)
        assert len(set(pairs)) == len(pairs)
    assert list(crop_pairs(1, 1)) == []


@pytest.mark.parametrize('warmup,temp,epochs', [
    (0.04, 0.07, 30), (0.07, 0.04, 7), (0.04, 0.04, 5), (0.01, 0.1, 2)])
def test_teacher_temp_at_is_numpy_linspace_then_constant(warmup, temp,
                                                         epochs):
    """DINO's ``np.concatenate((np.linspace(warmup, temp, epochs),
    np.ones(rest) * temp))`` at every epoch."""
    schedule = np.concatenate([np.linspace(warmup, temp, epochs),
                               np.full(10, temp)])
    for epoch, value in enumerate(schedule):
        assert teacher_temp_at(epoch, warmup, temp, epochs) == \
            pytest.approx(value, rel=1e-12, abs=0)


def test_teacher_temp_at_degenerate_warm_ups():
    """No warm-up: ``temp`` from epoch 0; one epoch: ``linspace(a, b, 1)``
    is ``[a]``."""
    assert teacher_temp_at(0, 0.04, 0.07, 0) == 0.07
    assert np.linspace(0.04, 0.07, 1)[0] == teacher_temp_at(0, 0.04, 0.07, 1)
    assert teacher_temp_at(1, 0.04, 0.07, 1) == 0.07
