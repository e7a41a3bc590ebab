# Full fine-tuning of a pre-trained ViT-S/16 on ImageNet-1k, the BEiT / MAE
# recipe: AdamW lr 2e-3 (batch 1024; 5e-4 x 1024 / 256), weight decay 0.05
# (none on norms, biases, [CLS], position embedding), layer-wise lr decay
# 0.75, drop-path 0.1, 5 warm-up epochs then cosine to 1e-6 over 100
# epochs; RandAugment (9, 0.5), random erasing 0.25, Mixup 0.8 / CutMix 1.0,
# label smoothing 0.1. The head is the ViT classifier on the [CLS] token.
_base_ = ['./vit-small-p16_linear-probe_8xb128-coslr-90e_in1k.py']

model = dict(
    data_preprocessor=dict(batch_augments=dict(augments=[
        dict(type='Mixup', alpha=0.8),
        dict(type='CutMix', alpha=1.0)])),
    backbone=dict(frozen_stages=-1, drop_path_rate=0.1),
    head=dict(
        loss=dict(_delete_=True, type='LabelSmoothLoss',
                  label_smooth_val=0.1, mode='original'),
        init_cfg=dict(type='TruncNormal', std=2e-5, layer='Linear')))

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='RandomResizedCrop', scale=224, backend='pillow',
         interpolation='bicubic'),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='RandAugment', policies='timm_increasing', num_policies=2,
         total_level=10, magnitude_level=9, magnitude_std=0.5,
         hparams=dict(pad_val=[104, 116, 124], interpolation='bicubic')),
    dict(type='RandomErasing', erase_prob=0.25, mode='rand',
         min_area_ratio=0.02, max_area_ratio=1 / 3,
         fill_color=[103.53, 116.28, 123.675],
         fill_std=[57.375, 57.12, 58.395]),
    dict(type='PackInputs'),
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))

optim_wrapper = dict(
    optimizer=dict(_delete_=True, type='AdamW', lr=2e-3, weight_decay=0.05,
                   betas=(0.9, 0.999)),
    constructor='LearningRateDecayOptimWrapperConstructor',
    paramwise_cfg=dict(
        layer_decay_rate=0.75,
        norm_decay_mult=0.,
        flat_decay_mult=0.,
        custom_keys={'.cls_token': dict(decay_mult=0.),
                     '.pos_embed': dict(decay_mult=0.)}))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=True, begin=0, end=5,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', T_max=95, eta_min=1e-6, by_epoch=True,
         begin=5, end=100, convert_to_iter_based=True),
]
train_cfg = dict(max_epochs=100)
