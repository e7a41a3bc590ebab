# Linear probe of a CIFAR ResNet-18 (MMPretrain's ResNet_CIFAR: 3x3 stem,
# no max-pool; the SEED, DoGo and MOKD CIFAR students) on CIFAR-10: the
# ResNet-20 protocol (resnet20-cifar_linear-probe_...: frozen backbone,
# SGD lr 0.1, cosine, 100 epochs) on its 512-d pooled features.
_base_ = ['./resnet20-cifar_linear-probe_1xb256-coslr-100e_cifar10.py']

model = dict(
    backbone=dict(_delete_=True, type='ResNet_CIFAR', depth=18,
                  frozen_stages=4, norm_eval=True,
                  init_cfg=dict(type='Pretrained', prefix='backbone.',
                                checkpoint='work_dirs/PRETRAINED.pth')),
    head=dict(in_channels=512))
