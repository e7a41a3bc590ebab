# Single-model baseline of the ResNet-20 DoGo student: CIFAR ResNet-20 with
# SimCLR, the recipe of simclr_resnet18-cifar_1xb256-adam-1000e_cifar10.py.
_base_ = ['./simclr_resnet18-cifar_1xb256-adam-1000e_cifar10.py']

model = dict(model1=dict(
    backbone=dict(_delete_=True, type='CIFARResNet', depth=20),
    neck=dict(in_channels=64)))
