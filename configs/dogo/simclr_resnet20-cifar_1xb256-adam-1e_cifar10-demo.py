# CPU comparison, baseline part: the DoGo demo's ResNet-20 alone with
# SimCLR, same code, views and optimizer, for the same 195 iterations.
_base_ = [
    './simclr_resnet20-cifar_1xb256-adam-1000e_cifar10.py',
    '../_base_/datasets/cifar10_knn-demo.py',
]

train_cfg = dict(max_epochs=1)
train_dataloader = dict(num_workers=2)
custom_hooks = [dict(_base_.knn_demo_hook, before_train=True)]
default_hooks = dict(logger=dict(interval=20))
