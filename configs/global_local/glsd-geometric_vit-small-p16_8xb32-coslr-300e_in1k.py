# Global-Local Self-Distillation, geometric matching with the hinge (the
# paper's method), ViT-S/16, ImageNet-1k, 8 GPUs x 32 (batch 256), 300 epochs:
# DINO's multi-crop (2 x 224 + 8 x 96 px) with crop boxes, AdamW 5e-4, the last
# layer frozen in epoch 0. Official runs: fp16 (--amp fp16); --amp: bf16.
_base_ = [
    '../_base_/models/glsd_vit-small-p16.py',
    '../_base_/datasets/imagenet_ssl.py',
    '../_base_/schedules/adamw_coslr-300e_dino.py',
    '../_base_/default_runtime.py',
]

train_dataloader = dict(
    batch_size=32,
    dataset=dict(pipeline=_base_.multicrop_train_pipeline))

custom_hooks = [
    dict(type='FreezeLastLayerHook', epochs=1),
    _base_.custom_hooks[0],
]
