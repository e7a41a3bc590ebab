# The MoCo v3 baseline of SD-MoCo v3: the same config with the intermediate
# weight at 0 (the paper's baseline; per-block heads still train, the
# backbone learns from its last block only).
_base_ = ['./sdssl-mocov3_vit-small-p16_8xb128-coslr-300e_in1k.py']

model = dict(inter_weight=0.)
