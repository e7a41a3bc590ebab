# The ablation without the T-Head feature search (the cross-distillation of
# the DINO heads and the T-Heads' self-distillation stay); otherwise the
# recipe it inherits.
_base_ = ['./mokd_resnet50_vit-small-p16_16xb16-coslr-100e_in1k.py']

model = dict(search=False)
