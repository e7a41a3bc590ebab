# SD-SimCLR, ViT-S/16 (official pl_train_simclr.py): no teacher and no
# predictors; NT-Xent of the last block over the gathered batch (T = 0.2);
# every other block against the detached last-block outputs; lambda ramps
# 0 -> 0.8; AdamW lr 1.3e-4 x batch / 256.
_base_ = ['./sdssl-mocov3_vit-small-p16_8xb128-coslr-300e_in1k.py']

model = dict(base='simclr', predictor=None, inter_weight=0.8)
optim_wrapper = dict(optimizer=dict(lr=5.2e-4))
