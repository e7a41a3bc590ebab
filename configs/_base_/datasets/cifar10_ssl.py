# CIFAR-10 (32 px) for two-view self-supervised training, with an online
# weighted-kNN monitor (bank: train, query: test).
dataset_type = 'ImageFolder'
data_root = 'data/cifar10'

# CIFAR-10 channel mean / std (RGB, 0-255)
data_preprocessor = dict(
    type='SelfSupDataPreprocessor',
    mean=[125.307, 122.950, 113.865],
    std=[62.993, 62.089, 66.705],
    to_rgb=True)

# Two views (solo-learn's CIFAR augmentations): no blur at 32 px, solarize
# only the second view. MoCo v3 and BYOL use them as they are.
view_pipeline1 = [
    dict(type='RandomResizedCrop', scale=32, crop_ratio_range=(0.08, 1.),
         backend='pillow'),
    dict(type='RandomApply', prob=0.8, transforms=[
        dict(type='ColorJitter', brightness=0.4, contrast=0.4,
             saturation=0.2, hue=0.1)]),
    dict(type='RandomGrayscale', prob=0.2, keep_channels=True,
         channel_weights=(0.114, 0.587, 0.2989)),
    dict(type='RandomFlip', prob=0.5),
]
view_pipeline2 = [
    dict(type='RandomResizedCrop', scale=32, crop_ratio_range=(0.08, 1.),
         backend='pillow'),
    dict(type='RandomApply', prob=0.8, transforms=[
        dict(type='ColorJitter', brightness=0.4, contrast=0.4,
             saturation=0.2, hue=0.1)]),
    dict(type='RandomGrayscale', prob=0.2, keep_channels=True,
         channel_weights=(0.114, 0.587, 0.2989)),
    dict(type='Solarize', thr=128, prob=0.2),
    dict(type='RandomFlip', prob=0.5),
]
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='MultiView', num_views=[1, 1],
         transforms=[view_pipeline1, view_pipeline2]),
    dict(type='PackInputs'),
]
# SimCLR: two views from the same (symmetric) distribution.
simclr_train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='MultiView', num_views=2, transforms=[view_pipeline1]),
    dict(type='PackInputs'),
]

train_dataloader = dict(
    batch_size=256,
    num_workers=8,
    persistent_workers=True,
    pin_memory=True,
    drop_last=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    collate_fn=dict(type='default_collate'),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        split='train',
        pipeline=train_pipeline))

# Single view for kNN features: the image as it is.
knn_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='PackInputs'),
]

# Online weighted kNN every `interval` epochs; its datasets name no data_root,
# so they read the training dataset's (KNNHook.dataloader_cfgs). A config
# that sets `custom_hooks` replaces this whole list: copy the KNNHook entry
# into it to keep the monitor.
custom_hooks = [
    dict(
        type='KNNHook',
        interval=10,
        ks=(10, 20, 200),
        temperature=0.07,
        bank_dataloader=dict(
            batch_size=512,
            num_workers=8,
            sampler=dict(type='DefaultSampler', shuffle=False),
            collate_fn=dict(type='default_collate'),
            dataset=dict(type=dataset_type,
                         split='train', pipeline=knn_pipeline)),
        query_dataloader=dict(
            batch_size=512,
            num_workers=8,
            sampler=dict(type='DefaultSampler', shuffle=False),
            collate_fn=dict(type='default_collate'),
            dataset=dict(type=dataset_type,
                         split='test', pipeline=knn_pipeline))),
]
