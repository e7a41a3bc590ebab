# SEED, ImageNet-1k: ResNet-34 student (paper: 58.5), MoCo v2 R-50 teacher.
_base_ = ['./seed_resnet18_resnet50-mocov2_8xb32-coslr-200e_in1k.py']

model = dict(backbone=dict(depth=34))
