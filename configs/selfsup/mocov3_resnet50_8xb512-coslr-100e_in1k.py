# MoCo v3, ResNet-50, ImageNet-1k, 8 GPUs x 512, 100 epochs: LARS lr 9.6
# (0.6 x 4096 / 256), weight decay 1e-6, smallest crop 20 %.
# Add --amp to tools/train.py for mixed precision.
_base_ = [
    '../_base_/models/mocov3_resnet50.py',
    '../_base_/datasets/imagenet_ssl.py',
    '../_base_/schedules/lars_coslr-100e.py',
    '../_base_/default_runtime.py',
]

train_dataloader = dict(
    batch_size=512,
    dataset=dict(pipeline={{_base_.mocov3_resnet_train_pipeline}}))

optim_wrapper = dict(optimizer=dict(lr=9.6, weight_decay=1e-6))
auto_scale_lr = dict(base_batch_size=4096)
