"""mmssl_kd/models/losses/ntxent.py: NT-Xent (SimCLR, Eq. 1) in one
process against its formula written out, a closed form, and its dtype
under low-precision inputs.  (Its two-process gather: test_dogo.py.)"""
import math

import pytest
import torch
import torch.nn.functional as F

from mmssl_kd.models.losses import NTXentLoss
from mmssl_kd.registry import MODELS


def formula(z1, z2, tau):
    """``1/2N sum_i -log exp(s_{i,pos(i)} / tau) / sum_{k != i}
    exp(s_ik / tau)``, cosine ``s``, element by element in float64."""
    z = F.normalize(torch.cat([z1, z2]).double(), dim=1)
    n2 = z.shape[0]
    n = n2 // 2
    total = 0.
    for i in range(n2):
        pos = (i + n) % n2
        denominator = sum(math.exp(float(z[i] @ z[k]) / tau)
                          for k in range(n2) if k != i)
        total += -math.log(math.exp(float(z[i] @ z[pos]) / tau)
                           / denominator)
    return total / n2


@pytest.mark.parametrize('tau', [0.5, 0.1])
def test_matches_the_formula(tau):
    gen = torch.Generator().manual_seed(0)
    z1, z2 = torch.randn(2, 5, 7, generator=gen)
    loss = NTXentLoss(temperature=tau)(z1, z2)
    assert loss.shape == () and loss.dtype == torch.float32
    assert loss.item() == pytest.approx(formula(z1, z2, tau), rel=1e-5)


def test_closed_form_for_orthogonal_identical_views():
    """z1 = z2 = the N one-hot rows: ``s = 1`` for the positive, 0 for the
    2N - 2 others, so every term is ``log(1 + (2N - 2) exp(-1 / tau))``."""
    n, tau = 3, 0.5
    z = torch.eye(n)
    loss = NTXentLoss(tau)(z, z.clone())
    assert loss.item() == pytest.approx(
        math.log1p((2 * n - 2) * math.exp(-1 / tau)), rel=1e-6)


def test_scale_free_and_symmetric_in_the_views():
    gen = torch.Generator().manual_seed(1)
    z1, z2 = torch.randn(2, 4, 6, generator=gen)
    loss_fn = NTXentLoss()
    loss = loss_fn(z1, z2)
    torch.testing.assert_close(loss_fn(3 * z1, 0.5 * z2), loss)
    torch.testing.assert_close(loss_fn(z2, z1), loss)


def test_gradients_reach_both_views_and_low_precision_computes_in_fp32():
    gen = torch.Generator().manual_seed(2)
    z1, z2 = torch.randn(2, 4, 6, generator=gen).bfloat16().unbind()
    z1.requires_grad_()
    z2.requires_grad_()
    loss = NTXentLoss()(z1, z2)
    assert loss.dtype == torch.float32
    assert loss.item() == pytest.approx(
        formula(z1.detach().float(), z2.detach().float(), 0.5), rel=1e-5)
    loss.backward()
    assert z1.grad.abs().sum() > 0 and z2.grad.abs().sum() > 0


def test_registered_with_its_temperature():
    loss_fn = MODELS.build(dict(type='NTXentLoss', temperature=0.2))
    assert isinstance(loss_fn, NTXentLoss)
    assert 'temperature=0.2' in repr(loss_fn)
