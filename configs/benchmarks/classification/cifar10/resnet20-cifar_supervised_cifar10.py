# Supervised CIFAR ResNet-20 on CIFAR-10: the ResNet-56 recipe with 3
# blocks per stage. Test the shared weights (../README.md):
#   python tools/model_converters/cifar_resnet_to_mmpretrain.py \
#       ../shared/weights/cifar10-resnet/resnet20-12fca82f.th \
#       work_dirs/teachers/resnet20_cifar10.pth
#   python tools/test.py THIS_CONFIG work_dirs/teachers/resnet20_cifar10.pth
_base_ = ['./resnet56-cifar_supervised_cifar10.py']

model = dict(backbone=dict(depth=20))
