# Semi-supervised fine-tuning of a pre-trained CIFAR ResNet-18 on 1 % of
# the CIFAR-10 labels: the ResNet-20 recipe
# (resnet20-cifar_fine-tune_1xb64-coslr-100e_cifar10-1pct.py) on the
# ResNet-18 model.
_base_ = ['./resnet20-cifar_fine-tune_1xb64-coslr-100e_cifar10-1pct.py']

model = dict(
    backbone=dict(_delete_=True, type='ResNet_CIFAR', depth=18,
                  init_cfg=dict(type='Pretrained', prefix='backbone.',
                                checkpoint='work_dirs/PRETRAINED.pth')),
    head=dict(in_channels=512))
