# Global-Local Self-Distillation, geometric matching with the hinge, ViT-S/16,
# Imagenette, 4 GPUs x 64 (batch 256), 300 epochs: the ImageNet recipe on
# data/imagenette.
_base_ = [
    '../_base_/models/glsd_vit-small-p16.py',
    '../_base_/datasets/imagenette_ssl.py',
    '../_base_/schedules/adamw_coslr-300e_dino.py',
    '../_base_/default_runtime.py',
]

train_dataloader = dict(
    batch_size=64,
    dataset=dict(pipeline=_base_.multicrop_train_pipeline))

custom_hooks = [
    dict(type='FreezeLastLayerHook', epochs=1),
    _base_.custom_hooks[0],
]
