# MOKD, ResNet-18 + ViT-Tiny/16, Imagenette, 4 GPUs x 64 (batch 256), 100
# epochs: the ImageNet recipe with the smaller pair (T-Heads of width 192,
# the ViT's, with 3 heads; the ResNet-18's 512-d tokens projected).
_base_ = [
    '../_base_/models/mokd_resnet50_vit-small-p16.py',
    '../_base_/datasets/imagenette_ssl.py',
    '../_base_/schedules/mokd_coslr-100e.py',
    '../_base_/default_runtime.py',
]

model = dict(
    cnn=dict(backbone=dict(depth=18), neck=dict(in_channels=512),
             head=dict(in_channels=512, embed_dims=192, num_heads=3)),
    vit=dict(backbone=dict(arch='deit-t'), neck=dict(in_channels=192),
             head=dict(in_channels=192, embed_dims=192, num_heads=3)))

train_dataloader = dict(
    batch_size=64,
    dataset=dict(pipeline=_base_.mokd_train_pipeline))

custom_hooks = [
    dict(type='FreezeLastLayerHook', epochs=1),
    dict(_base_.custom_hooks[0],
         parts=('backbone', 'peer', 'teacher', 'peer_teacher')),
]
