# The README's main job, baseline part: the same CIFAR ResNet-20 trained
# without a teacher (MoCo v3) for as many iterations as the SEED student:
# one epoch (195 iterations of batch 256; 40 warm-up iterations, then
# cosine), 2 data workers. The online kNN runs before training and at the
# end, on a class-balanced 10k-image bank and the 10k test images.
_base_ = './mocov3_resnet20-cifar_1xb256-coslr-200e_cifar10.py'

train_cfg = dict(max_epochs=1)
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-4, by_epoch=False, begin=0,
         end=40),
    dict(type='CosineAnnealingLR', T_max=155, by_epoch=False, begin=40,
         end=195),
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
    dict(type='KNNHook', interval=1, before_train=True,
         ks=(10, 20, 200), temperature=0.07, bank_dataloader=knn_bank,
         query_dataloader=dict(
             knn_bank, dataset=dict(knn_bank['dataset'], split='test',
                                    num_per_class=None))),
]
default_hooks = dict(logger=dict(interval=20))
