"""SimilarityDistillationLoss against sums written out by hand."""
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from mmssl_kd.models.losses import SimilarityDistillationLoss
from mmssl_kd.registry import MODELS

STUDENT = [[0.3, -1.2, 2.0, 0.5], [1.5, 0.1, -0.4, 0.0]]
TEACHER = [[0.9, 0.2, 0.8, -0.3], [0.1, 0.7, -0.6, 0.4]]
CENTER = [0.2, -0.1, 0.3, 0.0]


def hand_loss_rows(student, teacher, tau_s, tau_t, center=None):
    """-sum_j p^T_j log p^S_j per row, with explicit loops."""
    rows = []
    for s_row, t_row in zip(student, teacher):
        k = len(s_row)
        t_row = [t_row[j] - (center[j] if center else 0.0) for j in range(k)]
        t_exp = [math.exp(t_row[j] / tau_t) for j in range(k)]
        s_exp = [math.exp(s_row[j] / tau_s) for j in range(k)]
        t_sum, s_sum = sum(t_exp), sum(s_exp)
        total = 0.0
        for j in range(k):
            p_t = t_exp[j] / t_sum
            log_p_s = math.log(s_exp[j] / s_sum)
            total -= p_t * log_p_s
        rows.append(total)
    return rows


@pytest.mark.parametrize('center', [None, CENTER])
def test_matches_hand_computation(center):
    loss_fn = SimilarityDistillationLoss(student_temp=0.5, teacher_temp=0.25)
    c = None if center is None else torch.tensor(CENTER, dtype=torch.float64)
    out = loss_fn(torch.tensor(STUDENT, dtype=torch.float64),
                  torch.tensor(TEACHER, dtype=torch.float64), c)
    rows = hand_loss_rows(STUDENT, TEACHER, 0.5, 0.25, center)
    assert out.item() == pytest.approx(sum(rows) / len(rows), rel=1e-6)


def test_reductions():
    s, t = torch.tensor(STUDENT), torch.tensor(TEACHER)
    rows = hand_loss_rows(STUDENT, TEACHER, 0.2, 0.1)
    none = SimilarityDistillationLoss(0.2, 0.1, reduction='none')(s, t)
    assert none.shape == (2, )
    np.testing.assert_allclose(none.numpy(), rows, rtol=1e-5)
    mean = SimilarityDistillationLoss(0.2, 0.1, reduction='mean')(s, t)
    batchmean = SimilarityDistillationLoss(0.2, 0.1, 'batchmean')(s, t)
    assert mean.item() == batchmean.item() == pytest.approx(
        sum(rows) / 2, rel=1e-5)
    with pytest.raises(ValueError, match='sum'):
        SimilarityDistillationLoss(reduction='sum')


def test_no_gradient_to_teacher_and_analytic_student_gradient():
    """d loss / d s_ij = (softmax(s_i / tau_s)_j - p^T_ij) / (tau_s * N)."""
    s = torch.tensor(STUDENT, dtype=torch.float64, requires_grad=True)
    t = torch.tensor(TEACHER, dtype=torch.float64, requires_grad=True)
    SimilarityDistillationLoss(0.5, 0.25)(s, t).backward()
    assert t.grad is None
    expected = np.zeros((2, 4))
    for i in range(2):
        s_exp = [math.exp(v / 0.5) for v in STUDENT[i]]
        t_exp = [math.exp(v / 0.25) for v in TEACHER[i]]
        for j in range(4):
            expected[i, j] = (s_exp[j] / sum(s_exp) -
                              t_exp[j] / sum(t_exp)) / (0.5 * 2)
    np.testing.assert_allclose(s.grad.numpy(), expected, rtol=1e-9)


def test_fp32_under_bf16_autocast():
    """Teacher logits 1 and 0.9995 at tau_T = 1e-4 give a target of about
    (0.993, 0.007); in bf16 both round to 1.0 and the target is (0.5, 0.5).
    """
    student = torch.tensor([[2.0, 1.7, -0.5]])
    teacher = torch.tensor([[1.0, 0.9995, 0.3]])
    loss_fn = SimilarityDistillationLoss(0.2, 1e-4)
    reference = loss_fn(student, teacher)
    assert reference.item() == pytest.approx(
        loss_fn(student.double(), teacher.double()).item(), rel=1e-4)
    with torch.autocast('cpu', dtype=torch.bfloat16):
        out = loss_fn(student, teacher)
        out_bf16_in = loss_fn(student, teacher.bfloat16())
    assert out.dtype == torch.float32
    assert out.item() == pytest.approx(reference.item(), rel=1e-6)
    # naive bf16 arithmetic gets a different target, hence loss
    target = F.softmax(teacher.bfloat16() / 1e-4, dim=1)
    naive = -(target * F.log_softmax(student.bfloat16() / 0.2, 1)).sum()
    assert abs(naive.item() - reference.item()) > 0.1
    # the rounding cannot be undone once the logits arrive in bf16
    assert out_bf16_in.dtype == torch.float32
    assert abs(out_bf16_in.item() - reference.item()) > 0.1


def test_built_from_registry():
    loss_fn = MODELS.build(dict(type='SimilarityDistillationLoss',
                                student_temp=0.1, teacher_temp=0.04))
    assert isinstance(loss_fn, SimilarityDistillationLoss)
    assert (loss_fn.student_temp, loss_fn.teacher_temp) == (0.1, 0.04)
