"""DenseProjector: a 1x1 convolution (or two) at every location."""
import torch

from mmssl_kd.models.necks import DenseProjector


def test_one_convolution_is_a_linear_map_per_location():
    head = DenseProjector(4, 6)
    x = torch.randn(2, 4, 3, 5)
    out = head((torch.randn(2, 1, 1, 1), x))  # a backbone's outputs: last
    assert out.shape == (2, 6, 3, 5)
    weight, bias = head.proj.weight[:, :, 0, 0], head.proj.bias
    torch.testing.assert_close(out[1, :, 2, 4], weight @ x[1, :, 2, 4] + bias)


def test_hidden_layer():
    head = DenseProjector(4, 6, hidden_channels=8)
    assert head(torch.randn(2, 4, 3, 3)).shape == (2, 6, 3, 3)
    assert isinstance(head.proj[1], torch.nn.BatchNorm2d)
