# MOKD, ResNet-50 + ViT-S/16, ImageNet-1k, 16 GPUs x 16 (batch 256), 100
# epochs (the paper's pair and the official README command): 2 x 224 + 8 x
# 96 px crops (scales 0.25-1 and 0.05-0.25), the last layers frozen in
# epoch 0, online kNN of both models and both EMA teachers every 10 epochs.
# Official runs: fp16 (--amp fp16); --amp: bf16 (Ampere and later).
_base_ = [
    '../_base_/models/mokd_resnet50_vit-small-p16.py',
    '../_base_/datasets/imagenet_ssl.py',
    '../_base_/schedules/mokd_coslr-100e.py',
    '../_base_/default_runtime.py',
]

train_dataloader = dict(
    batch_size=16,
    dataset=dict(pipeline=_base_.mokd_train_pipeline))

custom_hooks = [
    dict(type='FreezeLastLayerHook', epochs=1),
    dict(_base_.custom_hooks[0],
         parts=('backbone', 'peer', 'teacher', 'peer_teacher')),
]
