# The ablation without the T-Head feature search (the cross-distillation of
# the DINO heads and the T-Heads' self-distillation stay); otherwise the
# recipe it inherits.
_base_ = ['./mokd_resnet18-cifar_vit-tiny-p4_1xb256-coslr-100e_cifar10.py']

model = dict(search=False)
