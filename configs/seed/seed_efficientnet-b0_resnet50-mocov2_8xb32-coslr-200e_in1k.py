# SEED, ImageNet-1k: EfficientNet-B0 student (1280-d features; head
# Linear(1280, 1280)-ReLU-Linear(1280, 128)), MoCo v2 ResNet-50 teacher.
_base_ = ['./seed_resnet18_resnet50-mocov2_8xb32-coslr-200e_in1k.py']

model = dict(
    backbone=dict(_delete_=True, type='EfficientNet', arch='b0'),
    neck=dict(in_channels=1280, hid_channels=1280))
