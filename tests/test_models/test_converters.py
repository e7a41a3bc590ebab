"""Backbone weights in timm's and torchvision's layouts load strictly
(classifier aside) and give the same features as the MMPretrain
backbone."""
import pytest
import timm
import torch
import torchvision
from mmpretrain.models import ResNet, VisionTransformer
from torchvision.models.vision_transformer import (
    VisionTransformer as TorchvisionViT,
)

from mmssl_kd.models.converters import (
    backbone_kind,
    convert_backbone,
    vit_from_timm,
    wrapped_model_code,
)


def vit():
    torch.manual_seed(0)
    model = VisionTransformer(
        arch=dict(embed_dims=48, num_layers=2, num_heads=3,
                  feedforward_channels=192),
        img_size=32, patch_size=8, out_type='raw')
    model.init_weights()
    model.eval()  # MMPretrain's ViT.eval() returns None
    return model


def load(target, state, classifier):
    missing, unexpected = target.load_state_dict(state, strict=False)
    assert not unexpected
    assert all(k.startswith(classifier) for k in missing), missing
    return target.eval()


def test_vit_to_timm_and_torchvision():
    source = vit()
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        expected = source(x)[0]  # (B, 1 + T, C) after the final norm
        state = source.state_dict()
        tm = load(timm.models.vision_transformer.VisionTransformer(
            img_size=32, patch_size=8, embed_dim=48, depth=2, num_heads=3,
            num_classes=0), convert_backbone(state, 'timm'), 'head')
        torch.testing.assert_close(tm.forward_features(x), expected)
        tv = load(TorchvisionViT(image_size=32, patch_size=8, num_layers=2,
                                 num_heads=3, hidden_dim=48, mlp_dim=192),
                  convert_backbone(state, 'torchvision'), 'heads')
        tokens = torch.cat([tv.class_token.expand(2, -1, -1),
                            tv._process_input(x)], dim=1)
        torch.testing.assert_close(tv.encoder(tokens), expected)


def test_resnet_keeps_torchvision_and_timm_names():
    torch.manual_seed(0)
    source = ResNet(depth=18)
    source.init_weights()
    source.eval()
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        expected = source(x)[-1]
        state = source.state_dict()
        tv = load(torchvision.models.resnet18(),
                  convert_backbone(state, 'torchvision'), 'fc')
        features = torch.nn.Sequential(*list(tv.children())[:-2])
        torch.testing.assert_close(features(x), expected)
        tm = load(timm.create_model('resnet18', pretrained=False),
                  convert_backbone(state, 'timm'), 'fc')
        torch.testing.assert_close(tm.forward_features(x), expected)


def test_unknown_backbones_and_layouts_are_refused():
    with pytest.raises(ValueError, match='neither'):
        backbone_kind({'stem.0.weight': torch.zeros(1)})
    with pytest.raises(ValueError, match='layout must be one of'):
        convert_backbone(vit().state_dict(), 'onnx')
    assert convert_backbone({'x': torch.zeros(1)}, 'mmpretrain').keys() == \
        {'x'}


def test_vit_from_timm_inverts_to_timm():
    state = vit().state_dict()
    back = vit_from_timm(convert_backbone(state, 'timm'))
    assert back.keys() == state.keys()
    assert all(back[k] is state[k] for k in state)
    with pytest.raises(ValueError, match='MMPretrain name'):
        vit_from_timm({'head.weight': torch.zeros(1)})


def test_wrapper_arguments_do_not_reach_the_library_builder():
    """Every argument a wrapper takes itself (here all of FoundationViT's)
    stays out of the printed ``timm.create_model`` call; the builder's own
    (``img_size``) go in."""
    code = wrapped_model_code(dict(
        type='FoundationViT', model_name='vit_small_patch14_dinov2',
        outputs=('map', 'cls'), autocast=False, weights_dtype='bfloat16',
        pos_interpolation='timm', init_cfg=None, img_size=56))
    assert code == ("model = timm.create_model('vit_small_patch14_dinov2', "
                    'pretrained=False, num_classes=0, img_size=56, '
                    'dynamic_img_size=True)')
