# DINO, ViT-Tiny with 4 px patches (192-d, 12 blocks; 8 x 8 tokens on
# global crops, 4 x 4 on local ones), CIFAR-10, batch 256, 100 epochs.
# DINO's recipe (main_dino.py): head 2048-256-K with a weight-normalised
# last layer (frozen for epoch 0), K = 4096 here (65,536 on ImageNet);
# student temperature 0.1, teacher 0.04 -> 0.07 over 30 epochs, centre
# momentum 0.9; EMA teacher 0.996 -> 1; AdamW lr 5e-4 x batch / 256 after
# 10 warm-up epochs, cosine to 1e-6; weight decay 0.04 -> 0.4 (cosine), none
# on biases and norms; gradient clipping 3.0.
_base_ = [
    '../_base_/datasets/cifar10_multicrop.py',
    '../_base_/schedules/adamw_coslr-300e_dino.py',
    '../_base_/default_runtime.py',
]

model = dict(
    type='DINO',
    backbone=dict(type='VisionTransformer', arch='deit-t', img_size=32,
                  patch_size=4, drop_path_rate=0.1, out_type='cls_token'),
    neck=dict(type='DINOHead', in_channels=192, out_channels=4096,
              hidden_channels=2048, bottleneck_channels=256,
              norm_last_layer=True),
    loss=dict(type='DINOLoss', out_channels=4096, student_temp=0.1,
              teacher_temp=0.07, warmup_teacher_temp=0.04, warmup_epochs=30,
              center_momentum=0.9),
    base_momentum=0.004)  # = paper momentum 0.996 (MMEngine EMA convention)

train_dataloader = dict(batch_size=256)

# DINO's schedule over 100 epochs
param_scheduler = [
    _base_.param_scheduler[0],
    dict(_base_.param_scheduler[1], T_max=90, end=100),
    dict(_base_.param_scheduler[2], end=100),
]
train_cfg = dict(max_epochs=100)

custom_hooks = [
    dict(type='FreezeLastLayerHook', epochs=1),
    _base_.custom_hooks[0],
]
