# SEED, ImageNet-1k: MobileNetV3-Large student, MoCo v2 ResNet-50 teacher.
# The official student keeps MobileNetV3's 960 -> 1280 classifier layer
# before SEED's MLP; here the head's first layer is that 960 -> 1280 map:
# Linear(960, 1280)-ReLU-Linear(1280, 128).
_base_ = ['./seed_resnet18_resnet50-mocov2_8xb32-coslr-200e_in1k.py']

model = dict(
    backbone=dict(_delete_=True, type='MobileNetV3', arch='large'),
    neck=dict(in_channels=960, hid_channels=1280))
