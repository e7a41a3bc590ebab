# CPU demo of DINO: the SDSSL demo's small ViT (96-d, 6 blocks, 4 px
# patches), 5 epochs on a class-balanced 10k-image subset of CIFAR-10
# (195 iterations of batch 256), 2 global + 6 local crops, head
# 512-128-1024; one warm-up epoch; teacher temperature 0.04 -> 0.07 over
# the 5 epochs; the last layer frozen in epoch 0. The online kNN runs
# before training and at the end (bank: 1,000 training images per class;
# queries: the 10k test images).
_base_ = [
    './dino_vit-tiny-p4_1xb256-coslr-100e_cifar10.py',
    '../_base_/datasets/cifar10_knn-demo.py',
]

model = dict(
    backbone=dict(arch=dict(_delete_=True, embed_dims=96, num_layers=6,
                            num_heads=3, feedforward_channels=384),
                  drop_path_rate=0.),
    neck=dict(in_channels=96, out_channels=1024, hidden_channels=512,
              bottleneck_channels=128),
    loss=dict(out_channels=1024, warmup_epochs=5))

train_dataloader = dict(num_workers=2, dataset=dict(num_per_class=1000))
train_cfg = dict(max_epochs=5)
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=True, begin=0, end=1,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', T_max=4, eta_min=1e-6, by_epoch=True,
         begin=1, end=5, convert_to_iter_based=True),
    dict(type='CosineAnnealingParamScheduler', param_name='weight_decay',
         eta_min_ratio=10., by_epoch=True, begin=0, end=5,
         convert_to_iter_based=True),
]
custom_hooks = [
    dict(type='FreezeLastLayerHook', epochs=1),
    dict(_base_.knn_demo_hook, interval=5, before_train=True),
]
default_hooks = dict(logger=dict(interval=13))
