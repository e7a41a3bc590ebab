# SimCLR with a ResNet-50: 2-layer projector (2048 hidden, 128 out), NT-Xent
# at T = 0.1 over the views of the whole (gathered) batch.
# 'SimCLR' is mmssl_kd's: MMPretrain's model with the project's NT-Xent,
# whose all-gather has the right gradient across ranks (MMPretrain's
# GatherLayer does not: shared/design/stack.md item 7).
# Plain BN everywhere: a distributed run converts it with `sync_bn='torch'`.
model = dict(
    type='SimCLR',
    backbone=dict(
        type='ResNet',
        depth=50,
        norm_cfg=dict(type='BN'),
        zero_init_residual=True),
    neck=dict(
        type='NonLinearNeck',
        in_channels=2048,
        hid_channels=2048,
        out_channels=128,
        num_layers=2,
        with_avg_pool=True,
        norm_cfg=dict(type='BN1d')),
    head=dict(
        type='ContrastiveHead',
        loss=dict(type='CrossEntropyLoss'),
        temperature=0.1))
