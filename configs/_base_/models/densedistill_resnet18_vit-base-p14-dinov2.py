# Distilling DINOv2 ViT-B/14 (Oquab et al., 2023) into a ResNet-18 (timm's
# `resnet18`) with DenseDistill: SEED's similarity distribution over a queue
# of the teacher's [CLS] embeddings (global) plus the teacher's patch map
# (768 x 16 x 16 at 224 px) as the per-location target of the student's
# last stage map through a 1x1 projection (dense), weighted 1 : 1. Recipes
# set global_weight=0 (dense only) or dense_weight=0 (global only, = SEED).
#
# SEED's official values: queue 65,536, tau_S 0.2, tau_T 1e-4, head
# Linear(C, C)-ReLU-Linear(C, D) with C the student's width and D the
# teacher's (768). Dense term: cosine distance per location
# (DenseFeatureLoss; smooth_l1_weight adds AM-RADIO's second term).
#
# Teacher weights: the official DINOv2 torch.hub file, fetched once by hand
# (nothing downloads at run time; configs/foundation/README.md, "Weights"):
#   $MMSSL_KD_WEIGHTS/dinov2/dinov2_vitb14_pretrain.pth
# The teacher runs in bf16 on a CUDA GPU that has it (autocast='auto'), its
# outputs in fp32.
model = dict(
    type='DenseDistill',
    queue_len=65536,
    student_temp=0.2,
    teacher_temp=1e-4,
    backbone=dict(type='TimmBackbone', model_name='resnet18',
                  features_only=True, out_indices=(-1, )),
    neck=dict(type='MoCoV2Neck', in_channels=512, hid_channels=512,
              out_channels=768, with_avg_pool=True),
    dense_neck=dict(type='DenseProjector', in_channels=512,
                    out_channels=768),
    dense_loss=dict(type='DenseFeatureLoss', cosine_weight=1.0),
    global_weight=1.,
    dense_weight=1.,
    teacher=dict(
        type='FrozenTeacher',
        backbone=dict(type='FoundationViT',
                      model_name='vit_base_patch14_dinov2',
                      outputs=('map', 'cls'), autocast='auto'),
        checkpoint='{{$MMSSL_KD_WEIGHTS:../shared/weights}}/dinov2/'
        'dinov2_vitb14_pretrain.pth',
        source='dinov2',
        input_size=224))
