# LARS as in lars_coslr-200e.py, 10 warm-up epochs then cosine decay over a
# 100-epoch run.
_base_ = ['./lars_coslr-200e.py']

param_scheduler = [
    dict(type='LinearLR', start_factor=1e-4, by_epoch=True, begin=0, end=10,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', T_max=90, by_epoch=True, begin=10,
         end=100, convert_to_iter_based=True),
]

train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=100)
