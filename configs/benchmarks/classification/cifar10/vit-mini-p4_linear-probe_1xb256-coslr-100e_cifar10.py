# Linear probe of the CPU demos' ViT (96-d, 6 blocks, 3 heads, 4 px patches
# on 32 px images): configs/selfsup/dino_vit-mini-p4_..._cifar10-demo.py,
# the GLSD and SDSSL vit-mini demos and MOKD's demo ViT (its `peer`). The
# ViT-Tiny/4 protocol (vit-tiny-p4_linear-probe_...: the frozen [CLS] token
# after the final LayerNorm, a 10-way linear classifier, SGD lr 0.1, cosine,
# 100 epochs); shrink it for a demo with
#   python tools/benchmarks/run_benchmarks.py PRETRAIN_CONFIG CHECKPOINT \
#       --work-dir DIR --linear THIS_CONFIG --epochs 1
_base_ = ['./vit-tiny-p4_linear-probe_1xb256-coslr-100e_cifar10.py']

model = dict(
    backbone=dict(arch=dict(_delete_=True, embed_dims=96, num_layers=6,
                            num_heads=3, feedforward_channels=384),
                  frozen_stages=6),
    head=dict(in_channels=96))
