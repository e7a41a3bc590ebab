# The ablation without cross-distillation: two independent DINOs (no T-Heads,
# lambda 0, no search) with the recipe it inherits otherwise.
_base_ = ['./mokd_resnet18-cifar_vit-tiny-p4_1xb256-coslr-100e_cifar10.py']

model = dict(cnn=dict(head=None), vit=dict(head=None), lambdas=(0., 0.),
             search=False)
