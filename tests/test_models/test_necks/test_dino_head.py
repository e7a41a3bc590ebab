"""mmssl_kd/models/necks/dino_head.py: DINOHead's layers, output shape,
L2-normalised bottleneck and weight-normalised last layer."""
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from mmssl_kd.models.necks import DINOHead
from mmssl_kd.registry import MODELS


@pytest.mark.parametrize('num_layers,use_bn', [(1, False), (2, True),
                                                (3, False), (3, True)])
def test_layers_and_output_shape(num_layers, use_bn):
    head = DINOHead(8, out_channels=16, hidden_channels=12,
                    bottleneck_channels=4, num_layers=num_layers,
                    use_bn=use_bn)
    head.init_weights()
    linears = [m for m in head.mlp if isinstance(m, nn.Linear)]
    assert len(linears) == num_layers
    assert [m.out_features for m in linears] == [12] * (num_layers - 1) + [4]
    assert sum(isinstance(m, nn.BatchNorm1d) for m in head.mlp) == \
        (num_layers - 1 if use_bn else 0)
    assert sum(isinstance(m, nn.GELU) for m in head.mlp) == num_layers - 1
    assert head(torch.randn(5, 8)).shape == (5, 16)


def test_last_layer_is_unit_norm_directions_of_a_normalised_bottleneck():
    """Each output is the cosine of the bottleneck with a prototype: the
    weight rows have norm 1, so every logit lies in [-1, 1] and equals
    ``normalize(mlp(x)) . w_k / ||w_k||``."""
    head = DINOHead(8, out_channels=16, hidden_channels=12,
                    bottleneck_channels=4)
    head.init_weights()
    with torch.no_grad():  # a direction the init did not give
        head.last_layer.parametrizations.weight.original1.mul_(
            torch.linspace(0.5, 3., 16)[:, None])
    weight = head.last_layer.weight
    torch.testing.assert_close(weight.norm(dim=1), torch.ones(16))
    x = 10 * torch.randn(6, 8)
    out = head(x)
    direction = head.last_layer.parametrizations.weight.original1
    torch.testing.assert_close(
        out, F.normalize(head.mlp(x), dim=-1)
        @ F.normalize(direction, dim=1).t())
    assert out.abs().max() <= 1 + 1e-6


def test_norm_last_layer_fixes_the_magnitude_only():
    fixed = DINOHead(8, 16, 12, 4)
    free = DINOHead(8, 16, 12, 4, norm_last_layer=False)
    for head, learns in ((fixed, False), (free, True)):
        weight_norm = head.last_layer.parametrizations.weight
        assert weight_norm.original0.requires_grad is learns
        assert weight_norm.original1.requires_grad
        torch.testing.assert_close(weight_norm.original0, torch.ones(16, 1))


def test_no_layers_is_an_error_and_the_head_is_registered():
    with pytest.raises(ValueError, match='num_layers must be >= 1'):
        DINOHead(8, num_layers=0)
    head = MODELS.build(dict(type='DINOHead', in_channels=8, out_channels=3,
                             hidden_channels=4, bottleneck_channels=2))
    assert isinstance(head, DINOHead)
    assert head((torch.randn(2, 8), )).shape == (2, 3)  # a backbone tuple
