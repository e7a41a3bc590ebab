# DINO ViT-S/16 on ImageNet-1k with its multi-crop made on the device. The
# dataloader decodes and resizes every image to 256x256 (Pillow, bicubic,
# antialiased), so images batch: this changes the aspect ratio BEFORE the
# crops, which then run on the GPU in GPUMultiViewAugment with the CPU
# recipe's groups and augmentations (imagenet_ssl.py): global crop 1 and
# global crop 2 (224 px, scale 0.4-1; view_pipeline1 / view_pipeline2) and
# 8 local crops (96 px, scale 0.05-0.4; simclr_view_pipeline). 256 keeps
# the whole-image crop a mild 256 -> 224 shrink (kornia's resampling does
# not antialias); small crops are upscaled more than from the full-size
# image. No crop boxes are made, so this path suits DINO (no geometric
# matching), not GLSD-geometric. Other differences:
# mmssl_kd/models/data_preprocessors/gpu_augment.py.
_base_ = ['./dino_vit-small-p16_8xb32-coslr-300e_in1k.py']

train_dataloader = dict(dataset=dict(pipeline=[
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(256, 256), backend='pillow',
         interpolation='bicubic'),
    dict(type='PackInputs'),
]))
gpu_global_crop = dict(_base_.dino_global_crop, type='RandomResizedCrop')
gpu_local_crop = dict(_base_.dino_local_crop, type='RandomResizedCrop')
data_preprocessor = dict(
    type='GPUMultiViewAugment',
    num_views=[1, 1, 8],
    transforms=[[gpu_global_crop] + _base_.view_pipeline1[1:],
                [gpu_global_crop] + _base_.view_pipeline2[1:],
                [gpu_local_crop] + _base_.simclr_view_pipeline[1:]])
