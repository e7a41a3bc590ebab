# CPU demo of the ablation without cross-distillation: two independent
# DINOs (no T-Heads, lambda 0, no search), otherwise the MOKD demo it
# inherits (the same initial weights of both backbones and DINO heads).
_base_ = ['./mokd_resnet20-cifar_vit-mini-p4_1xb256-coslr-2e_cifar10-demo.py']

model = dict(cnn=dict(head=None), vit=dict(head=None), lambdas=(0., 0.),
             search=False)
