# Global-Local Self-Distillation on CIFAR-10 with ViT-Tiny/4: the DINO
# recipe configs/selfsup/dino_vit-tiny-p4_1xb256-coslr-100e_cifar10.py
# (2 x 32 + 6 x 16 px crops: 8 x 8 tokens on global crops, 4 x 4 on local
# ones) plus a dense DINO head on the patch tokens and the region loss with
# geometric matching (hinge on, 4 px per token); 0.5 global + 0.5 local.
_base_ = ['../selfsup/dino_vit-tiny-p4_1xb256-coslr-100e_cifar10.py']

model = dict(
    type='GLSD',
    backbone=dict(out_type='raw'),
    dense_neck=_base_.model.neck,
    local_loss=dict(_base_.model.loss, type='LocalDINOLoss'),
    downsampling_rate=4)  # matching, hinge, weights: GLSD's defaults
