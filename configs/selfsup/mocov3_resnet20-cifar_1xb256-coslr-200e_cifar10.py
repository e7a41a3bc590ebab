# MoCo v3, CIFAR ResNet-20 (64-d features), CIFAR-10, batch 256, 200 epochs.
# Hyper-parameters of solo-learn's CIFAR recipe: T = 0.2, LARS lr 0.3.
_base_ = [
    '../_base_/models/mocov3_resnet50.py',
    '../_base_/datasets/cifar10_ssl.py',
    '../_base_/schedules/lars_coslr-200e.py',
    '../_base_/default_runtime.py',
]

model = dict(
    backbone=dict(_delete_=True, type='CIFARResNet', depth=20),
    neck=dict(in_channels=64),
    head=dict(temperature=0.2, loss=dict(loss_weight=2 * 0.2)))

train_dataloader = dict(batch_size=256)

optim_wrapper = dict(optimizer=dict(lr=0.3, weight_decay=1e-5, eta=0.02))
auto_scale_lr = dict(base_batch_size=256)
