# SD-MoCo v3, ViT-S/16, ImageNet-1k, 8 GPUs x 128 (batch 1024), 300 epochs:
# AdamW lr 1.5e-4 x 1024 / 256, weight decay 0.1, 40 warm-up epochs, cosine
# to 0; MoCo v3's two asymmetric views (blur 1.0 / 0.1, solarize on view 2).
# As the official code: SyncBN when distributed, no weight decay on biases
# and norms (the SDSSL bases).
# The online kNN evaluates every block (early exits).
_base_ = [
    '../_base_/models/sdssl-mocov3_vit-small-p16.py',
    '../_base_/datasets/imagenet_ssl.py',
    '../_base_/schedules/adamw_coslr-300e_sdssl.py',
    '../_base_/default_runtime.py',
]

# the official crops resize bilinearly (torchvision's default), not
# bicubically as MoCo v3's ViT views in imagenet_ssl.py
sdssl_crop = dict(_base_.view_pipeline1[0], interpolation='bilinear')
train_dataloader = dict(batch_size=128, dataset=dict(pipeline=[
    dict(type='LoadImageFromFile'),
    dict(type='MultiView', num_views=[1, 1], transforms=[
        [sdssl_crop] + _base_.view_pipeline1[1:],
        [sdssl_crop] + _base_.view_pipeline2[1:]]),
    dict(type='PackInputs'),
]))

optim_wrapper = dict(optimizer=dict(lr=6e-4, weight_decay=0.1))
auto_scale_lr = dict(base_batch_size=1024)

custom_hooks = [dict(_base_.custom_hooks[0], blocks=tuple(range(1, 13)))]

# A checkpoint holds 168M parameters (the 21.7M backbone, 127M of per-block
# heads and the momentum copies) plus AdamW's two moments: 1.69 GB each
# (configs/sdssl/README.md, "Checkpoint size"). Only the newest is kept; the
# project's CheckpointHook deletes the older one only once the new one is
# complete (the default runtime keeps 3: 5 GB a run).
default_hooks = dict(checkpoint=dict(max_keep_ckpts=1))
