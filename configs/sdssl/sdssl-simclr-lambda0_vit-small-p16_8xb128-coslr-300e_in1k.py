# The SimCLR baseline of SD-SimCLR (intermediate weight 0).
_base_ = ['./sdssl-simclr_vit-small-p16_8xb128-coslr-300e_in1k.py']

model = dict(inter_weight=0.)
