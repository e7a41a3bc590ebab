# Mask R-CNN R50-C4 fine-tuned on COCO 2017 (boxes and masks) from an
# exported backbone ($BACKBONE, see README.md): 8 GPUs x 2 images, 12 epochs.
_base_ = [
    './_base_/models/mask-rcnn_r50-c4.py',
    './_base_/datasets/coco_instance.py',
    './_base_/schedules/schedule_1x.py', './_base_/default_runtime.py'
]
