# DINOv2 ViT-B/14 distilled into a MobileNetV4-conv-small on ImageNet-1k:
# global + dense (SEED's queue objective and the patch-map objective,
# 1 : 1), SEED's SGD, 200 epochs, 8 GPUs x 32 = 256 images per step.
_base_ = [
    '../_base_/models/densedistill_mobilenet-v4-conv-small_vit-base-p14-dinov2.py',
    '../_base_/datasets/imagenet_seed.py',
    '../_base_/schedules/sgd_coslr-200e_seed.py',
    '../_base_/default_runtime.py',
]
