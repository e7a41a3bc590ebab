"""FoundationViT: the outputs a config picks, position embeddings
resampled as the official models (or timm) resample them, bf16 autocast
and weights."""
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


def official_dinov2_resample(pos_embed: torch.Tensor, size) -> torch.Tensor:
    """The official DINOv2 models' ``interpolate_pos_encoding`` without
    registers (``interpolate_offset=0.1``): bicubic by the scale factor
    (h + 0.1) / M, no antialiasing, [CLS] embedding kept."""
    grid = pos_embed[:, 1:].reshape(1, 4, 4, -1).permute(0, 3, 1, 2)
    grid = torch.nn.functional.interpolate(
        grid, scale_factor=((size[0] + 0.1) / 4, (size[1] + 0.1) / 4),
        mode='bicubic', antialias=False)
    return torch.cat([pos_embed[:, :1], grid.flatten(2).transpose(1, 2)], 1)


def timm_resample(pos_embed: torch.Tensor, size) -> torch.Tensor:
    """timm's resampling of a 4 x 4 grid (with a [CLS] entry or, for the
    register models, without)."""
    return resample_abs_pos_embed(pos_embed, new_size=size, old_size=(4, 4),
                                  num_prefix_tokens=pos_embed.shape[1] - 16)


@pytest.mark.parametrize('family, mode, resample', [
    ('dinov2', 'official', official_dinov2_resample),
    ('dinov2', 'timm', timm_resample),
    ('dinov2-reg', 'official', timm_resample),  # the official reg models'
    ('dinov2-reg', 'timm', timm_resample),
])
def test_position_embeddings_resampled_as_the_official_models(
        family, mode, resample):
    """At 70 x 42 (a 5 x 3 grid; trained on 4 x 4) the teacher equals a
    timm model built for 70 x 42 whose pos_embed was resampled as the
    official hub models do (DINOv2 without registers: a scale factor with
    an offset of 0.1; with registers: timm's resample_abs_pos_embed), or
    with pos_interpolation='timm' as timm does."""
    ref = foundation.tiny_timm(family)
    vit = wrapped(family, ('tokens', 'map'), pos_interpolation=mode)
    name = foundation.FAMILIES[family][0]
    fixed = timm.create_model(name, pretrained=False, num_classes=0,
                              img_size=(70, 42), **foundation.SMALL).eval()
    state = ref.state_dict()
    state['pos_embed'] = resample(state['pos_embed'], (5, 3))
    fixed.load_state_dict(state)
    x = images(70, 42)
    tokens, fmap = vit(x)
    with torch.no_grad():
        torch.testing.assert_close(tokens, fixed.forward_features(x))
        # the two resamplings differ: the switch matters
        trained = foundation.tiny_timm('dinov2').state_dict()['pos_embed']
        assert not torch.allclose(official_dinov2_resample(trained, (5, 3)),
                                  timm_resample(trained, (5, 3)), atol=1e-3)
    assert fmap.shape == (2, 48, 5, 3)
    # at the training grid both leave the embeddings as they are
    with torch.no_grad():
        torch.testing.assert_close(vit(images(56, 56))[0],
                                   ref.forward_features(images(56, 56)))


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
