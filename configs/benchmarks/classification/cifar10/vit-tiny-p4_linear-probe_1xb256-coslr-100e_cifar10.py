# Linear probe of a ViT-Tiny/4 (32 px, 8x8 patches; the DINO, global-local
# and MOKD CIFAR ViTs) on CIFAR-10: the frozen backbone's [CLS] token after
# the final LayerNorm, a 10-way linear classifier; the ResNet-20 protocol
# (resnet20-cifar_linear-probe_...: SGD lr 0.1, cosine, 100 epochs).
# A MoCo v3 ViT (MoCoV3ViT, fixed sin-cos position embedding) loads too:
# its weights have the same names and shapes.
_base_ = ['./resnet20-cifar_linear-probe_1xb256-coslr-100e_cifar10.py']

model = dict(
    backbone=dict(_delete_=True, type='VisionTransformer', arch='deit-t',
                  img_size=32, patch_size=4, frozen_stages=12,
                  out_type='cls_token',
                  init_cfg=dict(type='Pretrained', prefix='backbone.',
                                checkpoint='work_dirs/PRETRAINED.pth')),
    neck=None,
    head=dict(in_channels=192))
