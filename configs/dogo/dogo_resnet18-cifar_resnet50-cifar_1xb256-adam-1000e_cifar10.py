# DoGo, CIFAR-10: CIFAR ResNet-18 (model 1, evaluated) learns together with
# a CIFAR ResNet-50 peer. Official recipe: SimCLR peers (NT-Xent T = 0.5),
# similarity KL at tau_kd = 0.1 ('mean' reduction, lambdas 100 and 1), one
# Adam per peer (lr 3e-4, wd 1e-6, constant), batch 256, 1000 epochs.
_base_ = [
    '../_base_/models/dogo_resnet18-cifar_resnet50-cifar.py',
    '../_base_/datasets/cifar10_dogo.py',
    '../_base_/schedules/adam_1000e_dogo.py',
    '../_base_/default_runtime.py',
]

train_dataloader = dict(batch_size=256)
