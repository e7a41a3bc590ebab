"""TimmBackbone: any timm model by name; stage maps as timm's
features_only model gives them, or timm's pooled embedding."""
import pytest
import timm
import torch
from mmengine.registry import init_default_scope

from mmssl_kd.models import FrozenTeacher
from mmssl_kd.models.backbones import TimmBackbone
from mmssl_kd.registry import MODELS


@pytest.mark.parametrize('name', ['resnet18', 'mobilenetv4_conv_small'])
def test_features_only_shapes_match_timm(name):
    backbone = TimmBackbone(name, features_only=True).eval()
    reference = timm.create_model(name, pretrained=False,
                                  features_only=True).eval()
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        maps, expected = backbone(x), reference(x)
    assert [m.shape for m in maps] == [e.shape for e in expected]
    assert backbone.stage_channels() == tuple(
        reference.feature_info.channels())


def test_out_indices_order_and_negative():
    backbone = TimmBackbone('resnet18', features_only=True,
                            out_indices=(-1, 2)).eval()
    maps = backbone(torch.randn(1, 3, 64, 64))
    assert [tuple(m.shape) for m in maps] == [(1, 512, 2, 2),
                                              (1, 128, 8, 8)]
    assert backbone.stage_channels() == (512, 128)


@pytest.mark.parametrize('name, kwargs, frozen', [
    ('resnet18', {}, set()),
    ('mobilenetv4_conv_small', {}, {'conv_head', 'norm_head'}),
    ('efficientnet_b0', {}, {'conv_head', 'bn2'}),
    ('vit_tiny_patch16_224', dict(img_size=32), {'norm'}),
])
def test_features_only_trains_exactly_what_the_maps_use(name, kwargs,
                                                         frozen):
    """Every trainable parameter gets a gradient from the last map, and
    the frozen ones are the layers after it (DDP without
    find_unused_parameters); the state dict is still timm's whole model."""
    backbone = TimmBackbone(name, features_only=True, out_indices=(-1, ),
                            **kwargs)
    backbone(torch.randn(2, 3, 32, 32))[0].square().mean().backward()
    params = dict(backbone.timm_model.named_parameters())
    assert {n for n, p in params.items() if p.grad is None} == \
        {n for n, p in params.items() if not p.requires_grad}
    assert {n.rsplit('.', 1)[0] for n, p in params.items()
            if not p.requires_grad} == frozen
    assert backbone.timm_model.state_dict().keys() == timm.create_model(
        name, pretrained=False, num_classes=0, **kwargs).state_dict().keys()


def test_pooled_embedding_equals_timm_and_loads_as_timm_teacher(tmp_path):
    init_default_scope('mmssl_kd')
    source = timm.create_model('resnet18', pretrained=False).eval()
    path = tmp_path / 'timm.pth'
    torch.save(source.state_dict(), path)
    teacher = FrozenTeacher(dict(type='TimmBackbone', model_name='resnet18'),
                            checkpoint=str(path), source='timm')
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        expected = source.forward_head(source.forward_features(x),
                                       pre_logits=True)
    assert torch.equal(teacher(x), expected)
    assert MODELS.get('TimmBackbone') is TimmBackbone
    assert MODELS.get('TIMMBackbone') is not TimmBackbone  # MMPretrain's


def test_refuses_downloads_and_classifiers():
    with pytest.raises(TypeError, match='pretrained'):
        TimmBackbone('resnet18', pretrained=True)
    with pytest.raises(TypeError, match='num_classes'):
        TimmBackbone('resnet18', num_classes=10)
