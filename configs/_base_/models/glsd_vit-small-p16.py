# Global-Local Self-Distillation with DINO's ViT-S/16 (384-d, 12 blocks,
# drop-path 0.1; the teacher runs without): global vector = [CLS], region
# tokens = the 14 x 14 (224 px) or 6 x 6 (96 px) patch tokens after the
# final norm; heads, losses and weights as the Swin-T recipe, matching at
# 16 px per token.
_base_ = './glsd_swin-tiny-w7.py'

model = dict(
    backbone=dict(_delete_=True, type='VisionTransformer', arch='deit-s',
                  img_size=224, patch_size=16, drop_path_rate=0.1,
                  out_type='raw'),
    neck=dict(in_channels=384),
    dense_neck=dict(in_channels=384),
    downsampling_rate=16)
