# MoCo v3, ResNet-50, Imagenette, 4 GPUs x 64 (batch 256), 200 epochs: the
# ImageNet recipe's settings with the lr scaled to batch 256 (LARS 0.6).
_base_ = [
    '../_base_/models/mocov3_resnet50.py',
    '../_base_/datasets/imagenette_ssl.py',
    '../_base_/schedules/lars_coslr-200e.py',
    '../_base_/default_runtime.py',
]

train_dataloader = dict(
    batch_size=64,
    dataset=dict(pipeline={{_base_.mocov3_resnet_train_pipeline}}))

optim_wrapper = dict(optimizer=dict(lr=0.6, weight_decay=1e-6))
auto_scale_lr = dict(base_batch_size=256)
