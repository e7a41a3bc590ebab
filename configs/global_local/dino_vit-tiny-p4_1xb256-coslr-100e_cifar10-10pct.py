# The low-data regime for plain DINO: the recipe it inherits on the
# class-balanced 10 % of CIFAR-10 in splits/cifar10_train_10pct_seed0.txt.
_base_ = ['../selfsup/dino_vit-tiny-p4_1xb256-coslr-100e_cifar10.py']

train_dataloader = dict(
    dataset=dict(subset_file='splits/cifar10_train_10pct_seed0.txt'))
