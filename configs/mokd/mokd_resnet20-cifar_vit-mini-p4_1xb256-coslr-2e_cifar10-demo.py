# CPU demo of MOKD: a CIFAR ResNet-20 (64-d, 8 x 8 map at 32 px) and the
# 6-block ViT/4 of the other demos (96-d), 2 epochs of a class-balanced
# 10k-image CIFAR-10 subset (78 iterations of batch 256; 1 warm-up epoch),
# DINO heads 512-128-1024, T-Heads of 1 block (width 96, 3 heads). Teacher
# temperature 0.04 in epoch 0 and 0.07 in epoch 1 (a 1-epoch warm-up).
# kNN of both models before and after training (bank: 1,000 training images
# per class; queries: the 10k test images).
_base_ = [
    './mokd_resnet18-cifar_vit-tiny-p4_1xb256-coslr-100e_cifar10.py',
    '../_base_/datasets/cifar10_knn-demo.py',
]

dino_head = dict(out_channels=1024, hidden_channels=512,
                 bottleneck_channels=128)
head = dict(out_channels=1024, embed_dims=96, num_heads=3, num_blocks=1)
model = dict(
    cnn=dict(backbone=dict(_delete_=True, type='CIFARResNet', depth=20),
             neck=dict(dino_head, in_channels=64),
             head=dict(head, in_channels=64, grid=(8, 8))),
    vit=dict(backbone=dict(arch=dict(_delete_=True, embed_dims=96,
                                     num_layers=6, num_heads=3,
                                     feedforward_channels=384),
                           drop_path_rate=0.),
             neck=dict(dino_head, in_channels=96),
             head=dict(head, in_channels=96)),
    loss=dict(out_channels=1024),
    cnn_warmup_epochs=1,
    vit_warmup_epochs=1)

train_dataloader = dict(num_workers=2, dataset=dict(num_per_class=1000))
train_cfg = dict(max_epochs=2)
warmup = dict(_base_.warmup, end=1)
param_scheduler = dict(
    cnn=[warmup, dict(_base_.param_scheduler.cnn[1], T_max=1, begin=1,
                      end=2)],
    vit=[warmup, dict(_base_.param_scheduler.vit[1], T_max=1, begin=1,
                      end=2),
         dict(_base_.param_scheduler.vit[2], end=2)])
custom_hooks = [
    dict(type='FreezeLastLayerHook', epochs=1),
    dict(_base_.knn_demo_hook, interval=2, before_train=True,
         parts=('backbone', 'peer')),
]
default_hooks = dict(logger=dict(interval=13))
