# SEED (Fang et al., ICLR 2021): a ResNet-18 student with SEED's MLP head
# (Linear(512, 512)-ReLU-Linear(512, 128), no BN) learns the similarity
# distribution of a frozen MoCo v2 ResNet-50 teacher over a queue of 65,536
# teacher embeddings; tau_S = 0.2, tau_T = 1e-4 (official defaults).
#
# Teacher weights: the official MoCo v2 checkpoint layout
# (`module.encoder_q.*`, projector `module.encoder_q.fc.{0,2}`), e.g.
# moco_v2_200ep_pretrain.pth.tar, under $MMSSL_KD_WEIGHTS/mocov2/.
model = dict(
    type='SEED',
    queue_len=65536,
    student_temp=0.2,
    teacher_temp=1e-4,
    backbone=dict(type='ResNet', depth=18, norm_cfg=dict(type='BN')),
    neck=dict(type='MoCoV2Neck', in_channels=512, hid_channels=512,
              out_channels=128, with_avg_pool=True),
    teacher=dict(
        type='FrozenTeacher',
        backbone=dict(type='ResNet', depth=50, norm_cfg=dict(type='BN')),
        neck=dict(type='MoCoV2Neck', in_channels=2048, hid_channels=2048,
                  out_channels=128, with_avg_pool=True),
        checkpoint='{{$MMSSL_KD_WEIGHTS:../shared/weights}}/mocov2/'
        'moco_v2_200ep_pretrain.pth.tar',
        source='state_dict',
        prefix_map={
            'module.encoder_q.fc.': 'neck.mlp.',
            'module.encoder_q.': 'backbone.',
            'module.encoder_k.': None,
            'module.queue': None,
        }))
