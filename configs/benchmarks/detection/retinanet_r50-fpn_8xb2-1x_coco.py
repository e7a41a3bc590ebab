# RetinaNet R50-FPN fine-tuned on COCO 2017 from an exported backbone
# ($BACKBONE, see README.md): 8 GPUs x 2 images, 12 epochs, lr 0.01 (as
# MMDetection's retinanet_r50_fpn_1x_coco).
_base_ = [
    './_base_/models/retinanet_r50-fpn.py',
    './_base_/datasets/coco_detection.py',
    './_base_/schedules/schedule_1x.py', './_base_/default_runtime.py'
]

optim_wrapper = dict(optimizer=dict(lr=0.01))
