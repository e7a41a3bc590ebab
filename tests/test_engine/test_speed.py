"""Speed switches: speed_up, the Runner's speed_cfg, BF16OptimWrapper."""
import pytest
import torch
import torch.nn as nn
from mmengine.registry import init_default_scope

from mmssl_kd.engine import BF16OptimWrapper, speed_up
from mmssl_kd.engine.runner import Runner
from mmssl_kd.models.backbones import CIFARResNet


class Net(nn.Module):
    """A student backbone, a neck and a linear head."""

    def __init__(self):
        super().__init__()
        self.backbone = CIFARResNet(depth=20)
        self.neck = nn.Linear(64, 8)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.neck(self.backbone(x)[-1].mean((2, 3)))


def test_channels_last_converts_every_convolution():
    net = speed_up(Net(), channels_last=True)
    convs = [m for m in net.modules() if isinstance(m, nn.Conv2d)]
    assert convs and all(m.weight.is_contiguous(
        memory_format=torch.channels_last) for m in convs)
    assert net.neck.weight.is_contiguous()  # 2-d: unchanged
    out = net.backbone(torch.randn(2, 3, 32, 32))[-1]
    assert out.is_contiguous(memory_format=torch.channels_last)


def test_compile_backbones_compiles_only_the_backbone():
    net = speed_up(Net(), compile_backbones=dict(mode='reduce-overhead'))
    assert net.backbone._compiled_call_impl is not None
    assert net.neck._compiled_call_impl is None
    assert speed_up(Net()).backbone._compiled_call_impl is None


def test_runner_rejects_an_unknown_speed_key():
    runner = Runner.__new__(Runner)  # only its config is read
    runner.cfg = dict(speed_cfg=dict(channels_lst=True))
    with pytest.raises(KeyError, match=r"\['channels_lst'\].*channels_last"):
        runner._speed_cfg()


def test_bf16_wrapper_autocasts_the_forward_only():
    init_default_scope('mmssl_kd')
    net = Net()
    wrapper = BF16OptimWrapper(torch.optim.SGD(net.parameters(), lr=0.1))
    before = net.neck.weight.detach().clone()
    with wrapper.optim_context(net):
        out = net(torch.randn(2, 3, 32, 32))
        loss = out.float().pow(2).mean()
    assert out.dtype == torch.bfloat16
    wrapper.update_params(loss)
    assert net.neck.weight.dtype == torch.float32
    assert net.neck.weight.grad is None or not net.neck.weight.grad.any()
    assert not torch.equal(net.neck.weight, before)
    assert wrapper.state_dict().keys() == {'state', 'param_groups'}
