# SD-BYOL, ViT-S/16 (official pl_train_byol.py): loss 2 - 2 cos against the
# EMA teacher's last projection; lambda ramps 0 -> 0.8; projectors and
# predictors end with their last Linear, without MoCo v3's last BN
# (`NetWrapper(..., last_bn=False)`); the rest as SD-MoCo v3.
_base_ = ['./sdssl-mocov3_vit-small-p16_8xb128-coslr-300e_in1k.py']

model = dict(
    base='byol',
    inter_weight=0.8,
    neck=dict(with_last_bn=False),
    inter_neck=dict(with_last_bn=False),
    predictor=dict(with_last_bn=False))
