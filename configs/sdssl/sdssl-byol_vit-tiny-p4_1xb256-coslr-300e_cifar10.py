# SD-BYOL on the CIFAR-10 ViT-Tiny recipe (lambda 0 -> 0.8).
_base_ = ['./sdssl-mocov3_vit-tiny-p4_1xb256-coslr-300e_cifar10.py']

model = dict(base='byol', inter_weight=0.8)
