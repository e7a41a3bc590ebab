# Ablation: a queue of 4,096 teacher embeddings instead of 16,384.
_base_ = ['./seed_resnet20-cifar_resnet56-cifar-sup_1xb256-coslr-200e_cifar10.py']

model = dict(queue_len=4096)
