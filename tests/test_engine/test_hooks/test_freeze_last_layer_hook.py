"""FreezeLastLayerHook: the DINO head's last layer does not move in the
frozen epochs (no gradient, no weight decay) and moves afterwards; a
magnitude fixed by norm_last_layer stays fixed."""
from types import SimpleNamespace

import pytest
import torch
import torch.nn as nn

from mmssl_kd.engine.hooks import FreezeLastLayerHook
from mmssl_kd.models.necks import DINOHead


class Model(nn.Module):

    def __init__(self):
        super().__init__()
        self.neck = DINOHead(4, out_channels=6, hidden_channels=5,
                             bottleneck_channels=3)


def step(model, optimizer):
    optimizer.zero_grad()
    model.neck(torch.randn(8, 4)).logsumexp(dim=1).mean().backward()
    optimizer.step()


def test_last_layer_frozen_then_trained():
    torch.manual_seed(0)
    model = Model()
    optimizer = torch.optim.AdamW(model.parameters(), lr=0.1,
                                  weight_decay=0.5)
    hook = FreezeLastLayerHook(epochs=1)
    direction = model.neck.last_layer.parametrizations.weight.original1
    magnitude = model.neck.last_layer.parametrizations.weight.original0
    mlp = model.neck.mlp[0].weight

    hook.before_train_epoch(SimpleNamespace(model=model, epoch=0))
    before, mlp_before = direction.detach().clone(), mlp.detach().clone()
    step(model, optimizer)
    assert torch.equal(direction, before)  # frozen: not even decayed
    assert not torch.equal(mlp, mlp_before)

    hook.before_train_epoch(SimpleNamespace(model=model, epoch=1))
    step(model, optimizer)
    assert not torch.equal(direction, before)
    assert not magnitude.requires_grad  # norm_last_layer: stays fixed
    torch.testing.assert_close(magnitude, torch.ones_like(magnitude))


def test_default_freezes_every_last_layer():
    """module=None: every trainable `last_layer` (both heads of GLSD, the
    four of MOKD), nothing else; a model without one is an error."""
    model = Model()
    model.dense = DINOHead(4, out_channels=6, hidden_channels=5,
                           bottleneck_channels=3, norm_last_layer=False)
    hook = FreezeLastLayerHook(epochs=1)
    hook.before_train_epoch(SimpleNamespace(model=model, epoch=0))
    frozen = {n for n, p in model.named_parameters() if not p.requires_grad}
    assert frozen == {
        'neck.last_layer.parametrizations.weight.original0',  # fixed norm
        'neck.last_layer.parametrizations.weight.original1',
        'dense.last_layer.parametrizations.weight.original0',
        'dense.last_layer.parametrizations.weight.original1'}
    hook.before_train_epoch(SimpleNamespace(model=model, epoch=1))
    assert model.dense.last_layer.parametrizations.weight.original0 \
        .requires_grad
    assert not model.neck.last_layer.parametrizations.weight.original0 \
        .requires_grad  # norm_last_layer keeps its magnitude fixed
    with pytest.raises(ValueError, match='no module called `last_layer`'):
        FreezeLastLayerHook().before_train_epoch(
            SimpleNamespace(model=nn.Linear(2, 2), epoch=0))
