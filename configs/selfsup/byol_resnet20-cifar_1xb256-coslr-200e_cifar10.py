# BYOL, CIFAR ResNet-20 (64-d features), CIFAR-10, batch 256, 200 epochs.
# Hyper-parameters of solo-learn's CIFAR recipe: projector and predictor
# 4096-256, target momentum 0.99 -> 1, LARS lr 1.0.
_base_ = [
    '../_base_/models/byol_resnet50.py',
    '../_base_/datasets/cifar10_ssl.py',
    '../_base_/schedules/lars_coslr-200e.py',
    '../_base_/default_runtime.py',
]

model = dict(
    backbone=dict(_delete_=True, type='CIFARResNet', depth=20),
    neck=dict(in_channels=64))

train_dataloader = dict(batch_size=256)

optim_wrapper = dict(optimizer=dict(lr=1.0, weight_decay=1e-5, eta=0.02))
auto_scale_lr = dict(base_batch_size=256)
