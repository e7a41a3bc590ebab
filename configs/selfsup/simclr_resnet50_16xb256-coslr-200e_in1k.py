# SimCLR, ResNet-50, ImageNet-1k, 16 GPUs x 256, 200 epochs: LARS lr 4.8
# (0.3 x 4096 / 256), weight decay 1e-6.
_base_ = [
    '../_base_/models/simclr_resnet50.py',
    '../_base_/datasets/imagenet_ssl.py',
    '../_base_/schedules/lars_coslr-200e.py',
    '../_base_/default_runtime.py',
]

train_dataloader = dict(
    batch_size=256,
    dataset=dict(pipeline={{_base_.simclr_train_pipeline}}))

optim_wrapper = dict(optimizer=dict(lr=4.8, weight_decay=1e-6))
auto_scale_lr = dict(base_batch_size=4096)
