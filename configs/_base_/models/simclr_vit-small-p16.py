# SimCLR with ViT-S/16 (DeiT-S shape: 384-d, 12 layers, 6 heads; class-token
# feature): 3-layer projector as in MoCo v3's ViT recipes (4096 hidden, 256
# out), NT-Xent at T = 0.2.
# 'SimCLR' is mmssl_kd's: the project's NT-Xent, whose all-gather has the
# right gradient across ranks (MMPretrain's GatherLayer: stack.md item 7).
model = dict(
    type='SimCLR',
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
        with_avg_pool=False,
        norm_cfg=dict(type='BN1d')),
    head=dict(
        type='ContrastiveHead',
        loss=dict(type='CrossEntropyLoss'),
        temperature=0.2))
