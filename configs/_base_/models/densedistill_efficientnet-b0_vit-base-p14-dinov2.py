# densedistill_resnet18_vit-base-p14-dinov2.py with an EfficientNet-B0
# student (timm's `efficientnet_b0`): its last stage map, 320 x 7 x 7 at
# 224 px (before the 1x1 conv head), for both terms.
_base_ = ['./densedistill_resnet18_vit-base-p14-dinov2.py']

model = dict(
    backbone=dict(model_name='efficientnet_b0'),
    neck=dict(in_channels=320, hid_channels=320),
    dense_neck=dict(in_channels=320))
