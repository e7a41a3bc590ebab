# Plain DINO on the backbone, crops and schedule of the geometric recipe it
# inherits: the global term alone, at weight 1, without the dense head.
_base_ = ['./glsd-geometric_vit-small-p16_4xb64-coslr-300e_imagenette.py']

model = dict(global_weight=1., local_weight=0., dense_neck=None,
             local_loss=None)
