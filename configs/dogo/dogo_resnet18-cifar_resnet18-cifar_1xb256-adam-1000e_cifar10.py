# DoGo with two CIFAR ResNet-18 peers (same architecture, different
# initialisations and views); the rest as the ResNet-18 + ResNet-50 recipe.
_base_ = ['./dogo_resnet18-cifar_resnet50-cifar_1xb256-adam-1000e_cifar10.py']

model = dict(model2=dict(
    backbone=dict(depth=18),
    neck=dict(in_channels=512)))
