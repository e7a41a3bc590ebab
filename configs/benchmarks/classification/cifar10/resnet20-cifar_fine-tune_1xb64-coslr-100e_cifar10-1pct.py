# Semi-supervised fine-tuning of a pre-trained CIFAR ResNet-20 on 1 % of the
# CIFAR-10 labels (500 images, 50 per class; splits/, written by
#   python tools/dataset_converters/make_subset.py data/cifar10 \
#       --fraction 0.01 --seed 0 --out splits/cifar10_train_1pct_seed0.txt),
# tested on the whole test set. MMSelfSup's ImageNet 1 % / 10 % protocol
# scaled to CIFAR: every layer trains, SGD lr 0.01, momentum 0.9, weight
# decay 5e-4; batch 64 and 100 epochs (800 iterations); cosine schedule.
# The classifier trains at 10x (lr 0.1, the CIFAR linear probe's), not
# MMSelfSup's 100x: lr 1 made the loss jump to 36 on a SEED ResNet-20.
_base_ = ['./resnet20-cifar_fine-tune_1xb256-coslr-100e_cifar10.py']

train_dataloader = dict(
    batch_size=64,
    dataset=dict(subset_file='splits/cifar10_train_1pct_seed0.txt'))

optim_wrapper = dict(
    optimizer=dict(lr=0.01),
    paramwise_cfg=dict(custom_keys={'head': dict(lr_mult=10)}))
auto_scale_lr = dict(base_batch_size=64)
