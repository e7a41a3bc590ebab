# DoGo ResNet-18-CIFAR + ResNet-50-CIFAR with CIFAR-10 held on the device
# (configs/_base_/datasets/cifar10_device-data.py): the same recipe, with
# its four SimCLR views (two per peer, `simclr_view`) made by
# GPUMultiViewAugment; the kNN monitor evaluates both peers.
_base_ = [
    './dogo_resnet18-cifar_resnet50-cifar_1xb256-adam-1000e_cifar10.py',
    '../_base_/datasets/cifar10_device-data.py',
]

train_dataloader = dict(dataset=dict(_base_.device_train_dataset,
                                     _delete_=True))
data_preprocessor = dict(type='GPUMultiViewAugment', num_views=4,
                         transforms=[_base_.simclr_view])
custom_hooks = [dict(_base_.custom_hooks[0], **_base_.device_knn_dataloaders)]
