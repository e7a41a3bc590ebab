# CIFAR-10 with DINO's multi-crop: 2 global crops of 32 px (scale 0.4-1)
# and 6 local crops of 16 px (scale 0.05-0.4; a patch-4 ViT sees 4 x 4
# tokens), DINO's colour augmentation without blur at this size, solarize
# on the second global crop. Views: global 1, global 2, then the locals.
# Each view's crop box and flip are packed as `crop_boxes` / `crop_flips`
# for Global-Local Self-Distillation's geometric matching (DINO ignores
# them; the crops are the same as plain RandomResizedCrop's).
_base_ = './cifar10_ssl.py'

color = [
    dict(type='RandomFlip', prob=0.5),
    dict(type='RandomApply', prob=0.8, transforms=[
        dict(type='ColorJitter', brightness=0.4, contrast=0.4,
             saturation=0.2, hue=0.1)]),
    dict(type='RandomGrayscale', prob=0.2, keep_channels=True,
         channel_weights=(0.114, 0.587, 0.2989)),
]
global_crop = dict(type='RandomResizedCropWithBox', scale=32,
                   crop_ratio_range=(0.4, 1.), backend='pillow')
local_crop = dict(type='RandomResizedCropWithBox', scale=16,
                  crop_ratio_range=(0.05, 0.4), backend='pillow')
multicrop_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='MultiViewWithBoxes', num_views=[1, 1, 6], transforms=[
        [global_crop] + color,
        [global_crop] + color + [dict(type='Solarize', thr=128, prob=0.2)],
        [local_crop] + color]),
    dict(type='PackInputs', algorithm_keys=('crop_boxes', 'crop_flips')),
]
train_dataloader = dict(dataset=dict(pipeline=multicrop_pipeline))

# MOKD's crops (its README command): global scale 0.25-1, local 0.05-0.25.
mokd_pipeline = [
    multicrop_pipeline[0],
    dict(multicrop_pipeline[1], transforms=[
        [dict(global_crop, crop_ratio_range=(0.25, 1.))] + color,
        [dict(global_crop, crop_ratio_range=(0.25, 1.))] + color +
        [dict(type='Solarize', thr=128, prob=0.2)],
        [dict(local_crop, crop_ratio_range=(0.05, 0.25))] + color]),
    multicrop_pipeline[2],
]
