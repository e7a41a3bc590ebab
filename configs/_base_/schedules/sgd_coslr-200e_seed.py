# SEED's optimiser (official `main.py`): SGD, momentum 0.9, weight decay
# 1e-4, lr 0.03 x batch / 256, cosine over 200 epochs. The official 5-epoch
# warm-up ramps from 0.03 to the scaled lr, which is no warm-up at the
# paper's batch of 256, so none is configured here.
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='SGD', lr=0.03, momentum=0.9, weight_decay=1e-4))
param_scheduler = [
    dict(type='CosineAnnealingLR', T_max=200, by_epoch=True, begin=0,
         end=200, convert_to_iter_based=True),
]
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=200)
# `tools/train.py --auto-scale-lr` scales the lr to the real total batch.
auto_scale_lr = dict(base_batch_size=256)
