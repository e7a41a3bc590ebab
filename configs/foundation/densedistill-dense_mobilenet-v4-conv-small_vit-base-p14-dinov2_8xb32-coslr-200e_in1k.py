# The global + dense recipe with the dense term only: the student's map
# learns the teacher's patch map; SEED's head is frozen, the queue unused.
_base_ = ['./densedistill-global-dense_mobilenet-v4-conv-small_vit-base-p14-dinov2_8xb32-coslr-200e_in1k.py']

model = dict(global_weight=0.)
