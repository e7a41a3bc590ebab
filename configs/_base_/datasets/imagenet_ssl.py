# ImageNet-1k (224 px) for two-view self-supervised training, with an online
# weighted-kNN monitor on class-balanced subsets (bank: 100 train images per
# class, query: 10 val images per class). Expected layout:
# data/imagenet/{train,val}/<wnid>/*.JPEG
dataset_type = 'ImageFolder'
data_root = 'data/imagenet'

data_preprocessor = dict(
    type='SelfSupDataPreprocessor',
    mean=[123.675, 116.28, 103.53],
    std=[58.395, 57.12, 57.375],
    to_rgb=True)

# BYOL's asymmetric views: view 1 always blurred, view 2 rarely blurred and
# sometimes solarized. MoCo v3 (ViT) and BYOL use them as they are.
view_pipeline1 = [
    dict(type='RandomResizedCrop', scale=224, crop_ratio_range=(0.08, 1.),
         interpolation='bicubic', backend='pillow'),
    dict(type='RandomFlip', prob=0.5),
    dict(type='RandomApply', prob=0.8, transforms=[
        dict(type='ColorJitter', brightness=0.4, contrast=0.4,
             saturation=0.2, hue=0.1)]),
    dict(type='RandomGrayscale', prob=0.2, keep_channels=True,
         channel_weights=(0.114, 0.587, 0.2989)),
    dict(type='GaussianBlur', magnitude_range=(0.1, 2.0),
         magnitude_std='inf', prob=1.0),
]
view_pipeline2 = [
    dict(type='RandomResizedCrop', scale=224, crop_ratio_range=(0.08, 1.),
         interpolation='bicubic', backend='pillow'),
    dict(type='RandomFlip', prob=0.5),
    dict(type='RandomApply', prob=0.8, transforms=[
        dict(type='ColorJitter', brightness=0.4, contrast=0.4,
             saturation=0.2, hue=0.1)]),
    dict(type='RandomGrayscale', prob=0.2, keep_channels=True,
         channel_weights=(0.114, 0.587, 0.2989)),
    dict(type='GaussianBlur', magnitude_range=(0.1, 2.0),
         magnitude_std='inf', prob=0.1),
    dict(type='Solarize', thr=128, prob=0.2),
]
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='MultiView', num_views=[1, 1],
         transforms=[view_pipeline1, view_pipeline2]),
    dict(type='PackInputs'),
]

# MoCo v3 with a ResNet crops less aggressively (smallest crop 20 %).
crop_min02 = dict(type='RandomResizedCrop', scale=224,
                  crop_ratio_range=(0.2, 1.), interpolation='bicubic',
                  backend='pillow')
mocov3_resnet_train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='MultiView', num_views=[1, 1],
         transforms=[[crop_min02] + view_pipeline1[1:],
                     [crop_min02] + view_pipeline2[1:]]),
    dict(type='PackInputs'),
]

# SimCLR: two views from one symmetric distribution (blur with p 0.5).
simclr_view_pipeline = view_pipeline1[:-1] + [
    dict(type='GaussianBlur', magnitude_range=(0.1, 2.0),
         magnitude_std='inf', prob=0.5)]
simclr_train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='MultiView', num_views=2, transforms=[simclr_view_pipeline]),
    dict(type='PackInputs'),
]

# DINO's multi-crop (2 global crops of 224 px, scale 0.4-1, with view 1's
# and view 2's augmentations; 8 local crops of 96 px, scale 0.05-0.4, blur
# p 0.5), with each view's crop box and flip packed as `crop_boxes` /
# `crop_flips` for Global-Local Self-Distillation's geometric matching.
dino_global_crop = dict(type='RandomResizedCropWithBox', scale=224,
                        crop_ratio_range=(0.4, 1.), interpolation='bicubic',
                        backend='pillow')
dino_local_crop = dict(dino_global_crop, scale=96,
                       crop_ratio_range=(0.05, 0.4))
multicrop_train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='MultiViewWithBoxes', num_views=[1, 1, 8], transforms=[
        [dino_global_crop] + view_pipeline1[1:],
        [dino_global_crop] + view_pipeline2[1:],
        [dino_local_crop] + simclr_view_pipeline[1:]]),
    dict(type='PackInputs', algorithm_keys=('crop_boxes', 'crop_flips')),
]

# MOKD's crops (its README command): global scale 0.25-1, local 0.05-0.25.
mokd_train_pipeline = [
    multicrop_train_pipeline[0],
    dict(multicrop_train_pipeline[1], transforms=[
        [dict(dino_global_crop, crop_ratio_range=(0.25, 1.))] +
        view_pipeline1[1:],
        [dict(dino_global_crop, crop_ratio_range=(0.25, 1.))] +
        view_pipeline2[1:],
        [dict(dino_local_crop, crop_ratio_range=(0.05, 0.25))] +
        simclr_view_pipeline[1:]]),
    multicrop_train_pipeline[2],
]

# The `_gpu-aug` configs' loading: decode and resize every image to 256x256
# (Pillow, bicubic, antialiased) so images batch, and pack one image per
# sample; GPUMultiViewAugment then makes the views on the device. The resize
# changes the aspect ratio BEFORE the crops (their aspect range applies to
# the squashed image). 256 keeps the whole-image crop a mild 256 -> 224
# shrink (the GPU crop's resampling does not antialias); small crops are
# upscaled more than from the full-size image. No centre crop: it would keep
# crops off the borders. Differences of the GPU ops:
# mmssl_kd/models/data_preprocessors/gpu_augment.py.
gpu_aug_train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(256, 256), backend='pillow',
         interpolation='bicubic'),
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

# Single view for kNN features.
knn_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='ResizeEdge', scale=256, edge='short', backend='pillow',
         interpolation='bicubic'),
    dict(type='CenterCrop', crop_size=224),
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
            batch_size=256,
            num_workers=8,
            sampler=dict(type='DefaultSampler', shuffle=False),
            collate_fn=dict(type='default_collate'),
            dataset=dict(type=dataset_type,
                         split='train', num_per_class=100,
                         pipeline=knn_pipeline)),
        query_dataloader=dict(
            batch_size=256,
            num_workers=8,
            sampler=dict(type='DefaultSampler', shuffle=False),
            collate_fn=dict(type='default_collate'),
            dataset=dict(type=dataset_type,
                         split='val', num_per_class=10,
                         pipeline=knn_pipeline))),
]
