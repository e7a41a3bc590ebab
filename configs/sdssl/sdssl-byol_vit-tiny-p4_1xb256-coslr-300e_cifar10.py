# SD-BYOL on the CIFAR-10 ViT-Tiny recipe (lambda 0 -> 0.8; heads without a
# last BN, as the official pl_train_byol.py).
_base_ = ['./sdssl-mocov3_vit-tiny-p4_1xb256-coslr-300e_cifar10.py']

model = dict(
    base='byol',
    inter_weight=0.8,
    neck=dict(with_last_bn=False),
    inter_neck=dict(with_last_bn=False),
    predictor=dict(with_last_bn=False))
