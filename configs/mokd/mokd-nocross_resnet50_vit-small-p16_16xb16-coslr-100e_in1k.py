# The ablation without cross-distillation: two independent DINOs (no T-Heads,
# lambda 0, no search) with the recipe it inherits otherwise.
_base_ = ['./mokd_resnet50_vit-small-p16_16xb16-coslr-100e_in1k.py']

model = dict(cnn=dict(head=None), vit=dict(head=None), lambdas=(0., 0.),
             search=False)
