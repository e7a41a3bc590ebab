# DoGo with small CIFAR ResNets (He et al. 2016, option-A shortcuts, 64-d
# features): ResNet-20 (0.27 M parameters, model 1) with a ResNet-56 peer
# (0.85 M). The rest as the ResNet-18 + ResNet-50 recipe.
_base_ = ['./dogo_resnet18-cifar_resnet50-cifar_1xb256-adam-1000e_cifar10.py']

model = dict(
    model1=dict(backbone=dict(_delete_=True, type='CIFARResNet', depth=20),
                neck=dict(in_channels=64)),
    model2=dict(backbone=dict(_delete_=True, type='CIFARResNet', depth=56),
                neck=dict(in_channels=64)))
