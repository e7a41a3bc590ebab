# CPU demo of SD-MoCo v3: a small ViT with 4 px patches (96-d, 6 blocks, 3
# heads; 8 x 8 tokens), 5 epochs on a class-balanced 10k-image subset of the
# CIFAR-10 training set (195 iterations of batch 256), 2 data workers;
# projectors 96-512-128 (256 hidden below the last block), predictors
# 128-512-128; AdamW 1.5e-3 with one warm-up epoch, then cosine; lambda
# ramps 0 -> 1 over the 195 iterations. The online kNN of every block runs
# before training and at the end (bank: 500 training images per class;
# queries: 200 test images per class, so that six blocks take minutes on a
# CPU). Its baseline:
# sdssl-mocov3-lambda0_vit-mini-p4_1xb256-coslr-5e_cifar10-demo.py.
_base_ = [
    './sdssl-mocov3_vit-tiny-p4_1xb256-coslr-300e_cifar10.py',
    '../_base_/datasets/cifar10_knn-demo.py',
]

model = dict(
    backbone=dict(arch=dict(_delete_=True, embed_dims=96, num_layers=6,
                            num_heads=3, feedforward_channels=384)),
    neck=dict(in_channels=96, hid_channels=512, out_channels=128),
    inter_neck=dict(in_channels=96, hid_channels=256, out_channels=128),
    predictor=dict(in_channels=128, hid_channels=512, out_channels=128))

train_dataloader = dict(num_workers=2, dataset=dict(num_per_class=1000))
train_cfg = dict(max_epochs=5)
optim_wrapper = dict(optimizer=dict(lr=1.5e-3))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=True, begin=0, end=1,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', T_max=4, by_epoch=True, begin=1, end=5,
         convert_to_iter_based=True),
]
knn_bank = dict(_base_.knn_demo_bank,
                dataset=dict(_base_.knn_demo_bank.dataset, num_per_class=500))
custom_hooks = [dict(
    _base_.knn_demo_hook, interval=5, before_train=True,
    blocks=(1, 2, 3, 4, 5, 6), bank_dataloader=knn_bank,
    query_dataloader=dict(knn_bank, dataset=dict(
        knn_bank['dataset'], split='test', num_per_class=200)))]
default_hooks = dict(logger=dict(interval=13))
