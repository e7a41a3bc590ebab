# SD-MoCo v3, ViT-S/16, Imagenette, 4 GPUs x 64 (batch 256), 300 epochs:
# the ImageNet recipe with the lr scaled to batch 256 (AdamW 1.5e-4).
_base_ = [
    '../_base_/models/sdssl-mocov3_vit-small-p16.py',
    '../_base_/datasets/imagenette_ssl.py',
    '../_base_/schedules/adamw_coslr-300e_sdssl.py',
    '../_base_/default_runtime.py',
]

train_dataloader = dict(batch_size=64)

optim_wrapper = dict(optimizer=dict(lr=1.5e-4, weight_decay=0.1))
auto_scale_lr = dict(base_batch_size=256)

custom_hooks = [dict(_base_.custom_hooks[0], blocks=tuple(range(1, 13)))]

# A checkpoint holds 168M parameters (the 21.7M backbone, 127M of per-block
# heads and the momentum copies) plus AdamW's two moments: 1.69 GB each
# (configs/sdssl/README.md, "Checkpoint size"). Only the newest is kept; the
# project's CheckpointHook deletes the older one only once the new one is
# complete (the default runtime keeps 3: 5 GB a run).
default_hooks = dict(checkpoint=dict(max_keep_ckpts=1))
