# BYOL, ResNet-18 with a CIFAR stem (512-d features), CIFAR-10; the rest as
# in the ResNet-20 recipe.
_base_ = ['./byol_resnet20-cifar_1xb256-coslr-200e_cifar10.py']

model = dict(
    backbone=dict(_delete_=True, type='ResNet_CIFAR', depth=18,
                  norm_cfg=dict(type='BN'), zero_init_residual=False),
    neck=dict(in_channels=512))
