# CIFAR-10 for DoGo: the official SimCLR augmentation (RRC, flip, colour
# distortion s = 1: ColorJitter(0.8, 0.8, 0.8, 0.2) with p 0.8, grayscale
# p 0.2; no blur at 32 px), two views per peer: views 0, 1 go to model 1,
# views 2, 3 to model 2. The online kNN (every 10 epochs) evaluates both.
_base_ = './cifar10_ssl.py'

simclr_view = [
    dict(type='RandomResizedCrop', scale=32, crop_ratio_range=(0.08, 1.),
         backend='pillow'),
    dict(type='RandomFlip', prob=0.5),
    dict(type='RandomApply', prob=0.8, transforms=[
        dict(type='ColorJitter', brightness=0.8, contrast=0.8,
             saturation=0.8, hue=0.2)]),
    dict(type='RandomGrayscale', prob=0.2, keep_channels=True,
         channel_weights=(0.114, 0.587, 0.2989)),
]
# SimSiam peer (official SimSiamTransform): colour strength s = 0.5; the
# official transform applies grayscale (p 0.2) twice, inside the colour
# distortion and after it.
simsiam_view = [
    dict(type='RandomResizedCrop', scale=32, crop_ratio_range=(0.08, 1.),
         backend='pillow'),
    dict(type='RandomFlip', prob=0.5),
    dict(type='RandomApply', prob=0.8, transforms=[
        dict(type='ColorJitter', brightness=0.4, contrast=0.4,
             saturation=0.4, hue=0.1)]),
    dict(type='RandomGrayscale', prob=0.2, keep_channels=True,
         channel_weights=(0.114, 0.587, 0.2989)),
    dict(type='RandomGrayscale', prob=0.2, keep_channels=True,
         channel_weights=(0.114, 0.587, 0.2989)),
]
dogo_train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='MultiView', num_views=4, transforms=[simclr_view]),
    dict(type='PackInputs'),
]
# single-model baseline: the first peer's two views
baseline_train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='MultiView', num_views=2, transforms=[simclr_view]),
    dict(type='PackInputs'),
]

train_dataloader = dict(dataset=dict(pipeline=dogo_train_pipeline))
custom_hooks = [dict(_base_.custom_hooks[0], parts=('backbone', 'peer'))]
