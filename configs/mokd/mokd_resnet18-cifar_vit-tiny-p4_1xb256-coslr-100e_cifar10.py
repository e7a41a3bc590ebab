# MOKD on CIFAR-10: a CIFAR ResNet-18 (512-d, 4 x 4 map at 32 px) and
# ViT-Tiny/4 (192-d, 8 x 8 tokens), 1 GPU x 256, 100 epochs; 2 x 32 + 6 x
# 16 px crops (scales 0.25-1 and 0.05-0.25); K = 4096; T-Heads of width 192
# (3 heads) with 4 x 4 (CNN) and 8 x 8 (ViT) position embeddings; the
# ImageNet optimisation otherwise.
_base_ = [
    '../_base_/models/mokd_resnet50_vit-small-p16.py',
    '../_base_/datasets/cifar10_multicrop.py',
    '../_base_/schedules/mokd_coslr-100e.py',
    '../_base_/default_runtime.py',
]

head = dict(out_channels=4096, embed_dims=192, num_heads=3)
model = dict(
    cnn=dict(backbone=dict(_delete_=True, type='ResNet_CIFAR', depth=18,
                           zero_init_residual=True),
             neck=dict(in_channels=512, out_channels=4096),
             head=dict(head, in_channels=512, grid=(4, 4))),
    vit=dict(backbone=dict(arch='deit-t', img_size=32, patch_size=4),
             neck=dict(in_channels=192, out_channels=4096),
             head=dict(head, in_channels=192, grid=(8, 8))),
    loss=dict(out_channels=4096))

train_dataloader = dict(batch_size=256,
                        dataset=dict(pipeline=_base_.mokd_pipeline))

custom_hooks = [
    dict(type='FreezeLastLayerHook', epochs=1),
    dict(_base_.custom_hooks[0],
         parts=('backbone', 'peer', 'teacher', 'peer_teacher')),
]
