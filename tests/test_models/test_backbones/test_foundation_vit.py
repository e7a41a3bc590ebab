"""FoundationViT: the outputs a config picks, position embeddings
resampled as timm resamples them, bf16 autocast and weights."""
import pytest
import timm
import torch
from _helpers import foundation
from timm.layers import resample_abs_pos_embed

from mmssl_kd.models.backbones import FoundationViT


def wrapped(family: str, outputs, **kwargs) -> FoundationViT:
    """A FoundationViT holding :func:`foundation.tiny_timm`'s weights."""
    name, size = foundation.FAMILIES[family]
    vit = FoundationViT(name, outputs=outputs, img_size=size,
                        **foundation.SMALL, **kwargs)
    vit.timm_model.load_state_dict(foundation.tiny_timm(family).state_dict())
    return vit.eval()


def images(h: int, w: int) -> torch.Tensor:
    return torch.randn(2, 3, h, w, generator=torch.Generator()
                       .manual_seed(0))


@pytest.mark.parametrize('family', ['dinov2', 'dinov2-reg', 'dinov3'])
def test_outputs_against_timm(family):
    ref = foundation.tiny_timm(family)
    outputs = ('cls', 'pooled', 'map', 'tokens', 'block0', 'block-1')
    if family != 'dinov2':
        outputs += ('registers', )
    vit = wrapped(family, outputs)
    size = foundation.FAMILIES[family][1]
    x = images(size, size)
    with torch.no_grad():
        tokens = ref.forward_features(x)
        blocks = ref.forward_intermediates(
            x, indices=[0, 1], norm=False, output_fmt='NCHW',
            intermediates_only=True)
        got = dict(zip(outputs, vit(x)))
    prefix = ref.num_prefix_tokens
    assert torch.equal(got['tokens'], tokens)
    assert torch.equal(got['cls'], tokens[:, 0])
    torch.testing.assert_close(got['pooled'], tokens[:, prefix:].mean(1))
    if family == 'dinov3':  # timm's own pooling (global_pool='avg')
        torch.testing.assert_close(
            got['pooled'], ref.forward_head(tokens, pre_logits=True))
    assert got['map'].shape == (2, 48, 4, 4)
    assert torch.equal(got['map'].flatten(2).transpose(1, 2),
                       tokens[:, prefix:])
    torch.testing.assert_close(got['block0'], blocks[0])
    torch.testing.assert_close(got['block-1'], blocks[1])
    if 'registers' in got:
        assert got['registers'].shape == (2, 4, 48)
        assert torch.equal(got['registers'], tokens[:, 1:prefix])
    assert all(v.dtype == torch.float32 for v in got.values())


@pytest.mark.parametrize('family', ['dinov2', 'dinov2-reg'])
def test_position_embeddings_resampled_as_timm(family):
    """At 70 x 42 (a 5 x 3 grid; trained on 4 x 4) the teacher equals a
    timm model built for 70 x 42 whose pos_embed timm's
    resample_abs_pos_embed made."""
    ref = foundation.tiny_timm(family)
    vit = wrapped(family, ('tokens', 'map'))
    name = foundation.FAMILIES[family][0]
    fixed = timm.create_model(name, pretrained=False, num_classes=0,
                              img_size=(70, 42), **foundation.SMALL).eval()
    state = ref.state_dict()
    state['pos_embed'] = resample_abs_pos_embed(
        state['pos_embed'], new_size=(5, 3), old_size=(4, 4),
        num_prefix_tokens=0 if ref.no_embed_class else 1)
    fixed.load_state_dict(state)
    x = images(70, 42)
    tokens, fmap = vit(x)
    with torch.no_grad():
        torch.testing.assert_close(tokens, fixed.forward_features(x))
    assert fmap.shape == (2, 48, 5, 3)


def test_dinov3_any_multiple_of_16():
    vit = wrapped('dinov3', ('map', 'cls'))
    fmap, cls = vit(images(96, 48))
    assert fmap.shape == (2, 48, 6, 3) and cls.shape == (2, 48)


def test_bf16_autocast_on_request_outputs_fp32():
    x = images(56, 56)
    fp32 = wrapped('dinov2', ('map', 'cls'))  # 'auto': fp32 on a CPU
    amp = wrapped('dinov2', ('map', 'cls'), autocast=True)
    for out, ref in zip(amp(x), fp32(x)):
        assert out.dtype == torch.float32
        assert not torch.equal(out, ref)  # it did run in bf16
        torch.testing.assert_close(out, ref, rtol=0.1, atol=0.1)


def test_bad_arguments():
    kw = dict(img_size=56, **foundation.SMALL)
    name = 'vit_small_patch14_dinov2'
    with pytest.raises(TypeError, match='download'):
        FoundationViT(name, pretrained=True, **kw)
    with pytest.raises(ValueError, match="'block<k>'"):
        FoundationViT(name, outputs=('patches', ), **kw)
    with pytest.raises(ValueError, match='2 blocks'):
        FoundationViT(name, outputs=('block2', ), **kw)
    with pytest.raises(ValueError, match='no register'):
        FoundationViT(name, outputs=('registers', ), **kw)
    with pytest.raises(ValueError, match='weights_dtype'):
        FoundationViT(name, weights_dtype='int8', **kw)
