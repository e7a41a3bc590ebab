# MOKD (official main_mokd.py and README command): a ResNet-50 and a
# ViT-S/16 (drop-path 0.1; teachers without), each with a DINO head
# (2048-256-65,536; weight norm fixed for the CNN, learnable for the ViT, as
# hard-coded officially) and a T-Head (3 blocks of width 384 = the ViT's,
# 6 heads; position embedding 7 x 7 for the CNN, 14 x 14 for the ViT; the
# CNN's 2048-d tokens projected to 384 first; learnable weight norm). Student temperature 0.1,
# teacher 0.04 -> 0.07, warm-up 50 epochs for the CNN's own losses and 30
# for the ViT's, the cross losses and the search; centre momentum 0.9;
# lambda_CNN 1.0, lambda_ViT 0.1; both EMA teachers 0.996 -> 1.
# Multi-GPU: one DDP per part, as each part has its own optimizer.
model = dict(
    type='MOKD',
    cnn=dict(
        backbone=dict(type='ResNet', depth=50, zero_init_residual=True),
        neck=dict(type='DINOHead', in_channels=2048, out_channels=65536,
                  hidden_channels=2048, bottleneck_channels=256,
                  norm_last_layer=True),
        head=dict(type='TransformerHead', in_channels=2048, embed_dims=384,
                  out_channels=65536, num_blocks=3, num_heads=6,
                  grid=(7, 7), norm_last_layer=False)),
    vit=dict(
        backbone=dict(type='VisionTransformer', arch='deit-s',
                      img_size=224, patch_size=16, drop_path_rate=0.1,
                      out_type='raw'),
        neck=dict(type='DINOHead', in_channels=384, out_channels=65536,
                  hidden_channels=2048, bottleneck_channels=256,
                  norm_last_layer=False),
        head=dict(type='TransformerHead', in_channels=384, embed_dims=384,
                  out_channels=65536, num_blocks=3, num_heads=6,
                  grid=(14, 14), norm_last_layer=False)),
    loss=dict(type='DINOLoss', out_channels=65536, student_temp=0.1,
              teacher_temp=0.07, warmup_teacher_temp=0.04,
              center_momentum=0.9),
    cnn_warmup_epochs=50,
    vit_warmup_epochs=30,
    lambdas=(1.0, 0.1),
    search=True,
    base_momentum=0.004)  # = paper momentum 0.996 (MMEngine EMA convention)
model_wrapper_cfg = dict(type='MMSeparateDistributedDataParallel')
# SyncBN in a distributed run, for the students and their EMA teachers (the
# official main_mokd.py converts both when a model has BatchNorm: the CNN);
# MMEngine's Runner converts the whole model before wrapping it.
sync_bn = 'torch'
