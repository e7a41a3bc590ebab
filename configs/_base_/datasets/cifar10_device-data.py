# CIFAR-10 held on the device (mmssl_kd/datasets/device_data.py): the 50,000
# training images are decoded once into one uint8 tensor on the GPU (150 MB),
# each batch is cut out of it in DefaultSampler's order (shuffled per epoch
# from the seed, one shard per rank, drop_last), and the model's
# GPUMultiViewAugment makes the views there: no dataloader workers, no
# host-to-device copies. A `_device-data` recipe inherits its folder recipe
# and this file, then sets
#   train_dataloader = dict(dataset=dict(_base_.device_train_dataset,
#                                        _delete_=True))
#   data_preprocessor = dict(type='GPUMultiViewAugment', num_views=...,
#                            transforms=[<the recipe's view pipelines>])
# and its kNN hook's two dataloaders to `device_knn_dataloaders` (the bank
# reads the training tensor, the queries the test split). Batch size,
# sampler and drop_last stay the recipe's; its worker settings are unused.
device_data_root = 'data/cifar10'
device_train_dataset = dict(
    type='DeviceImageDataset',
    source=dict(type='ImageFolder', data_root=device_data_root,
                split='train'))
# The kNN datasets name no data_root: they read the training dataset's.
device_knn_dataloaders = dict(
    bank_dataloader=dict(
        batch_size=1024,
        sampler=dict(type='DefaultSampler', shuffle=False),
        dataset=dict(type='DeviceImageDataset',
                     source=dict(type='ImageFolder', split='train'))),
    query_dataloader=dict(
        batch_size=1024,
        sampler=dict(type='DefaultSampler', shuffle=False),
        dataset=dict(type='DeviceImageDataset',
                     source=dict(type='ImageFolder', split='test'))))
