# CPU demo of dense distillation, dense only: the main job's SEED demo
# (one epoch, ResNet-20 student, supervised CIFAR ResNet-56 teacher standing
# in for a foundation model), with the teacher's last-stage map (64 x 8 x 8)
# as the target of the student's last-stage map through a 1x1 projection,
# by cosine distance per location; no global term.
_base_ = [
    '../seed/seed_resnet20-cifar_resnet56-cifar-sup_1xb256-coslr-1e_'
    'cifar10-demo.py',
]

model = dict(
    type='DenseDistill',
    dense_neck=dict(type='DenseProjector', in_channels=64, out_channels=64),
    dense_loss=dict(type='DenseFeatureLoss', cosine_weight=1.0),
    global_weight=0.,
    dense_weight=1.)
