# SEED on CIFAR-10 from a self-supervised teacher trained by this project:
# the momentum encoder of configs/selfsup/mocov3_resnet50-cifar_1xb256-
# coslr-200e_cifar10.py (ResNet-50 with CIFAR stem + its 256-d projector).
# Train it first:
#   python tools/train.py configs/selfsup/mocov3_resnet50-cifar_1xb256-coslr-200e_cifar10.py
# The teacher saw CIFAR-normalised inputs, as the student does here.
_base_ = [
    '../_base_/datasets/cifar10_seed.py',
    '../_base_/schedules/lars_coslr-200e.py',
    '../_base_/default_runtime.py',
]

# The CIFAR baselines' LARS (see the ResNet-56-teacher recipe for why).
optim_wrapper = dict(optimizer=dict(lr=0.3, weight_decay=1e-5, eta=0.02))
auto_scale_lr = dict(base_batch_size=256)

model = dict(
    type='SEED',
    queue_len=16384,
    student_temp=0.2,
    teacher_temp=1e-4,
    backbone=dict(type='CIFARResNet', depth=20),
    neck=dict(type='MoCoV2Neck', in_channels=64, hid_channels=64,
              out_channels=256, with_avg_pool=True),
    teacher=dict(
        type='FrozenTeacher',
        backbone=dict(type='ResNet_CIFAR', depth=50,
                      norm_cfg=dict(type='BN'), zero_init_residual=False),
        neck=dict(type='NonLinearNeck', in_channels=2048, hid_channels=4096,
                  out_channels=256, num_layers=2, with_bias=False,
                  with_last_bn=True, with_last_bn_affine=False,
                  with_last_bias=False, with_avg_pool=True,
                  norm_cfg=dict(type='BN1d')),
        checkpoint='{{$MMSSL_KD_WORK_DIRS:work_dirs}}/'
        'mocov3_resnet50-cifar_1xb256-coslr-200e_cifar10/epoch_200.pth',
        source='mmssl_kd',
        prefix_map={'momentum_encoder.module.0.': 'backbone.',
                    'momentum_encoder.module.1.': 'neck.'}))
