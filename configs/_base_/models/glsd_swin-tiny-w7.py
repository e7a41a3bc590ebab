# Global-Local Self-Distillation with Swin-T (the official recipe): patch 4,
# window 7, depths 2-2-6-2, 96-d, drop-path 0.1 (the teacher runs without);
# global vector: mean of the normalised last-stage tokens (7 x 7 on 224 px
# crops, 3 x 3 on 96 px ones; small maps padded to the window); global and
# dense DINO heads 2048-256-65,536 with a learnable weight norm
# (norm_last_layer False); student temperature 0.1, teacher 0.04 -> 0.07
# over 30 epochs, a centre per head (momentum 0.9); geometric matching with
# the hinge at 32 px per token; 0.5 global + 0.5 local; EMA 0.996 -> 1.
head = dict(type='DINOHead', in_channels=768, out_channels=65536,
            hidden_channels=2048, bottleneck_channels=256,
            norm_last_layer=False)
dino_loss = dict(type='DINOLoss', out_channels=65536, student_temp=0.1,
                 teacher_temp=0.07, warmup_teacher_temp=0.04,
                 warmup_epochs=30, center_momentum=0.9)
model = dict(
    type='GLSD',
    backbone=dict(type='SwinTransformer', arch='tiny', img_size=224,
                  drop_path_rate=0.1, pad_small_map=True),
    neck=head,
    loss=dino_loss,
    dense_neck=head,
    local_loss=dict(dino_loss, type='LocalDINOLoss'),
    matching='geometric',
    hinge=True,
    downsampling_rate=32,
    global_weight=0.5,
    local_weight=0.5,
    base_momentum=0.004)  # = paper momentum 0.996 (MMEngine EMA convention)
