# Semi-supervised fine-tuning of a pre-trained ResNet-18 on 1 % of the
# ImageNet-1k labels, MMSelfSup's protocol: every layer trains, SGD lr 0.01
# with the classifier at 100x, momentum 0.9, weight decay 5e-4, batch 256,
# 20 epochs, lr x0.1 at epochs 12 and 16; tested on the whole val split.
# The labelled images are a deterministic, class-balanced 1 % of train:
#   python tools/dataset_converters/make_subset.py data/imagenet \
#       --fraction 0.01 --seed 0 \
#       --out splits/imagenet_train_1pct_seed0.txt
_base_ = ['./resnet18_linear-probe_8xb32-steplr-100e_in1k.py']

model = dict(backbone=dict(frozen_stages=-1, norm_eval=False))

train_dataloader = dict(
    batch_size=64,
    dataset=dict(subset_file='splits/imagenet_train_1pct_seed0.txt'))

optim_wrapper = dict(
    optimizer=dict(type='SGD', lr=0.01, momentum=0.9, weight_decay=5e-4),
    paramwise_cfg=dict(custom_keys={'head': dict(lr_mult=100)}))
param_scheduler = dict(milestones=[12, 16])
train_cfg = dict(max_epochs=20, val_interval=1)
default_hooks = dict(checkpoint=dict(interval=1))
