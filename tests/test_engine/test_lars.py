"""The project's LARS: MMPretrain's update, without a host sync."""
import pytest
import torch
from mmengine.registry import DefaultScope
from mmpretrain.engine.optimizers import LARS as MMPretrainLARS

from mmssl_kd.engine.optimizers import LARS
from mmssl_kd.registry import OPTIMIZERS


def _params(seed: int):
    gen = torch.Generator().manual_seed(seed)
    shapes = [(6, 4), (6, ), (5, 6), (5, ), (3, 3)]
    params = [torch.randn(*s, generator=gen).requires_grad_()
              for s in shapes]
    with torch.no_grad():
        params[4].zero_()  # |w| = 0: trust ratio 1
    return params


def _groups(params):
    return [dict(params=params[:2] + params[4:]),
            dict(params=params[2:4], lars_exclude=True, weight_decay=0.)]


@pytest.mark.parametrize('options', [
    dict(momentum=0.9),
    dict(momentum=0.9, nesterov=True),
    dict(momentum=0.9, dampening=0.1),
    dict(momentum=0.),
])
def test_same_updates_as_mmpretrain(options):
    ours, theirs = _params(0), _params(0)
    opts = [LARS(_groups(ours), lr=0.3, weight_decay=1e-4, eta=0.02,
                 **options),
            MMPretrainLARS(_groups(theirs), lr=0.3, weight_decay=1e-4,
                           eta=0.02, **options)]
    gen = torch.Generator().manual_seed(1)
    for step in range(4):
        grads = [torch.randn(p.shape, generator=gen) for p in ours]
        grads[1].zero_()  # |g| = 0: trust ratio 1
        for params, opt in zip((ours, theirs), opts):
            for i, (p, g) in enumerate(zip(params, grads)):
                p.grad = None if (step == 0 and i == 3) else g.clone()
            opt.step()
    for a, b, start in zip(ours, theirs, _params(0)):
        # the trust ratio in float32 here, float64 there: ~1e-7 relative
        # per step, through four steps of momentum
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
        assert not torch.equal(a, start)  # every parameter moved


def test_no_host_sync(monkeypatch):
    params = _params(0)
    opt = LARS(_groups(params), lr=0.1, momentum=0.9, eta=0.02)
    for p in params:
        p.grad = torch.ones_like(p)

    def no_item(self):
        raise AssertionError('read a value back to the host')

    monkeypatch.setattr(torch.Tensor, 'item', no_item)
    opt.step()
    opt.step()


def test_registered_over_mmpretrain_name():
    with DefaultScope.overwrite_default_scope('mmssl_kd'):
        assert OPTIMIZERS.get('LARS') is LARS
        assert OPTIMIZERS.get('mmpretrain.LARS') is MMPretrainLARS
