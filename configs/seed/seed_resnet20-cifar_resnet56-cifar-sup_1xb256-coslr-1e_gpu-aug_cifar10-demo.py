# The SEED CPU demo with its view made on the device: the dataloader only
# decodes (CIFAR images are all 32x32, so they batch as they are) and packs
# one uint8 image per sample; GPUMultiViewAugment draws the CPU recipe's
# MoCo v2 augmentations (cifar10_seed.py's `seed_view`, unchanged) per
# sample with the project's batched torch ops, then normalises. Where they
# differ from the CPU ones: mmssl_kd/models/data_preprocessors/gpu_augment.py.
_base_ = [
    './seed_resnet20-cifar_resnet56-cifar-sup_1xb256-coslr-1e_cifar10-demo.py',
]

train_dataloader = dict(dataset=dict(pipeline=[
    dict(type='LoadImageFromFile'),
    dict(type='PackInputs'),
]))
data_preprocessor = dict(type='GPUMultiViewAugment', num_views=1,
                         transforms=[_base_.seed_view])
