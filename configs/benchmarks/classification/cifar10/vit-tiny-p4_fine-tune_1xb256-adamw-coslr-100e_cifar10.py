# Full fine-tuning of a pre-trained ViT-Tiny/4 on CIFAR-10, the BEiT / MAE
# recipe scaled to CIFAR: AdamW lr 5e-4 (batch 256), weight decay 0.05 (none
# on norms, biases, [CLS] and position embedding), layer-wise lr decay 0.75,
# drop-path 0.1, 5 warm-up epochs then cosine to 1e-6 over 100 epochs,
# label smoothing 0.1; crop + flip.
_base_ = ['./vit-tiny-p4_linear-probe_1xb256-coslr-100e_cifar10.py']

model = dict(
    backbone=dict(frozen_stages=-1, drop_path_rate=0.1),
    head=dict(loss=dict(type='LabelSmoothLoss', label_smooth_val=0.1,
                        mode='original')))

optim_wrapper = dict(
    optimizer=dict(_delete_=True, type='AdamW', lr=5e-4, weight_decay=0.05,
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
