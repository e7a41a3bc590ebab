# The BYOL baseline of the CIFAR-10 SD-BYOL recipe (intermediate weight 0).
_base_ = ['./sdssl-byol_vit-tiny-p4_1xb256-coslr-300e_cifar10.py']

model = dict(inter_weight=0.)
