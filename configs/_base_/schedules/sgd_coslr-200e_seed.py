# SEED's optimiser (official `main.py`, `tools/utils.py`
# `adjust_learning_rate`): SGD, momentum 0.9, weight decay 1e-4, lr 0.03 x
# batch / 256, 200 epochs, set once per epoch: epochs 0-4 warm up from 0.03
# to the scaled lr (flat at the paper's batch of 256, the only case these
# recipes configure), then from epoch 5 the cosine of the whole run,
# lr (1 + cos(pi epoch / 200)) / 2 (it does not restart at epoch 5).
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='SGD', lr=0.03, momentum=0.9, weight_decay=1e-4))
param_scheduler = [
    dict(type='OffsetCosineAnnealingLR', T_max=200, offset=5, by_epoch=True,
         begin=5, end=200, convert_to_iter_based=False),
]
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=200)
# `tools/train.py --auto-scale-lr` scales the lr to the real total batch
# (the whole schedule; the official warm-up would ramp up from 0.03).
auto_scale_lr = dict(base_batch_size=256)
