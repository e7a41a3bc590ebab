from pathlib import Path

import pytest
import torch

from mmssl_kd.models.backbones import CIFARResNet

WEIGHTS = Path(__file__).resolve().parents[4] / 'shared' / 'weights' / \
    'cifar10-resnet'


@pytest.mark.parametrize('depth,params', [(20, 0.27e6), (56, 0.85e6)])
def test_shapes_and_size(depth, params):
    """He et al. 2016, Table 6: ResNet-20 has 0.27M and ResNet-56 0.85M."""
    net = CIFARResNet(depth=depth, out_indices=(0, 1, 2))
    outs = net(torch.randn(2, 3, 32, 32))
    assert [tuple(o.shape) for o in outs] == [(2, 16, 32, 32), (2, 32, 16, 16),
                                             (2, 64, 8, 8)]
    n = sum(p.numel() for p in net.parameters())
    assert abs(n - params) / params < 0.01


def test_option_a_shortcut_pads_channels():
    block = CIFARResNet(depth=20).layer2[0]
    assert not list(block.shortcut.parameters())
    x = torch.randn(1, 16, 8, 8)
    y = block.shortcut(x)
    assert y.shape == (1, 32, 4, 4)
    assert torch.equal(y[:, 8:24], x[:, :, ::2, ::2])
    assert y[:, :8].abs().sum() == 0 and y[:, 24:].abs().sum() == 0


def test_bad_depth():
    with pytest.raises(KeyError, match='depth 18'):
        CIFARResNet(depth=18)


@pytest.mark.parametrize('name,depth', [('resnet20-12fca82f.th', 20),
                                        ('resnet56-4bfd9763.th', 56)])
def test_keys_match_shared_teachers(name, depth):
    path = WEIGHTS / name
    if not path.exists():
        pytest.skip(f'{path} not present')
    state = torch.load(path, map_location='cpu', weights_only=True)
    state = {k.removeprefix('module.'): v
             for k, v in state['state_dict'].items()
             if not k.startswith('module.linear.')}
    net = CIFARResNet(depth=depth)
    own = {k for k in net.state_dict()
           if not k.endswith('num_batches_tracked')}
    assert own == set(state)
    net.load_state_dict(state, strict=False)


@pytest.mark.parametrize('frozen_stages', [0, 2, 3])
def test_frozen_stages(frozen_stages):
    """Frozen parts get no gradient and keep their BN statistics in
    train mode (a linear probe's backbone: frozen_stages=3)."""
    net = CIFARResNet(depth=20, frozen_stages=frozen_stages).train()
    frozen = ['conv1', 'bn1'] + [f'layer{i}'
                                 for i in range(1, frozen_stages + 1)]
    before = {k: v.clone() for k, v in net.state_dict().items()}
    out = net(torch.randn(4, 3, 32, 32))[-1]
    assert out.requires_grad == (frozen_stages < 3)
    if out.requires_grad:
        out.sum().backward()
    for name, param in net.named_parameters():
        is_frozen = name.split('.')[0] in frozen
        assert (param.grad is None) == is_frozen, name
    for name, module in net.named_modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            kept = torch.equal(before[f'{name}.running_mean'],
                               module.running_mean)
            assert kept == (name.split('.')[0] in frozen), name
            assert module.training != (name.split('.')[0] in frozen)


def test_bad_frozen_stages():
    with pytest.raises(ValueError, match='frozen_stages 4'):
        CIFARResNet(depth=20, frozen_stages=4)
