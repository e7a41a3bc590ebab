# The single-model baseline of the DoGo recipes: the CIFAR ResNet-18 alone
# with SimCLR, through the same code (DoGo without a peer): same projector,
# NT-Xent at T = 0.5, augmentation, one forward per view, Adam 3e-4,
# batch 256, 1000 epochs.
_base_ = ['./dogo_resnet18-cifar_resnet50-cifar_1xb256-adam-1000e_cifar10.py']

model = dict(model2=None)
train_dataloader = dict(dataset=dict(
    pipeline=_base_.baseline_train_pipeline))
custom_hooks = [dict(_base_.custom_hooks[0], parts=('backbone', ))]
