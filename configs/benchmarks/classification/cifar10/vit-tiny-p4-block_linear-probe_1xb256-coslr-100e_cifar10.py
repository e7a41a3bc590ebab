# Linear probe of one block of a ViT-Tiny/4 trained by the SDSSL CIFAR-10
# recipes (configs/sdssl/*_vit-tiny-p4_*): the frozen backbone's [CLS] token
# of block `out_indices` (0-based; the default 11 is the last block) through
# the final LayerNorm, a 10-way linear classifier; SGD lr 0.1, momentum 0.9,
# no weight decay, cosine over 100 epochs, batch 256, crop + flip; inputs
# normalised as in training (CIFAR-10 mean / std). Per block (early exit):
#   for b in $(seq 0 11); do python tools/train.py THIS_CONFIG \
#     --work-dir work_dirs/probe_block$((b + 1)) --cfg-options \
#     model.backbone.init_cfg.checkpoint=work_dirs/SDSSL_RUN/epoch_300.pth \
#     "model.backbone.out_indices=[$b]"; done
# A smaller network (e.g. the CPU demo's) needs its `arch` in --cfg-options.
_base_ = ['./resnet56-cifar_supervised_cifar10.py']

model = dict(
    data_preprocessor=dict(mean=[125.307, 122.950, 113.865],
                           std=[62.993, 62.089, 66.705]),
    backbone=dict(
        _delete_=True, type='MultiLayerCLSViT', arch='deit-t', img_size=32,
        patch_size=4, out_indices=(11, ), frozen_stages=12,
        init_cfg=dict(type='Pretrained', prefix='backbone.',
                      checkpoint='work_dirs/sdssl-mocov3_vit-tiny-p4_1xb256-'
                      'coslr-300e_cifar10/epoch_300.pth')),
    neck=None,
    head=dict(in_channels=192))

train_dataloader = dict(batch_size=256)
optim_wrapper = dict(
    optimizer=dict(type='SGD', lr=0.1, momentum=0.9, weight_decay=0.))
param_scheduler = dict(_delete_=True, type='CosineAnnealingLR', T_max=100,
                       by_epoch=True, begin=0, end=100)
train_cfg = dict(max_epochs=100, val_interval=10)
auto_scale_lr = dict(base_batch_size=256)
