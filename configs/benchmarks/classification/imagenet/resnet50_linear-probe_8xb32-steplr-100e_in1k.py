# Linear probe of a ResNet-50 on ImageNet-1k, MoCo's main_lincls.py (the
# protocol of SEED and MoCo v2): the pre-trained backbone frozen (weights
# and BN statistics), global average pooling, a 1000-way linear classifier
# initialised N(0, 0.01) with zero bias; SGD lr 30 (batch 256), momentum
# 0.9, no weight decay, 100 epochs, lr x0.1 at epochs 60 and 80; random
# resized crop 224 + flip; tested on resize 256 + centre crop 224.
# The backbone comes from `init_cfg.checkpoint`: an mmssl_kd checkpoint's
# student (`prefix='backbone.'`), or any sub-model exported with
# tools/model_converters/extract_backbone.py (then
# `model.backbone.init_cfg.prefix=None`).
#   bash tools/dist_train.sh THIS_CONFIG 8 --cfg-options \
#       model.backbone.init_cfg.checkpoint=work_dirs/RUN/epoch_200.pth
_base_ = [
    '../../../_base_/datasets/imagenet_cls.py',
    '../../../_base_/default_runtime.py',
]

model = dict(
    type='ImageClassifier',
    data_preprocessor=dict(
        type='ClsDataPreprocessor',
        num_classes=1000,
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375],
        to_rgb=True),
    backbone=dict(
        type='ResNet', depth=50, frozen_stages=4, norm_eval=True,
        init_cfg=dict(type='Pretrained', prefix='backbone.',
                      checkpoint='work_dirs/PRETRAINED.pth')),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(
        type='LinearClsHead',
        num_classes=1000,
        in_channels=2048,
        loss=dict(type='CrossEntropyLoss', loss_weight=1.0),
        init_cfg=dict(type='Normal', std=0.01, layer='Linear'),
        topk=(1, 5)))

optim_wrapper = dict(
    optimizer=dict(type='SGD', lr=30., momentum=0.9, weight_decay=0.))
param_scheduler = dict(type='MultiStepLR', by_epoch=True,
                       milestones=[60, 80], gamma=0.1)
train_cfg = dict(by_epoch=True, max_epochs=100, val_interval=10)
default_hooks = dict(checkpoint=dict(interval=10))
auto_scale_lr = dict(base_batch_size=256)
