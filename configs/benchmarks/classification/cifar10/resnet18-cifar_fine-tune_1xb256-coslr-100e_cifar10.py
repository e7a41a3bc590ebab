# Full fine-tuning of a pre-trained CIFAR ResNet-18 on CIFAR-10: the
# ResNet-20 recipe (resnet20-cifar_fine-tune_...: SGD lr 0.05, weight
# decay 5e-4, cosine, 100 epochs) on the ResNet-18 linear-probe model.
_base_ = ['./resnet18-cifar_linear-probe_1xb256-coslr-100e_cifar10.py']

model = dict(backbone=dict(frozen_stages=-1, norm_eval=False))

optim_wrapper = dict(
    optimizer=dict(type='SGD', lr=0.05, momentum=0.9, weight_decay=5e-4))
