"""mmssl_kd/models/necks/transformer_head.py: MOKD's T-Head: output
shapes, the projection, the mean over tokens behind a weight-normalised
last layer, the query token dropped, and its position embedding resized
with the official scale factor."""
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from mmssl_kd.models.necks import TransformerHead

E, K = 8, 10


def head(in_channels=6, grid=(2, 2), **kwargs):
    torch.manual_seed(0)
    module = TransformerHead(in_channels, embed_dims=E, out_channels=K,
                             num_blocks=2, num_heads=2, grid=grid, **kwargs)
    module.init_weights()
    return module.eval()


def test_forward_gives_logits_and_embedded_tokens():
    module = head()
    tokens = torch.randn(3, 4, 6)
    logits, embedded = module(tokens)
    assert logits.shape == (3, K) and embedded.shape == (3, 4, E)
    torch.testing.assert_close(embedded, module.proj(tokens))
    assert isinstance(module.proj, nn.Linear)
    assert isinstance(head(in_channels=E).proj, nn.Identity)


def test_logits_are_the_last_layer_of_the_token_mean():
    module = head()
    embedded = torch.randn(2, 4, E)
    x = module.norm(module.blocks(embedded + module.pos_embed))
    torch.testing.assert_close(module.attend(embedded),
                               module.last_layer(x.mean(dim=1)))
    torch.testing.assert_close(module.last_layer.weight.norm(dim=1),
                               torch.ones(K))
    assert not module.last_layer.parametrizations.weight.original0 \
        .requires_grad
    assert head(norm_last_layer=False).last_layer.parametrizations.weight \
        .original0.requires_grad


def test_query_attends_with_the_tokens_and_is_dropped():
    """The query is prepended after the position embedding and left out of
    the mean; it changes the tokens through attention."""
    module = head()
    embedded, query = torch.randn(2, 4, E), torch.randn(2, E)
    x = torch.cat([query[:, None], embedded + module.pos_embed], dim=1)
    x = module.norm(module.blocks(x))[:, 1:]
    with_query = module.attend(embedded, query)
    torch.testing.assert_close(with_query, module.last_layer(x.mean(dim=1)))
    assert not torch.allclose(with_query, module.attend(embedded))


def test_position_embedding_resized_with_the_official_scale_factor():
    module = head(grid=(2, 2))
    pos = module._pos_embed(9)  # a 3 x 3 grid
    grid = module.pos_embed.reshape(1, 2, 2, E).permute(0, 3, 1, 2)
    expected = F.interpolate(grid, scale_factor=(1.55, 1.55), mode='bicubic',
                             align_corners=False)
    assert pos.shape == (1, 9, E)
    torch.testing.assert_close(pos, expected.permute(0, 2, 3, 1)
                               .flatten(1, 2))
    assert module._pos_embed(4) is module.pos_embed
    assert module(torch.randn(1, 9, 6))[0].shape == (1, K)
    with pytest.raises(ValueError, match='square token grid, got 5'):
        module(torch.randn(1, 5, 6))
