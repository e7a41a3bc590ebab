# SD-SimCLR on the CIFAR-10 ViT-Tiny recipe (no teacher, no predictors,
# lambda 0 -> 0.8, AdamW 1.3e-4).
_base_ = ['./sdssl-mocov3_vit-tiny-p4_1xb256-coslr-300e_cifar10.py']

model = dict(base='simclr', predictor=None, inter_weight=0.8)
optim_wrapper = dict(optimizer=dict(lr=1.3e-4))
