# The MoCo v3 baseline of the ViT-B recipe (intermediate weight 0).
_base_ = ['./sdssl-mocov3_vit-base-p16_8xb128-coslr-300e_in1k.py']

model = dict(inter_weight=0.)
