# DoGo with the standard KL ('batchmean': the sum over each row, mean over
# the batch). 'mean' divides that by the batch size B = 256, so lambdas
# (100 / 256, 1 / 256) give exactly the official loss and gradients.
_base_ = ['./dogo_resnet18-cifar_resnet50-cifar_1xb256-adam-1000e_cifar10.py']

model = dict(kd_reduction='batchmean', lambdas=(100. / 256, 1. / 256))
