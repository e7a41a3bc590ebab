# ImageNet-1k for SEED: ONE MoCo v2-augmented view per image, fed to both
# the student and the teacher (official SEED `main.py`): crop 20-100 %,
# colour jitter (0.4, 0.4, 0.4, 0.1) p 0.8, grayscale p 0.2, blur
# sigma 0.1-2 p 0.5, flip. The kNN monitor and the data preprocessor are
# imagenet_ssl.py's.
_base_ = ['./imagenet_ssl.py']

seed_view = [
    dict(type='RandomResizedCrop', scale=224, crop_ratio_range=(0.2, 1.),
         backend='pillow'),
    dict(type='RandomApply', prob=0.8, transforms=[
        dict(type='ColorJitter', brightness=0.4, contrast=0.4,
             saturation=0.4, hue=0.1)]),
    dict(type='RandomGrayscale', prob=0.2, keep_channels=True,
         channel_weights=(0.114, 0.587, 0.2989)),
    dict(type='GaussianBlur', magnitude_range=(0.1, 2.0),
         magnitude_std='inf', prob=0.5),
    dict(type='RandomFlip', prob=0.5),
]
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='MultiView', num_views=1, transforms=[seed_view]),
    dict(type='PackInputs'),
]
# Small-patch variant (`main_small-patch.py`): one 224 px crop (14-100 %)
# and six 96 px crops (5-14 %), each with the view's other augmentations.
seed_large_crop = dict(seed_view[0], crop_ratio_range=(0.14, 1.))
seed_small_crop = dict(seed_view[0], scale=96, crop_ratio_range=(0.05, 0.14))
small_patch_train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='MultiView', num_views=[1, 6], transforms=[
        [seed_large_crop] + seed_view[1:], [seed_small_crop] + seed_view[1:]]),
    dict(type='PackInputs'),
]
train_dataloader = dict(batch_size=32, dataset=dict(pipeline=train_pipeline))
