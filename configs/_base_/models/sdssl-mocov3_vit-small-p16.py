# SD-MoCo v3 with ViT-S/16 (official SDSSL code, SD_moco.json): DINO's ViT
# (384-d, 12 blocks, 6 heads, learned position embedding, no drop-path);
# every block's [CLS] token through the final LayerNorm; a projector per
# block (Linear-BN-ReLU x 2, Linear, BN without affine; hidden 4096 for the
# last block, 2048 for the others; 256-d out) and a predictor per block
# (256-4096-256); EMA teacher (backbone + last projector) 0.996 -> 1;
# InfoNCE at T = 0.2 scaled by 2T; lambda ramps 0 -> 1.0 (cosine); the
# predictor-only term weighs 12 x the mean over blocks.
projector = dict(
    type='NonLinearNeck', in_channels=384, hid_channels=4096,
    out_channels=256, num_layers=3, with_bias=False, with_last_bn=True,
    with_last_bn_affine=False, with_last_bias=False, with_avg_pool=False,
    norm_cfg=dict(type='BN1d'))

model = dict(
    type='SDSSL',
    base='mocov3',
    backbone=dict(type='MultiLayerCLSViT', arch='deit-s', img_size=224,
                  patch_size=16, drop_path_rate=0.),
    neck=projector,
    inter_neck=dict(projector, hid_channels=2048),
    predictor=dict(projector, in_channels=256, num_layers=2),
    inter_weight=1.0,
    predictor_weight=12.,
    temperature=0.2,
    base_momentum=0.004)  # = paper momentum 0.996 (MMEngine EMA convention)

# The MLPs' BN1d layers become SyncBatchNorm in every distributed run (the
# Runner converts them, student and EMA teacher, before DDP wraps the
# model), as the official `pl.Trainer(sync_batchnorm=True)`; a run on one
# process keeps plain BN.
sync_bn = 'torch'
