# SimCLR, ResNet-50, Imagenette, 4 GPUs x 64 (batch 256), 200 epochs: the
# ImageNet recipe's settings with the lr scaled to batch 256 (LARS 0.3).
_base_ = [
    '../_base_/models/simclr_resnet50.py',
    '../_base_/datasets/imagenette_ssl.py',
    '../_base_/schedules/lars_coslr-200e.py',
    '../_base_/default_runtime.py',
]

train_dataloader = dict(
    batch_size=64,
    dataset=dict(pipeline={{_base_.simclr_train_pipeline}}))

optim_wrapper = dict(optimizer=dict(lr=0.3, weight_decay=1e-6))
auto_scale_lr = dict(base_batch_size=256)
