# SEED, ImageNet-1k: ResNet-18 student, MoCo v2 ResNet-50 teacher (paper:
# 57.6 linear top-1 after 200 epochs). 8 GPUs x 32 = 256 images per step.
_base_ = [
    '../_base_/models/seed_resnet18_resnet50-mocov2.py',
    '../_base_/datasets/imagenet_seed.py',
    '../_base_/schedules/sgd_coslr-200e_seed.py',
    '../_base_/default_runtime.py',
]
