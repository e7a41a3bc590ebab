# MOKD's optimisation (official main_mokd.py), one optimizer per model
# (`optim_parts` of MOKD: 'cnn', 'vit'), each parameter's gradient clipped
# to norm 3.0 on its own (utils.clip_gradients; README: --clip_grad_cnn 3
# --clip_grad_vit 3):
# - CNN: SGD, momentum 0.9, lr 0.1 x batch / 256 after 10 warm-up epochs,
#   cosine to 0.0048 (hard-coded officially), weight decay 1e-4 constant.
#   Its T-Head trains in the same SGD at the ViT's lr and weight decay
#   (3e-4, 0.04: lr_mult, decay_mult); officially it also follows the ViT's
#   cosine schedules (lr to 1e-5, weight decay to 0.4), here the CNN's.
# - ViT: AdamW, lr 3e-4 x batch / 256 after 10 warm-up epochs, cosine to
#   1e-5; weight decay 0.04 -> 0.4 (cosine).
# No weight decay on biases and norms. 100 epochs.
optim_wrapper = dict(
    constructor='PartsOptimWrapperConstructor',
    type='OptimWrapper',
    clip_grad=dict(type='per_parameter', max_norm=3.0),
    cnn=dict(optimizer=dict(type='SGD', lr=0.1, momentum=0.9,
                            weight_decay=1e-4),
             paramwise_cfg=dict(norm_decay_mult=0., bias_decay_mult=0.,
                                custom_keys={'head.': dict(
                                    lr_mult=3e-3, decay_mult=400.)})),
    vit=dict(optimizer=dict(type='AdamW', lr=3e-4, weight_decay=0.04),
             paramwise_cfg=dict(norm_decay_mult=0., bias_decay_mult=0.,
                                flat_decay_mult=0.)))

warmup = dict(type='LinearLR', start_factor=1e-3, by_epoch=True, begin=0,
              end=10, convert_to_iter_based=True)
param_scheduler = dict(
    cnn=[warmup,
         dict(type='CosineAnnealingLR', T_max=90, eta_min_ratio=0.048,
              by_epoch=True, begin=10, end=100, convert_to_iter_based=True)],
    vit=[warmup,
         dict(type='CosineAnnealingLR', T_max=90, eta_min_ratio=1e-5 / 3e-4,
              by_epoch=True, begin=10, end=100, convert_to_iter_based=True),
         dict(type='CosineAnnealingParamScheduler', param_name='weight_decay',
              eta_min_ratio=10., by_epoch=True, begin=0, end=100,
              convert_to_iter_based=True)])
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=100)
auto_scale_lr = dict(base_batch_size=256)
# the frozen last layers have no gradient in epoch 0
find_unused_parameters = True
