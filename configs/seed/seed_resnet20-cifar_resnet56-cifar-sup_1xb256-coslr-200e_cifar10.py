# SEED on CIFAR-10: a CIFAR ResNet-20 student distils the supervised CIFAR
# ResNet-56 of shared/weights (83.2 % top-1 on this JPEG CIFAR-10). The
# teacher's embedding is its network with its own head, here the 10-way
# classifier (for an SSL teacher it is the projector); its logits beat its
# 64-d pooled features as SEED targets in a one-epoch CPU test (kNN 35.09
# against 31.58, configs/seed/README.md). The paper pre-trains on ImageNet
# only; on CIFAR the queue is 16,384 (65,536 exceeds the 50,000 images).
_base_ = [
    '../_base_/datasets/cifar10_seed.py',
    '../_base_/schedules/lars_coslr-200e.py',
    '../_base_/default_runtime.py',
]

# Small-scale optimiser: the CIFAR baselines' LARS (lr 0.3 at batch 256,
# 10 warm-up epochs, cosine), so that SEED and its MoCo v3 baseline differ
# only in the loss. SEED's own SGD (lr 0.03) barely moves a CIFAR student
# in the one-epoch CPU test (kNN 35.29 against 50.90 with LARS, README).
optim_wrapper = dict(optimizer=dict(lr=0.3, weight_decay=1e-5, eta=0.02))
auto_scale_lr = dict(base_batch_size=256)

# The teacher was trained on ImageNet-normalised RGB inputs, and SEED feeds
# the same tensor to both networks (the Runner gives this to the model).
data_preprocessor = dict(
    mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375])
model = dict(
    type='SEED',
    queue_len=16384,
    student_temp=0.2,
    teacher_temp=1e-4,
    backbone=dict(type='CIFARResNet', depth=20),
    neck=dict(type='MoCoV2Neck', in_channels=64, hid_channels=64,
              out_channels=10, with_avg_pool=True),
    teacher=dict(
        type='FrozenTeacher',
        backbone=dict(type='CIFARResNet', depth=56),
        # global average pooling + the classifier (no norm, no activation)
        neck=dict(type='LinearNeck', in_channels=64, out_channels=10,
                  gap_dim=2, norm_cfg=None),
        checkpoint='{{$MMSSL_KD_WEIGHTS:../shared/weights}}/cifar10-resnet/'
        'resnet56-4bfd9763.th',
        source='state_dict',
        prefix_map={'module.linear.': 'neck.fc.', 'module.': 'backbone.'}))
