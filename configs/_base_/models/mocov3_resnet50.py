# MoCo v3 with a ResNet-50: 2-layer projector and predictor (4096 hidden,
# 256 out), InfoNCE at T = 1.0 scaled by 2T, momentum encoder 0.99 -> 1.
# Plain BN everywhere: a distributed run converts it with `sync_bn='torch'`.
model = dict(
    type='MoCoV3',
    # MMEngine/MMPretrain EMA convention: weight of the new value, so 0.01
    # is the paper's momentum 0.99 (cosine-increased to 1 by CosineEMA)
    base_momentum=0.01,
    backbone=dict(
        type='ResNet',
        depth=50,
        norm_cfg=dict(type='BN'),
        zero_init_residual=False),
    neck=dict(
        type='NonLinearNeck',
        in_channels=2048,
        hid_channels=4096,
        out_channels=256,
        num_layers=2,
        with_bias=False,
        with_last_bn=True,
        with_last_bn_affine=False,
        with_last_bias=False,
        with_avg_pool=True,
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
            with_last_bn=False,
            with_last_bn_affine=False,
            with_last_bias=False,
            with_avg_pool=False,
            norm_cfg=dict(type='BN1d')),
        temperature=1.0,
        loss=dict(type='CrossEntropyLoss', loss_weight=2 * 1.0)))  # 2 T
