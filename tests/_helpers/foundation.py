"""Tiny DINOv2 / DINOv3 ViTs with random weights, and their state dicts in
the official repositories' key layouts (what facebookresearch/dinov2 and
dinov3 ``torch.hub`` checkpoints hold), written by inverting timm's own
conversion so that no weights are downloaded."""
from typing import Dict

import timm
import torch
from torch import nn

#: family -> (timm model name, image side that is its native grid)
FAMILIES = {
    'dinov2': ('vit_small_patch14_dinov2', 56),
    'dinov2-reg': ('vit_small_patch14_reg4_dinov2', 56),
    'dinov2-giant': ('vit_giant_patch14_dinov2', 56),  # SwiGLU: w12, w3
    'dinov3': ('vit_small_patch16_dinov3', 64),
    'dinov3-qkvb': ('vit_small_patch16_dinov3_qkvb', 64),
}
SMALL = dict(depth=2, embed_dim=48, num_heads=3)


def layout_of(family: str) -> str:
    """The FrozenTeacher source of a family's official files."""
    return family.split('-')[0]


def tiny_timm(family: str, seed: int = 0, **kwargs) -> nn.Module:
    """timm's own model of ``family`` at depth 2, width 48, on a 4 x 4
    grid, every parameter random (layer scales and norms included, so
    that a misplaced tensor shows), in eval mode."""
    name, size = FAMILIES[family]
    model = timm.create_model(name, pretrained=False, num_classes=0,
                              img_size=size, **SMALL, **kwargs)
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for key, param in model.named_parameters():
            noise = torch.randn(param.shape, generator=gen)
            if 'norm' in key and key.endswith('weight'):
                param.copy_(1 + 0.1 * noise)
            else:
                param.copy_(0.2 * noise)
    return model.eval()


def official_state(family: str, model: nn.Module) -> Dict[str, torch.Tensor]:
    """``model``'s weights in the official layout of ``family``."""
    timm_state = model.state_dict()
    out = {}
    dim = model.embed_dim
    gen = torch.Generator().manual_seed(7)
    if layout_of(family) == 'dinov2':
        for key, value in timm_state.items():
            key = key.replace('mlp.fc1.', 'mlp.w12.') \
                if family == 'dinov2-giant' else key
            key = key.replace('mlp.fc2.', 'mlp.w3.') \
                if family == 'dinov2-giant' else key
            out[key] = value.clone()
        out['mask_token'] = torch.zeros(1, dim)
        if 'reg_token' in out:  # [CLS] position inside pos_embed
            cls_pos = torch.randn(1, 1, dim, generator=gen)
            out['register_tokens'] = out.pop('reg_token')
            out['pos_embed'] = torch.cat([cls_pos, out['pos_embed']], dim=1)
            out['cls_token'] = out['cls_token'] - cls_pos
        return out
    for key, value in timm_state.items():
        key = key.replace('gamma_1', 'ls1.gamma').replace('gamma_2',
                                                          'ls2.gamma')
        key = key.replace('reg_token', 'storage_tokens')
        if key.endswith('attn.q_bias'):
            continue
        if key.endswith('attn.v_bias'):
            q = timm_state[key.replace('v_bias', 'q_bias')]
            base = key[:-len('v_bias')]
            out[base + 'qkv.bias'] = torch.cat([q, torch.zeros_like(q),
                                                value])
            out[base + 'qkv.bias_mask'] = torch.cat(
                [torch.ones_like(q), torch.zeros_like(q), torch.ones_like(q)])
            continue
        out[key] = value.clone()
    for i in range(len(model.blocks)):  # a model without q/v bias: zeros
        out.setdefault(f'blocks.{i}.attn.qkv.bias', torch.zeros(3 * dim))
        out.setdefault(f'blocks.{i}.attn.qkv.bias_mask',
                       torch.tensor([1.] * dim + [0.] * dim + [1.] * dim))
    out['mask_token'] = torch.zeros(1, dim)
    out['rope_embed.periods'] = torch.ones(dim // model.blocks[0].attn
                                           .num_heads // 4)
    return out
