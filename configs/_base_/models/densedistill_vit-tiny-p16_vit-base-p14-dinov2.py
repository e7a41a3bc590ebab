# densedistill_resnet18_vit-base-p14-dinov2.py with a ViT-Tiny/16 student
# (timm's `vit_tiny_patch16_224`): its last block's patch tokens as a map,
# 192 x 14 x 14 at 224 px, for both terms (the global head pools it). Any
# input side that is a multiple of 16 (position embeddings resampled).
_base_ = ['./densedistill_resnet18_vit-base-p14-dinov2.py']

model = dict(
    backbone=dict(model_name='vit_tiny_patch16_224', dynamic_img_size=True),
    neck=dict(in_channels=192, hid_channels=192),
    dense_neck=dict(in_channels=192))
