# The low-data regime: the recipe it inherits on a class-balanced 10 % of
# the ImageNet-1k training set (128 images per class at most), listed in
# a subset file. Write it once:
#   python tools/dataset_converters/make_subset.py data/imagenet \
#       --fraction 0.1 --out splits/imagenet_train_10pct_seed0.txt
_base_ = ['./glsd-geometric_swin-tiny-w7_8xb32-coslr-300e_in1k.py']

train_dataloader = dict(
    dataset=dict(subset_file='splits/imagenet_train_10pct_seed0.txt'))
