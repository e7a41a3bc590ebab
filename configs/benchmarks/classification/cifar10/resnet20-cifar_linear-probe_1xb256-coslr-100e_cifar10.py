# Linear probe of a CIFAR ResNet-20 on CIFAR-10: the pre-trained backbone
# frozen (weights and BN statistics), global average pooling, a 10-way
# linear classifier; SGD lr 0.1, momentum 0.9, no weight decay, cosine over
# 100 epochs, batch 256, crop + flip (solo-learn's CIFAR protocol, with a
# cosine schedule). The backbone comes from `init_cfg.checkpoint`:
#   - an mmssl_kd checkpoint: the student (`prefix='backbone.'`, default);
#   - any other sub-model (peer, EMA teacher): export it first with
#     tools/model_converters/extract_backbone.py CKPT OUT --part peer and
#     load OUT with `model.backbone.init_cfg.prefix=None`.
# Inputs must be normalised as in pre-training: the default is the CIFAR-10
# mean / std of the self-supervised CIFAR recipes; a SEED student of the
# shared supervised teachers saw the ImageNet mean / std
# (tools/benchmarks/run_benchmarks.py copies the pre-training config's).
#   python tools/train.py THIS_CONFIG --cfg-options \
#       model.backbone.init_cfg.checkpoint=work_dirs/RUN/epoch_200.pth
_base_ = [
    '../../../_base_/datasets/cifar10_cls.py',
    '../../../_base_/default_runtime.py',
]

model = dict(
    type='ImageClassifier',
    data_preprocessor=dict(
        type='ClsDataPreprocessor',
        num_classes=10,
        mean=[125.307, 122.950, 113.865],
        std=[62.993, 62.089, 66.705],
        to_rgb=True),
    backbone=dict(
        type='CIFARResNet', depth=20, frozen_stages=3,
        init_cfg=dict(type='Pretrained', prefix='backbone.',
                      checkpoint='work_dirs/PRETRAINED.pth')),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(
        type='LinearClsHead',
        num_classes=10,
        in_channels=64,
        loss=dict(type='CrossEntropyLoss', loss_weight=1.0),
        topk=(1, 5)))

optim_wrapper = dict(
    optimizer=dict(type='SGD', lr=0.1, momentum=0.9, weight_decay=0.))
param_scheduler = dict(type='CosineAnnealingLR', T_max=100, by_epoch=True,
                       begin=0, end=100)
train_cfg = dict(by_epoch=True, max_epochs=100, val_interval=10)
auto_scale_lr = dict(base_batch_size=256)
