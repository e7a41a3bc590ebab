# The SEED CPU demo with CIFAR-10 held on the device (on a machine without
# a GPU: in memory), for comparing the two data paths: the same recipe,
# SEED's view made by GPUMultiViewAugment, the same kNN bank (1,000
# training images per class, cut from the training tensor) and queries.
_base_ = [
    './seed_resnet20-cifar_resnet56-cifar-sup_1xb256-coslr-1e_cifar10-demo.py',
    '../_base_/datasets/cifar10_device-data.py',
]

train_dataloader = dict(dataset=dict(_base_.device_train_dataset,
                                     _delete_=True))
data_preprocessor = dict(type='GPUMultiViewAugment', num_views=1,
                         transforms=[_base_.seed_view])
custom_hooks = [dict(
    _base_.custom_hooks[0],
    bank_dataloader=dict(
        _base_.device_knn_dataloaders['bank_dataloader'],
        dataset=dict(_base_.device_train_dataset,
                     source=dict(_base_.device_train_dataset['source'],
                                 num_per_class=1000))),
    query_dataloader=_base_.device_knn_dataloaders['query_dataloader'])]
