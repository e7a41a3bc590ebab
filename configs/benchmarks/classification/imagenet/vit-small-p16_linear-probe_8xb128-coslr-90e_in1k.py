# Linear probe of a ViT-S/16 on ImageNet-1k, the MoCo v3 protocol (SDSSL
# builds on MoCo v3): the frozen backbone's [CLS] token after the final
# LayerNorm, a 1000-way linear classifier initialised N(0, 0.01); SGD lr 12
# (batch 1024), momentum 0.9, no weight decay, cosine over 90 epochs;
# random resized crop 224 + flip; tested on resize 256 + centre crop 224.
# A MoCo v3 ViT (MoCoV3ViT: fixed sin-cos position embedding) and a DINO /
# global-local / MOKD ViT (VisionTransformer) load alike: same weight names.
# Per block (SDSSL's early exits): type='MultiLayerCLSViT' with
# `out_indices=[b]`, as in ../cifar10/vit-tiny-p4-block_linear-probe_...
_base_ = ['./resnet50_linear-probe_8xb32-steplr-100e_in1k.py']

model = dict(
    backbone=dict(_delete_=True, type='VisionTransformer', arch='deit-s',
                  img_size=224, patch_size=16, frozen_stages=12,
                  out_type='cls_token',
                  init_cfg=dict(type='Pretrained', prefix='backbone.',
                                checkpoint='work_dirs/PRETRAINED.pth')),
    neck=None,
    head=dict(in_channels=384))

train_dataloader = dict(batch_size=128)
optim_wrapper = dict(
    optimizer=dict(type='SGD', lr=12., momentum=0.9, weight_decay=0.))
param_scheduler = dict(_delete_=True, type='CosineAnnealingLR', T_max=90,
                       by_epoch=True, begin=0, end=90)
train_cfg = dict(max_epochs=90)
auto_scale_lr = dict(base_batch_size=1024)
