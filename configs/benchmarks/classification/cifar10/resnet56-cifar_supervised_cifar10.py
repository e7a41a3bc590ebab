# Supervised CIFAR ResNet-56 (He et al. 2016, option-A shortcuts) on
# CIFAR-10: the recipe of the shared teacher weights
# (shared/weights/cifar10-resnet: 200 epochs, batch 128, SGD lr 0.1 divided
# by 10 at epochs 100 and 150), and their test on data/cifar10/test.
# Inputs are normalised with the ImageNet mean / std, as those weights
# expect. The class folders sort into CIFAR-10's label order (airplane ...
# truck). Test the shared weights (../README.md):
#   python tools/model_converters/cifar_resnet_to_mmpretrain.py \
#       ../shared/weights/cifar10-resnet/resnet56-4bfd9763.th \
#       work_dirs/teachers/resnet56_cifar10.pth
#   python tools/test.py THIS_CONFIG work_dirs/teachers/resnet56_cifar10.pth
_base_ = [
    '../../../_base_/datasets/cifar10_cls.py',
    '../../../_base_/default_runtime.py',
]

model = dict(
    type='ImageClassifier',
    data_preprocessor=dict(
        type='ClsDataPreprocessor',
        num_classes=10,
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375],
        to_rgb=True),
    backbone=dict(type='CIFARResNet', depth=56),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(
        type='LinearClsHead',
        num_classes=10,
        in_channels=64,
        loss=dict(type='CrossEntropyLoss', loss_weight=1.0),
        topk=(1, 5)))

train_dataloader = dict(batch_size=128)

optim_wrapper = dict(
    optimizer=dict(type='SGD', lr=0.1, momentum=0.9, weight_decay=1e-4))
param_scheduler = dict(
    type='MultiStepLR', by_epoch=True, milestones=[100, 150], gamma=0.1)
train_cfg = dict(by_epoch=True, max_epochs=200, val_interval=10)
auto_scale_lr = dict(base_batch_size=128)
