# The online kNN of the one-epoch CPU demos: after every epoch, on a
# class-balanced 10k-image bank (1,000 training images per class) and the
# 10k test images of the training data root, 2 data workers. A demo config
# uses it as `custom_hooks = [dict(_base_.knn_demo_hook, ...)]`.
knn_demo_bank = dict(
    batch_size=512,
    num_workers=2,
    sampler=dict(type='DefaultSampler', shuffle=False),
    collate_fn=dict(type='default_collate'),
    dataset=dict(type='ImageFolder', split='train',
                 num_per_class=1000, pipeline=[
                     dict(type='LoadImageFromFile'),
                     dict(type='PackInputs')]))
knn_demo_hook = dict(
    type='KNNHook', interval=1, ks=(10, 20, 200), temperature=0.07,
    bank_dataloader=knn_demo_bank,
    query_dataloader=dict(
        knn_demo_bank, dataset=dict(knn_demo_bank['dataset'], split='test',
                                    num_per_class=None)))
