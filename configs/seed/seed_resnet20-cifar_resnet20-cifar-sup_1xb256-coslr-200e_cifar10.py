# Ablation: the teacher is the supervised CIFAR ResNet-20 (81.0 % top-1),
# the same size as the student, instead of the ResNet-56 (83.2 %).
_base_ = ['./seed_resnet20-cifar_resnet56-cifar-sup_1xb256-coslr-200e_cifar10.py']

model = dict(
    teacher=dict(
        backbone=dict(depth=20),
        checkpoint='{{$MMSSL_KD_WEIGHTS:../shared/weights}}/cifar10-resnet/'
        'resnet20-12fca82f.th'))
