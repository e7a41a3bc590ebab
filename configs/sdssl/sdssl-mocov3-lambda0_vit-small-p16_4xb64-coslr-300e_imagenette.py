# The MoCo v3 baseline of the Imagenette recipe (intermediate weight 0).
_base_ = ['./sdssl-mocov3_vit-small-p16_4xb64-coslr-300e_imagenette.py']

model = dict(inter_weight=0.)
