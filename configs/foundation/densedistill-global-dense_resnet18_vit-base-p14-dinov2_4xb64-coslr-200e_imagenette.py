# DINOv2 ViT-B/14 distilled into a ResNet-18 on Imagenette:
# global + dense (SEED's queue objective and the patch-map objective,
# 1 : 1), SEED's SGD, 200 epochs, 4 GPUs x 64 = 256 images per step.
_base_ = [
    '../_base_/models/densedistill_resnet18_vit-base-p14-dinov2.py',
    '../_base_/datasets/imagenette_seed.py',
    '../_base_/schedules/sgd_coslr-200e_seed.py',
    '../_base_/default_runtime.py',
]

# Imagenette has 9,469 training images: a queue of 8,192.
model = dict(queue_len=8192)
train_dataloader = dict(batch_size=64)
