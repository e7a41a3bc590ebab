# SimCLR, CIFAR ResNet-20 (64-d features), CIFAR-10, batch 256, 200 epochs.
# Hyper-parameters of solo-learn's CIFAR recipe: projector 2048-256,
# T = 0.2, LARS lr 0.4.
_base_ = [
    '../_base_/models/simclr_resnet50.py',
    '../_base_/datasets/cifar10_ssl.py',
    '../_base_/schedules/lars_coslr-200e.py',
    '../_base_/default_runtime.py',
]

model = dict(
    backbone=dict(_delete_=True, type='CIFARResNet', depth=20),
    neck=dict(in_channels=64, hid_channels=2048, out_channels=256),
    head=dict(temperature=0.2))

train_dataloader = dict(
    batch_size=256,
    dataset=dict(pipeline={{_base_.simclr_train_pipeline}}))

optim_wrapper = dict(optimizer=dict(lr=0.4, weight_decay=1e-5, eta=0.02))
auto_scale_lr = dict(base_batch_size=256)
