# Semi-supervised fine-tuning of a pre-trained CIFAR ResNet-20 on 10 % of
# the CIFAR-10 labels (5,000 images; splits/, written by
#   python tools/dataset_converters/make_subset.py data/cifar10 \
#       --fraction 0.1 --seed 0 --out splits/cifar10_train_10pct_seed0.txt):
# the 1 % recipe (SGD lr 0.01, classifier at 10x, weight decay 5e-4,
# cosine) with batch 256 over 100 epochs (2,000 iterations).
_base_ = ['./resnet20-cifar_fine-tune_1xb64-coslr-100e_cifar10-1pct.py']

train_dataloader = dict(
    batch_size=256,
    dataset=dict(subset_file='splits/cifar10_train_10pct_seed0.txt'))
auto_scale_lr = dict(base_batch_size=256)
