# SimCLR, ViT-S/16, ImageNet-1k, 16 GPUs x 256, 300 epochs: MoCo v3's ViT
# optimisation (AdamW lr 2.4e-3 = 1.5e-4 x 4096 / 256, weight decay 0.1).
# Add --amp to tools/train.py for mixed precision.
_base_ = [
    '../_base_/models/simclr_vit-small-p16.py',
    '../_base_/datasets/imagenet_ssl.py',
    '../_base_/schedules/adamw_coslr-300e.py',
    '../_base_/default_runtime.py',
]

train_dataloader = dict(
    batch_size=256,
    dataset=dict(pipeline={{_base_.simclr_train_pipeline}}))

optim_wrapper = dict(optimizer=dict(lr=2.4e-3, weight_decay=0.1))
auto_scale_lr = dict(base_batch_size=4096)
