# Imagenette for SEED and DenseDistill: imagenet_seed.py's one view per image
# on data/imagenette/{train,val}, with imagenette_ssl.py's kNN monitor (the
# whole train split as bank, the whole val split as query).
_base_ = ['./imagenet_seed.py']

data_root = 'data/imagenette'

train_dataloader = dict(dataset=dict(data_root=data_root))

# A config that sets `custom_hooks` replaces this whole list: copy the
# KNNHook entry into it to keep the monitor.
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
            dataset=dict(type='ImageFolder',
                         split='train', pipeline={{_base_.knn_pipeline}})),
        query_dataloader=dict(
            batch_size=256,
            num_workers=8,
            sampler=dict(type='DefaultSampler', shuffle=False),
            collate_fn=dict(type='default_collate'),
            dataset=dict(type='ImageFolder',
                         split='val', pipeline={{_base_.knn_pipeline}}))),
]
