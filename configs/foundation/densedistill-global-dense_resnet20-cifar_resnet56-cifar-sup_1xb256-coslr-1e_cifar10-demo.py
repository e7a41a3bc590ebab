# CPU demo of dense distillation with SEED's global objective: the dense-only
# demo plus SEED's similarity-distribution loss over the queue (the main
# job's SEED demo), the two terms weighted 1 : 1.
_base_ = [
    './densedistill-dense_resnet20-cifar_resnet56-cifar-sup_1xb256-coslr-1e_'
    'cifar10-demo.py',
]

model = dict(global_weight=1., dense_weight=1.)
