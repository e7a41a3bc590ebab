# Single-model baseline of the DoGo peer: CIFAR ResNet-50 with SimCLR,
# the recipe of simclr_resnet18-cifar_1xb256-adam-1000e_cifar10.py.
_base_ = ['./simclr_resnet18-cifar_1xb256-adam-1000e_cifar10.py']

model = dict(model1=dict(
    backbone=dict(depth=50),
    neck=dict(in_channels=2048)))
