# Linear probe of one block of a ViT-Tiny/4 trained by the SDSSL CIFAR-10
# recipes (configs/sdssl/*_vit-tiny-p4_*): the frozen backbone's [CLS] token
# of block `out_indices` (0-based; the default 11 is the last block) through
# the final LayerNorm, a 10-way linear classifier; the protocol of
# vit-tiny-p4_linear-probe_... Per block (early exit):
#   for b in $(seq 0 11); do python tools/train.py THIS_CONFIG \
#     --work-dir work_dirs/probe_block$((b + 1)) --cfg-options \
#     model.backbone.init_cfg.checkpoint=work_dirs/SDSSL_RUN/epoch_300.pth \
#     "model.backbone.out_indices=[$b]"; done
# A smaller network (e.g. the CPU demo's) needs its `arch` in --cfg-options.
_base_ = ['./vit-tiny-p4_linear-probe_1xb256-coslr-100e_cifar10.py']

model = dict(
    backbone=dict(_delete_=True, type='MultiLayerCLSViT', arch='deit-t',
                  img_size=32, patch_size=4, out_indices=(11, ),
                  frozen_stages=12,
                  init_cfg=dict(type='Pretrained', prefix='backbone.',
                                checkpoint='work_dirs/PRETRAINED.pth')))
