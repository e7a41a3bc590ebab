# The SimCLR baseline of the CIFAR-10 SD-SimCLR recipe (intermediate
# weight 0).
_base_ = ['./sdssl-simclr_vit-tiny-p4_1xb256-coslr-300e_cifar10.py']

model = dict(inter_weight=0.)
