# AdamW for a ViT student under SEED's objective (our choice: SEED's paper
# trains CNN students only, with SGD): MoCo v3's ViT optimiser
# (adamw_coslr-300e.py: lr 1.5e-4 x batch / 256, betas (0.9, 0.999), weight
# decay 0.1, 40 warm-up epochs, then cosine) over SEED's 200 epochs, for the
# recipes' total batch of 256.
_base_ = ['./adamw_coslr-300e.py']

optim_wrapper = dict(optimizer=dict(lr=1.5e-4))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-4, by_epoch=True, begin=0, end=40,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', T_max=160, by_epoch=True, begin=40,
         end=200, convert_to_iter_based=True),
]
train_cfg = dict(max_epochs=200)
auto_scale_lr = dict(base_batch_size=256)
