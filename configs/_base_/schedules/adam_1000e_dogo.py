# DoGo's optimisation (official code): one Adam per peer, lr 3e-4, weight
# decay 1e-6, constant learning rate (the official cosine scheduler has
# eta_min equal to the base lr, so it changes nothing), 1000 epochs.
# `optim_parts` of the model names the peers ('model1', 'model2').
optim_wrapper = dict(
    constructor='PartsOptimWrapperConstructor',
    type='OptimWrapper',
    model1=dict(optimizer=dict(type='Adam', lr=3e-4, weight_decay=1e-6)),
    model2=dict(optimizer=dict(type='Adam', lr=3e-4, weight_decay=1e-6)))

param_scheduler = []

train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=1000)

# Enabled by `tools/train.py --auto-scale-lr`: lr x (real batch / base).
auto_scale_lr = dict(base_batch_size=256)
