# The low-data regime: the recipe it inherits on a class-balanced 10 % of
# the CIFAR-10 training set (500 images per class), listed in
# splits/cifar10_train_10pct_seed0.txt (written by
# tools/dataset_converters/make_subset.py data/cifar10 --fraction 0.1).
_base_ = ['./glsd-geometric_vit-tiny-p4_1xb256-coslr-100e_cifar10.py']

train_dataloader = dict(
    dataset=dict(subset_file='splits/cifar10_train_10pct_seed0.txt'))
