# MoCo v3 with ViT-S/16 (MoCo v3's variant: 384-d, 12 layers, 12 heads,
# frozen random patch projection, fixed 2-D sin-cos position embedding):
# 3-layer projector, 2-layer predictor, InfoNCE at T = 0.2 scaled by 2T,
# momentum encoder 0.99 -> 1. Plain BN1d in the MLPs (no SyncBN).
model = dict(
    type='MoCoV3',
    base_momentum=0.01,  # = paper momentum 0.99 (MMEngine EMA convention)
    backbone=dict(
        type='MoCoV3ViT',  # mmpretrain's VisionTransformer for MoCo v3
        arch='mocov3-small',
        img_size=224,
        patch_size=16,
        stop_grad_conv1=True,
        out_type='cls_token'),
    neck=dict(
        type='NonLinearNeck',
        in_channels=384,
        hid_channels=4096,
        out_channels=256,
        num_layers=3,
        with_bias=False,
        with_last_bn=True,
        with_last_bn_affine=False,
        with_last_bias=False,
        with_avg_pool=False,
        norm_cfg=dict(type='BN1d')),
    head=dict(
        type='MoCoV3Head',
        predictor=dict(
            type='NonLinearNeck',
            in_channels=256,
            hid_channels=4096,
            out_channels=256,
            num_layers=2,
            with_bias=False,
            with_last_bn=True,
            with_last_bn_affine=False,
            with_last_bias=False,
            with_avg_pool=False,
            norm_cfg=dict(type='BN1d')),
        temperature=0.2,
        loss=dict(type='CrossEntropyLoss', loss_weight=2 * 0.2)))  # 2 T

# the frozen patch projection has no gradient
find_unused_parameters = True
