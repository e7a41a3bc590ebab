# DINO ViT-Tiny/4 with CIFAR-10 held on the device
# (configs/_base_/datasets/cifar10_device-data.py): the same recipe, with
# its multi-crop (2 global crops of 32 px, scale 0.4-1, the second with
# solarize; 6 local crops of 16 px, scale 0.05-0.4) made by
# GPUMultiViewAugment. No crop boxes are made (DINO needs none).
_base_ = [
    './dino_vit-tiny-p4_1xb256-coslr-100e_cifar10.py',
    '../_base_/datasets/cifar10_device-data.py',
]

train_dataloader = dict(dataset=dict(_base_.device_train_dataset,
                                     _delete_=True))
device_global_crop = dict(_base_.global_crop, type='RandomResizedCrop')
device_local_crop = dict(_base_.local_crop, type='RandomResizedCrop')
data_preprocessor = dict(
    type='GPUMultiViewAugment',
    num_views=[1, 1, 6],
    transforms=[[device_global_crop] + _base_.color,
                [device_global_crop] + _base_.color +
                [dict(type='Solarize', thr=128, prob=0.2)],
                [device_local_crop] + _base_.color])
custom_hooks = [
    _base_.custom_hooks[0],
    dict(_base_.custom_hooks[1], **_base_.device_knn_dataloaders),
]
