# SEED on CIFAR-10: ResNet-18 (CIFAR stem, 512-d) student, supervised CIFAR
# ResNet-56 teacher; head Linear(512, 512)-ReLU-Linear(512, 10).
_base_ = ['./seed_resnet20-cifar_resnet56-cifar-sup_1xb256-coslr-200e_cifar10.py']

model = dict(
    backbone=dict(_delete_=True, type='ResNet_CIFAR', depth=18,
                  norm_cfg=dict(type='BN')),
    neck=dict(in_channels=512, hid_channels=512))
