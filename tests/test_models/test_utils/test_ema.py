"""The bulk EMA update gives the per-parameter update's values."""
import math

import pytest
import torch
import torch.nn as nn
from mmengine.logging import MessageHub
from mmpretrain.models.utils import CosineEMA as MMPretrainCosineEMA

from mmssl_kd.models.utils import CosineEMA


def _net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4),
                         nn.Flatten(), nn.Linear(144, 5))


def _perturb_and_run(net: nn.Module) -> None:
    with torch.no_grad():
        for p in net.parameters():
            p.add_(torch.randn_like(p))
    net(torch.randn(2, 3, 8, 8))  # moves the BatchNorm statistics


def assert_rounding_close(a: torch.Tensor, b: torch.Tensor, name: str):
    """Equal up to float32 rounding: ``(1 - m) a + m s`` in another order
    (and a float32 momentum) differs by a few ulps of values up to ~10
    (2.4e-7 measured)."""
    torch.testing.assert_close(a.float(), b.float(), rtol=1e-5, atol=1e-5,
                               msg=name)


@pytest.fixture
def max_iters():
    hub = MessageHub.get_current_instance()
    old = hub.get_info('max_iters')
    hub.update_info('max_iters', 7)
    yield 7
    hub.update_info('max_iters', old)


def test_foreach_update_is_the_float64_cosine_schedule(max_iters):
    """Per parameter: ``a <- (1 - m) a + m s``, ``m`` from DINO's float64
    cosine schedule; buffers copied; the first update copies."""
    net = _net()
    ema = CosineEMA(net, momentum=0.2, end_momentum=0.01)
    expected = {k: v.clone() for k, v in net.state_dict().items()}
    for step in range(5):
        _perturb_and_run(net)
        source = net.state_dict()
        if step == 0:
            expected = {k: v.clone() for k, v in source.items()}
        else:
            cosine = (math.cos(math.pi * step / max_iters) + 1) / 2
            m = 0.01 - (0.01 - 0.2) * cosine
            for name, param in net.named_parameters():
                expected[name] = expected[name].mul(1 - m).add(
                    param.detach(), alpha=m)
            for name, buf in net.named_buffers():
                expected[name] = buf.clone()
        ema.update_parameters(net)
        for name, value in ema.module.state_dict().items():
            assert torch.equal(value, expected[name]), (step, name)
    assert int(ema.steps) == 5


def test_foreach_switch_and_mmpretrain_agree(max_iters):
    """``foreach=False`` is MMPretrain's per-parameter update; both match
    MMPretrain's class to float32 rounding of its momentum."""
    net = _net()
    bulk = CosineEMA(net, momentum=0.1)
    loop = CosineEMA(net, momentum=0.1, foreach=False)
    theirs = MMPretrainCosineEMA(net, momentum=0.1)
    for _ in range(4):
        _perturb_and_run(net)
        for ema in (bulk, loop, theirs):
            ema.update_parameters(net)
    for (name, a), b, c in zip(bulk.state_dict().items(),
                               loop.state_dict().values(),
                               theirs.state_dict().values()):
        assert_rounding_close(a, b, name)
        assert_rounding_close(a, c, name)
    assert bulk.state_dict().keys() == theirs.state_dict().keys()


def test_foreach_update_keeps_the_interval(max_iters):
    """With ``interval=2`` the bulk and the per-parameter updates average
    on the same steps (and copy the buffers on every step)."""
    net = _net()
    bulk = CosineEMA(net, momentum=0.1, interval=2)
    loop = CosineEMA(net, momentum=0.1, interval=2, foreach=False)
    for _ in range(5):
        _perturb_and_run(net)
        before = bulk.module.state_dict()['0.weight'].clone()
        for ema in (bulk, loop):
            ema.update_parameters(net)
        for name, a, b in zip(bulk.state_dict(), bulk.state_dict().values(),
                              loop.state_dict().values()):
            assert_rounding_close(a, b, name)
    # step 4 (the fifth update) averaged; step 3 had left the weights alone
    assert not torch.equal(before, bulk.module.state_dict()['0.weight'])


def test_steps_are_counted_on_the_host_and_reread_after_a_load(
        max_iters, monkeypatch):
    """After the first update no value is read back from the device; a
    loaded state (a resumed run) sets the step the next update uses."""
    net = _net()
    ema = CosineEMA(net, momentum=0.2, end_momentum=0.01)
    ema.update_parameters(net)
    saved = {k: v.clone() for k, v in ema.state_dict().items()}
    ema.update_parameters(net)
    ema.update_parameters(net)

    def no_sync(self, *args):
        raise AssertionError('read a value back to the host')

    for name in ('item', '__int__', '__index__', '__bool__', '__float__'):
        monkeypatch.setattr(torch.Tensor, name, no_sync)
    ema.update_parameters(net)
    monkeypatch.undo()
    assert int(ema.steps) == 4

    resumed = CosineEMA(_net(), momentum=0.2, end_momentum=0.01)
    resumed.update_parameters(net)  # steps 0 -> 1 on the host
    resumed.load_state_dict(saved)  # back to steps 1
    _perturb_and_run(net)
    before = {k: v.clone() for k, v in resumed.module.state_dict().items()}
    resumed.update_parameters(net)
    m = resumed.current_momentum(1)
    weight = before['3.weight'] * (1 - m) + net[3].weight.detach() * m
    torch.testing.assert_close(resumed.module[3].weight, weight)
    assert int(resumed.steps) == 2


def test_mocov3_and_byol_average_with_the_project_ema():
    from mmengine.registry import DefaultScope

    from mmssl_kd.registry import MODELS
    backbone = dict(type='CIFARResNet', depth=20)
    with DefaultScope.overwrite_default_scope('mmssl_kd'):
        moco = MODELS.build(dict(
            type='MoCoV3', backbone=backbone, base_momentum=0.01,
            neck=dict(type='NonLinearNeck', in_channels=64, hid_channels=8,
                      out_channels=4, with_avg_pool=True),
            head=dict(type='MoCoV3Head', predictor=dict(
                type='NonLinearNeck', in_channels=4, hid_channels=8,
                out_channels=4), loss=dict(type='CrossEntropyLoss'))))
        byol = MODELS.build(dict(
            type='BYOL', backbone=backbone, base_momentum=0.004,
            neck=dict(type='NonLinearNeck', in_channels=64, hid_channels=8,
                      out_channels=4, with_avg_pool=True),
            head=dict(type='LatentPredictHead', loss=dict(
                type='CosineSimilarityLoss'), predictor=dict(
                type='NonLinearNeck', in_channels=4, hid_channels=8,
                out_channels=4))))
    assert type(moco.momentum_encoder) is CosineEMA
    assert type(byol.target_net) is CosineEMA
    assert (moco.momentum_encoder.momentum, byol.target_net.momentum) == \
        (0.01, 0.004)
