# CPU demo of Global-Local Self-Distillation: the DINO demo
# configs/selfsup/dino_vit-mini-p4_1xb256-coslr-5e_cifar10-demo.py (96-d,
# 6 blocks, 4 px patches; 195 iterations) plus a dense head on the patch
# tokens (256-64-1024, smaller than the global head to keep the CPU run
# short) and the region loss with geometric matching; 0.5 global + 0.5
# local. Plain DINO for this comparison is that demo itself.
_base_ = ['../selfsup/dino_vit-mini-p4_1xb256-coslr-5e_cifar10-demo.py']

model = dict(
    type='GLSD',
    backbone=dict(out_type='raw'),
    dense_neck=dict(_base_.model.neck, hidden_channels=256,
                    bottleneck_channels=64),
    local_loss=dict(_base_.model.loss, type='LocalDINOLoss'),
    downsampling_rate=4)  # matching, hinge, weights: GLSD's defaults
