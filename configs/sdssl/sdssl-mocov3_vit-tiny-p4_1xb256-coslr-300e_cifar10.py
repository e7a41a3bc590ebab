# SD-MoCo v3, ViT-Tiny with 4 px patches (192-d, 12 blocks, 3 heads; 8 x 8
# tokens on 32 px images), CIFAR-10, batch 256, 300 epochs: projector
# hidden 2048 (last block) / 1024 (others), 256-d out; AdamW 1.5e-4,
# 40 warm-up epochs; CIFAR views without blur.
_base_ = [
    '../_base_/models/sdssl-mocov3_vit-small-p16.py',
    '../_base_/datasets/cifar10_ssl.py',
    '../_base_/schedules/adamw_coslr-300e_sdssl.py',
    '../_base_/default_runtime.py',
]

model = dict(
    backbone=dict(arch='deit-t', img_size=32, patch_size=4),
    neck=dict(in_channels=192, hid_channels=2048),
    inter_neck=dict(in_channels=192, hid_channels=1024),
    predictor=dict(hid_channels=2048))

train_dataloader = dict(batch_size=256)

optim_wrapper = dict(optimizer=dict(lr=1.5e-4, weight_decay=0.1))
auto_scale_lr = dict(base_batch_size=256)

custom_hooks = [dict(_base_.custom_hooks[0], blocks=tuple(range(1, 13)))]
