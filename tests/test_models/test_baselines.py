"""The project's SimCLR: MMPretrain's loss value and gradient in one
process (its NT-Xent also matches across ranks: test_dogo.py's gloo test)."""
import copy

import torch
from mmengine.registry import DefaultScope

from mmssl_kd.registry import MODELS

SIMCLR = dict(
    backbone=dict(type='CIFARResNet', depth=20),
    neck=dict(type='NonLinearNeck', in_channels=64, hid_channels=32,
              out_channels=16, num_layers=2, with_avg_pool=True,
              norm_cfg=dict(type='BN1d')),
    head=dict(type='ContrastiveHead', loss=dict(type='CrossEntropyLoss'),
              temperature=0.1))


def loss_and_grads(model, views):
    model.zero_grad()
    loss = model.loss(views, None)['loss']
    loss.backward()
    return loss.detach(), {n: p.grad.clone()
                           for n, p in model.named_parameters()}


def test_simclr_equals_mmpretrain_simclr():
    torch.manual_seed(0)
    with DefaultScope.overwrite_default_scope('mmssl_kd'):
        ours = MODELS.build(dict(SIMCLR, type='SimCLR'))
        theirs = MODELS.build(dict(copy.deepcopy(SIMCLR),
                                   type='mmpretrain.SimCLR'))
    assert type(ours).__module__.startswith('mmssl_kd')
    theirs.load_state_dict(ours.state_dict())
    gen = torch.Generator().manual_seed(1)
    views = [torch.randn(6, 3, 32, 32, generator=gen) for _ in range(2)]
    loss, grads = loss_and_grads(ours, views)
    ref_loss, ref_grads = loss_and_grads(theirs, views)
    torch.testing.assert_close(loss, ref_loss, rtol=1e-5, atol=1e-6)
    for name, grad in ref_grads.items():  # summation orders differ
        assert (grads[name] - grad).norm() <= 1e-4 * grad.norm() + 1e-7, name
