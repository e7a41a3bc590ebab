# SD-MoCo v3 with ViT-B/16 (the official code's `vit_base`: 768-d, 12
# blocks, 12 heads); the rest as the ViT-S recipe.
_base_ = ['./sdssl-mocov3_vit-small-p16_8xb128-coslr-300e_in1k.py']

model = dict(
    backbone=dict(arch='b'),
    neck=dict(in_channels=768),
    inter_neck=dict(in_channels=768))
