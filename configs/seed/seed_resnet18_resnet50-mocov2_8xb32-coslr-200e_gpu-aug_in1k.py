# SEED ResNet-18 <- MoCo v2 ResNet-50 on ImageNet-1k with its view made on
# the device. The dataloader decodes and resizes every image to 256x256
# (Pillow, bicubic, antialiased), so images batch: this changes the aspect
# ratio BEFORE the crop (the crop's aspect range then applies to the
# squashed image), and RandomResizedCrop, colour, blur and flip (SEED's
# `seed_view`, unchanged) run afterwards on the GPU in GPUMultiViewAugment.
# 256 keeps the whole-image crop a mild 256 -> 224 shrink (kornia's
# resampling does not antialias); small crops are upscaled more than from
# the full-size image. No centre crop: it would keep crops off the borders.
# Other differences: mmssl_kd/models/data_preprocessors/gpu_augment.py.
_base_ = ['./seed_resnet18_resnet50-mocov2_8xb32-coslr-200e_in1k.py']

train_dataloader = dict(dataset=dict(pipeline=[
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(256, 256), backend='pillow',
         interpolation='bicubic'),
    dict(type='PackInputs'),
]))
data_preprocessor = dict(type='GPUMultiViewAugment', num_views=1,
                         transforms=[_base_.seed_view])
