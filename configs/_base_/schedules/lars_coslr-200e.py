# LARS, 10 warm-up epochs then cosine decay, 200 epochs. The lr is for a
# total batch of 4096 (4.8 = 0.3 x 4096 / 256); recipes set their own lr and
# `auto_scale_lr.base_batch_size`. BN and bias parameters get no weight decay
# and no LARS adaptation.
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='LARS', lr=4.8, momentum=0.9, weight_decay=1e-6),
    paramwise_cfg=dict(
        custom_keys={
            'bn': dict(decay_mult=0, lars_exclude=True),
            'bias': dict(decay_mult=0, lars_exclude=True),
            # the BN of a torchvision-style ResNet shortcut
            'downsample.1': dict(decay_mult=0, lars_exclude=True),
        }))

param_scheduler = [
    dict(type='LinearLR', start_factor=1e-4, by_epoch=True, begin=0, end=10,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', T_max=190, by_epoch=True, begin=10,
         end=200, convert_to_iter_based=True),
]

train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=200)

# Enabled by `tools/train.py --auto-scale-lr`: lr x (real batch / base).
auto_scale_lr = dict(base_batch_size=4096)
