# CPU comparison, DoGo part: one epoch (195 iterations of batch 256) of the
# ResNet-20 + ResNet-56 recipe, 2 data workers; the online kNN of both
# peers runs before training and at the end (10k-image class-balanced
# bank, 10k test images). Its baseline:
# simclr_resnet20-cifar_1xb256-adam-1e_cifar10-demo.py.
_base_ = [
    './dogo_resnet20-cifar_resnet56-cifar_1xb256-adam-1000e_cifar10.py',
    '../_base_/datasets/cifar10_knn-demo.py',
]

train_cfg = dict(max_epochs=1)
train_dataloader = dict(num_workers=2)
custom_hooks = [dict(_base_.knn_demo_hook, before_train=True,
                     parts=('backbone', 'peer'))]
default_hooks = dict(logger=dict(interval=20))
