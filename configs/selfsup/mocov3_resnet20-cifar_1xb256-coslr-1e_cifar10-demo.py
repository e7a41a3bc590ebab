# The README's main job, baseline part: the same CIFAR ResNet-20 trained
# without a teacher (MoCo v3) for as many iterations as the SEED student:
# one epoch (195 iterations of batch 256; 40 warm-up iterations, then
# cosine), 2 data workers. The online kNN runs before training and at the
# end, on a class-balanced 10k-image bank and the 10k test images.
_base_ = [
    './mocov3_resnet20-cifar_1xb256-coslr-200e_cifar10.py',
    '../_base_/datasets/cifar10_knn-demo.py',
]

train_cfg = dict(max_epochs=1)
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-4, by_epoch=False, begin=0,
         end=40),
    dict(type='CosineAnnealingLR', T_max=155, by_epoch=False, begin=40,
         end=195),
]
train_dataloader = dict(num_workers=2)

custom_hooks = [dict(_base_.knn_demo_hook, before_train=True)]
default_hooks = dict(logger=dict(interval=20))
