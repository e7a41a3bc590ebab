"""mmssl_kd/models/backbones/multilayer_vit.py: MultiLayerCLSViT gives the
[CLS] token of every chosen block through the shared final LayerNorm, the
last one as MMPretrain's ViT, with a plain ViT's weights."""
import pytest
import torch
from mmpretrain.models.backbones import VisionTransformer

from mmssl_kd.models.backbones import MultiLayerCLSViT

ARCH = dict(embed_dims=16, num_layers=3, num_heads=2,
            feedforward_channels=32)
KW = dict(img_size=16, patch_size=8)


def vit(**kwargs):
    torch.manual_seed(0)
    model = MultiLayerCLSViT(arch=ARCH, **KW, **kwargs)
    model.init_weights()
    model.eval()  # (MMPretrain's ViT.train returns None, not the model)
    return model


def plain(model, **kwargs):
    """A ``VisionTransformer`` holding ``model``'s weights."""
    other = VisionTransformer(arch=ARCH, **KW, **kwargs)
    other.eval()
    missing, unexpected = other.load_state_dict(model.state_dict(),
                                                strict=False)
    assert not missing
    return other


def test_every_block_through_the_final_norm():
    model = vit()
    images = torch.randn(2, 3, 16, 16)
    with torch.no_grad():
        outs = model(images)
        raw = plain(model, out_indices=(0, 1, 2), out_type='raw',
                    final_norm=False)(images)
    assert len(outs) == 3 and all(o.shape == (2, 16) for o in outs)
    for out, tokens in zip(outs, raw):
        torch.testing.assert_close(out, model.ln1(tokens[:, 0]))
    assert not torch.allclose(outs[0], outs[1])


def test_last_block_is_mmpretrains_cls_token_and_weights_load_strictly():
    model = vit()
    reference = VisionTransformer(arch=ARCH, **KW, out_type='cls_token')
    reference.load_state_dict(model.state_dict())  # strict: same keys
    reference.eval()
    images = torch.randn(2, 3, 16, 16)
    with torch.no_grad():
        torch.testing.assert_close(model(images)[-1],
                                   reference(images)[-1])


def test_out_indices_are_sorted_and_negative_ones_count_from_the_end():
    model = vit(out_indices=[-1, 0])
    assert model.out_indices == [0, 2]
    images = torch.randn(1, 3, 16, 16)
    with torch.no_grad():
        first, last = model(images)
        every = vit()(images)
    torch.testing.assert_close(first, every[0])
    torch.testing.assert_close(last, every[2])


@pytest.mark.parametrize('kwargs,match', [
    (dict(out_indices=[0, -3]), 'distinct block indices'),
    (dict(out_indices=[3]), 'distinct block indices'),
    (dict(out_indices=[]), 'distinct block indices'),
    (dict(out_type='cls_token'), 'fixes out_type'),
    (dict(final_norm=False), 'fixes final_norm'),
])
def test_bad_arguments_are_refused(kwargs, match):
    with pytest.raises(ValueError, match=match):
        MultiLayerCLSViT(arch=ARCH, **KW, **kwargs)
