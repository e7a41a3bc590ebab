# BYOL with a ResNet-50: 2-layer projector and predictor (4096 hidden, 256
# out, no BN on the output), normalised-MSE (cosine) loss, target network
# momentum 0.99 -> 1. Plain BN everywhere: a distributed run converts it with
# `sync_bn='torch'`.
model = dict(
    type='BYOL',
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
        with_bias=True,
        with_last_bn=False,
        with_avg_pool=True,
        norm_cfg=dict(type='BN1d')),
    head=dict(
        type='LatentPredictHead',
        predictor=dict(
            type='NonLinearNeck',
            in_channels=256,
            hid_channels=4096,
            out_channels=256,
            num_layers=2,
            with_bias=True,
            with_last_bn=False,
            with_avg_pool=False,
            norm_cfg=dict(type='BN1d')),
        loss=dict(type='CosineSimilarityLoss')))
