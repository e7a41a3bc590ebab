# DoGo on ImageNet-1k: ResNet-18 (model 1, evaluated) with a ResNet-50 peer,
# standard 224 px ResNets. Official 224 px augmentation (SimCLRTransform):
# RRC, flip, colour distortion s = 1, Gaussian blur p 0.5. Batch 256
# (8 GPUs x 32), one Adam per peer (lr 3e-4, wd 1e-6, constant).
# The official code uses the random 1000-way fc output as the feature for
# images of 100 px or more (methods.md 3(e) pitfall 2); here the projector
# takes the pooled backbone features, as the paper describes. The paper's
# ImageNet schedule is not in the official code: 200 epochs is this
# project's choice.
_base_ = [
    '../_base_/models/dogo_resnet18-cifar_resnet50-cifar.py',
    '../_base_/datasets/imagenet_ssl.py',
    '../_base_/schedules/adam_1000e_dogo.py',
    '../_base_/default_runtime.py',
]

model = dict(
    model1=dict(backbone=dict(_delete_=True, type='ResNet', depth=18,
                              norm_cfg=dict(type='BN'),
                              zero_init_residual=False)),
    model2=dict(backbone=dict(_delete_=True, type='ResNet', depth=50,
                              norm_cfg=dict(type='BN'),
                              zero_init_residual=False)))

simclr_view = [
    dict(type='RandomResizedCrop', scale=224, crop_ratio_range=(0.08, 1.),
         backend='pillow'),
    dict(type='RandomFlip', prob=0.5),
    dict(type='RandomApply', prob=0.8, transforms=[
        dict(type='ColorJitter', brightness=0.8, contrast=0.8,
             saturation=0.8, hue=0.2)]),
    dict(type='RandomGrayscale', prob=0.2, keep_channels=True,
         channel_weights=(0.114, 0.587, 0.2989)),
    dict(type='GaussianBlur', magnitude_range=(0.1, 2.0),
         magnitude_std='inf', prob=0.5),
]
train_dataloader = dict(
    batch_size=32,
    dataset=dict(pipeline=[
        dict(type='LoadImageFromFile'),
        dict(type='MultiView', num_views=4, transforms=[simclr_view]),
        dict(type='PackInputs'),
    ]))

train_cfg = dict(max_epochs=200)
custom_hooks = [dict(_base_.custom_hooks[0], parts=('backbone', 'peer'))]
