# DINO ViT-S/16 on ImageNet-1k with its multi-crop made on the device: the
# dataloader decodes and resizes (imagenet_ssl.py, `gpu_aug_train_pipeline`),
# and GPUMultiViewAugment makes the CPU recipe's groups on the GPU: global
# crop 1 and global crop 2 (224 px, scale 0.4-1; view_pipeline1 /
# view_pipeline2) and 8 local crops (96 px, scale 0.05-0.4;
# simclr_view_pipeline). No crop boxes are made, so this path suits DINO, not
# GLSD-geometric.
_base_ = ['./dino_vit-small-p16_8xb32-coslr-300e_in1k.py']

train_dataloader = dict(dataset=dict(pipeline=_base_.gpu_aug_train_pipeline))
gpu_global_crop = dict(_base_.dino_global_crop, type='RandomResizedCrop')
gpu_local_crop = dict(_base_.dino_local_crop, type='RandomResizedCrop')
data_preprocessor = dict(
    type='GPUMultiViewAugment',
    num_views=[1, 1, 8],
    transforms=[[gpu_global_crop] + _base_.view_pipeline1[1:],
                [gpu_global_crop] + _base_.view_pipeline2[1:],
                [gpu_local_crop] + _base_.simclr_view_pipeline[1:]])
