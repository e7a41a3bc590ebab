# CPU demo, baseline part: the SD-MoCo v3 demo with the intermediate weight
# at 0 (plain MoCo v3 on the same network, data, schedule and seed).
_base_ = ['./sdssl-mocov3_vit-mini-p4_1xb256-coslr-5e_cifar10-demo.py']

model = dict(inter_weight=0.)
