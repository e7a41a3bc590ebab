# SEED ResNet-18 <- MoCo v2 ResNet-50 on ImageNet-1k with its view made on
# the device: the dataloader decodes and resizes (imagenet_ssl.py,
# `gpu_aug_train_pipeline`), and GPUMultiViewAugment applies SEED's
# `seed_view`, unchanged, on the GPU.
_base_ = ['./seed_resnet18_resnet50-mocov2_8xb32-coslr-200e_in1k.py']

train_dataloader = dict(dataset=dict(pipeline=_base_.gpu_aug_train_pipeline))
data_preprocessor = dict(type='GPUMultiViewAugment', num_views=1,
                         transforms=[_base_.seed_view])
