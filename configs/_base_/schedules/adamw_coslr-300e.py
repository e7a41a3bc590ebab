# AdamW, 40 warm-up epochs then cosine decay, 300 epochs (MoCo v3's ViT
# schedule). The lr is for a total batch of 4096 (2.4e-3 = 1.5e-4 x 4096 /
# 256); recipes set their own lr and `auto_scale_lr.base_batch_size`.
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=2.4e-3, betas=(0.9, 0.999),
                   weight_decay=0.1))

param_scheduler = [
    dict(type='LinearLR', start_factor=1e-4, by_epoch=True, begin=0, end=40,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', T_max=260, by_epoch=True, begin=40,
         end=300, convert_to_iter_based=True),
]

train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=300)

# Enabled by `tools/train.py --auto-scale-lr`: lr x (real batch / base).
auto_scale_lr = dict(base_batch_size=4096)
