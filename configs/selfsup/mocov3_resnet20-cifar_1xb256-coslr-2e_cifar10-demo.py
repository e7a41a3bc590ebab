# The README's main job: a ten-minute MoCo v3 run of a CIFAR ResNet-20 on a
# 2-core CPU. Same recipe as the 200-epoch config, with a 2-epoch schedule
# (one warm-up epoch, then cosine) and 2 data workers. The online kNN runs
# before training and at the end, on a class-balanced 10k-image bank and
# the 10k test set.
_base_ = './mocov3_resnet20-cifar_1xb256-coslr-200e_cifar10.py'

max_epochs = 2
train_cfg = dict(max_epochs=max_epochs)
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-4, by_epoch=True, begin=0, end=1,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', T_max=max_epochs - 1, by_epoch=True,
         begin=1, end=max_epochs, convert_to_iter_based=True),
]
train_dataloader = dict(num_workers=2)

knn_bank = dict(
    batch_size=512,
    num_workers=2,
    sampler=dict(type='DefaultSampler', shuffle=False),
    collate_fn=dict(type='default_collate'),
    dataset=dict(type='ImageFolder', data_root='data/cifar10', split='train',
                 num_per_class=1000, pipeline=[
                     dict(type='LoadImageFromFile'),
                     dict(type='PackInputs')]))
custom_hooks = [
    dict(type='KNNHook', interval=max_epochs, before_train=True,
         ks=(10, 20, 200), temperature=0.07, bank_dataloader=knn_bank,
         query_dataloader=dict(
             knn_bank, dataset=dict(knn_bank['dataset'], split='test',
                                    num_per_class=None))),
]
default_hooks = dict(logger=dict(interval=20))
