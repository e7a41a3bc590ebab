# SEED on Imagenette: ResNet-18 student, teacher = the momentum encoder of
# the project's MoCo v3 ResNet-50 Imagenette run (256-d projector output):
#   bash tools/dist_train.sh configs/selfsup/mocov3_resnet50_4xb64-coslr-200e_imagenette.py 4
_base_ = [
    '../_base_/models/seed_resnet18_resnet50-mocov2.py',
    '../_base_/datasets/imagenette_seed.py',
    '../_base_/schedules/sgd_coslr-200e_seed.py',
    '../_base_/default_runtime.py',
]

# Imagenette has 9,469 training images: a queue of 8,192.
model = dict(
    queue_len=8192,
    neck=dict(out_channels=256),
    teacher=dict(
        neck=dict(_delete_=True, type='NonLinearNeck', in_channels=2048,
                  hid_channels=4096, out_channels=256, num_layers=2,
                  with_bias=False, with_last_bn=True,
                  with_last_bn_affine=False, with_last_bias=False,
                  with_avg_pool=True, norm_cfg=dict(type='BN1d')),
        checkpoint='{{$MMSSL_KD_WORK_DIRS:work_dirs}}/'
        'mocov3_resnet50_4xb64-coslr-200e_imagenette/epoch_200.pth',
        source='mmssl_kd',
        prefix_map=dict(_delete_=True, **{
            'momentum_encoder.module.0.': 'backbone.',
            'momentum_encoder.module.1.': 'neck.'})))
train_dataloader = dict(batch_size=64)
