# Full fine-tuning of a pre-trained CIFAR ResNet-20 on CIFAR-10: every
# layer trains (BN too), from the linear-probe config's backbone
# (resnet20-cifar_linear-probe_...; same data, normalisation and
# `init_cfg`); SGD lr 0.05, momentum 0.9, weight decay 5e-4, cosine over
# 100 epochs, batch 256, crop + flip. The learning rate is half the
# from-scratch CIFAR recipe's 0.1, as usual when starting from pre-trained
# weights.
_base_ = ['./resnet20-cifar_linear-probe_1xb256-coslr-100e_cifar10.py']

model = dict(backbone=dict(frozen_stages=-1))

optim_wrapper = dict(
    optimizer=dict(type='SGD', lr=0.05, momentum=0.9, weight_decay=5e-4))
