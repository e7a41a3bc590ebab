# BYOL with ViT-S/16 (DeiT-S shape: 384-d, 12 layers, 6 heads; class-token
# feature): 3-layer projector as in MoCo v3's ViT recipes and BYOL's 2-layer
# predictor (4096 hidden, 256 out), cosine loss, target momentum 0.99 -> 1.
model = dict(
    type='BYOL',
    base_momentum=0.01,  # = paper momentum 0.99 (MMEngine EMA convention)
    backbone=dict(
        type='VisionTransformer',
        arch='deit-small',
        img_size=224,
        patch_size=16,
        out_type='cls_token'),
    neck=dict(
        type='NonLinearNeck',
        in_channels=384,
        hid_channels=4096,
        out_channels=256,
        num_layers=3,
        with_bias=True,
        with_last_bn=False,
        with_avg_pool=False,
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
