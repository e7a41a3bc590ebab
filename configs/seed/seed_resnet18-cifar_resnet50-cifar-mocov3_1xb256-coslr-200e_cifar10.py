# SEED on CIFAR-10: ResNet-18 (CIFAR stem) student, the project's MoCo v3
# CIFAR ResNet-50 teacher (see the ResNet-20 version for how to train it).
_base_ = ['./seed_resnet20-cifar_resnet50-cifar-mocov3_1xb256-coslr-200e_cifar10.py']

model = dict(
    backbone=dict(_delete_=True, type='ResNet_CIFAR', depth=18,
                  norm_cfg=dict(type='BN')),
    neck=dict(in_channels=512, hid_channels=512))
