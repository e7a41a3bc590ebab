# MoCo v3 ResNet-18-CIFAR with CIFAR-10 held on the device
# (configs/_base_/datasets/cifar10_device-data.py): the same recipe, with
# its two views (`view_pipeline1`, `view_pipeline2`) made by GPUMultiViewAugment.
_base_ = [
    './mocov3_resnet18-cifar_1xb256-coslr-200e_cifar10.py',
    '../_base_/datasets/cifar10_device-data.py',
]

train_dataloader = dict(dataset=dict(_base_.device_train_dataset,
                                     _delete_=True))
data_preprocessor = dict(type='GPUMultiViewAugment', num_views=[1, 1],
                         transforms=[_base_.view_pipeline1, _base_.view_pipeline2])
custom_hooks = [dict(_base_.custom_hooks[0], **_base_.device_knn_dataloaders)]
