# DINO's optimisation (main_dino.py; the global-local recipe): AdamW, lr
# 5e-4 for a batch of 256 after 10 linear warm-up epochs, cosine to 1e-6;
# weight decay 0.04 -> 0.4 (cosine), none on biases and norms; each
# parameter's gradient clipped to norm 3.0 on its own (dino
# utils.clip_gradients); 300 epochs. Keep the last layer frozen in epoch 0 with
# `dict(type='FreezeLastLayerHook', epochs=1)` in the recipe's hooks.
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=5e-4, weight_decay=0.04),
    clip_grad=dict(type='per_parameter', max_norm=3.0),
    paramwise_cfg=dict(norm_decay_mult=0., bias_decay_mult=0.,
                       flat_decay_mult=0.))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=True, begin=0,
         end=10, convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', T_max=290, eta_min=1e-6, by_epoch=True,
         begin=10, end=300, convert_to_iter_based=True),
    # weight decay 0.04 -> 0.4; relative, so zero-decay groups stay at 0
    dict(type='CosineAnnealingParamScheduler', param_name='weight_decay',
         eta_min_ratio=10., by_epoch=True, begin=0, end=300,
         convert_to_iter_based=True),
]
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=300)
auto_scale_lr = dict(base_batch_size=256)
# the frozen last layer has no gradient in epoch 0
find_unused_parameters = True
