# CIFAR-10 for SEED: one augmented view per image, fed to both the student
# and the teacher. SEED's MoCo v2 augmentations at 32 px: crop 20-100 %,
# colour jitter (0.4, 0.4, 0.4, 0.1) p 0.8, grayscale p 0.2, flip; no blur
# at this size.
_base_ = ['./cifar10_ssl.py']

seed_view = [
    dict(type='RandomResizedCrop', scale=32, crop_ratio_range=(0.2, 1.),
         backend='pillow'),
    dict(type='RandomApply', prob=0.8, transforms=[
        dict(type='ColorJitter', brightness=0.4, contrast=0.4,
             saturation=0.4, hue=0.1)]),
    dict(type='RandomGrayscale', prob=0.2, keep_channels=True,
         channel_weights=(0.114, 0.587, 0.2989)),
    dict(type='RandomFlip', prob=0.5),
]
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='MultiView', num_views=1, transforms=[seed_view]),
    dict(type='PackInputs'),
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
