# densedistill_resnet18_vit-base-p14-dinov2.py with a MobileNetV4-conv-small
# student (timm's `mobilenetv4_conv_small`): its last stage map, 960 x 7 x 7
# at 224 px (before the 1x1 conv head), for both terms.
_base_ = ['./densedistill_resnet18_vit-base-p14-dinov2.py']

model = dict(
    backbone=dict(model_name='mobilenetv4_conv_small'),
    neck=dict(in_channels=960, hid_channels=960),
    dense_neck=dict(in_channels=960))
