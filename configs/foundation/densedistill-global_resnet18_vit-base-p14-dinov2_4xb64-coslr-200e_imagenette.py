# The global + dense recipe with the global term only: SEED with this
# teacher's [CLS] embedding; the dense head is frozen and unused.
_base_ = ['./densedistill-global-dense_resnet18_vit-base-p14-dinov2_4xb64-coslr-200e_imagenette.py']

model = dict(dense_weight=0.)
