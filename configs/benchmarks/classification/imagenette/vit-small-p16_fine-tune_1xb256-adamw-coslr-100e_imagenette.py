# Full fine-tuning of a pre-trained ViT-S/16 on Imagenette (10 ImageNet
# classes, data/imagenette/{train,val}): the ImageNet BEiT / MAE recipe
# (../imagenet/vit-small-p16_fine-tune_...: AdamW, layer decay 0.75,
# RandAugment, Mixup / CutMix, 100 epochs) on one GPU with batch 256,
# lr 5e-4 (5e-4 x 256 / 256).
_base_ = ['../imagenet/vit-small-p16_fine-tune_8xb128-adamw-coslr-100e_in1k.py']

model = dict(data_preprocessor=dict(num_classes=10),
             head=dict(num_classes=10))

train_dataloader = dict(batch_size=256,
                        dataset=dict(data_root='data/imagenette'))
val_dataloader = dict(dataset=dict(data_root='data/imagenette'))
test_dataloader = val_dataloader
optim_wrapper = dict(optimizer=dict(lr=5e-4))
auto_scale_lr = dict(base_batch_size=256)
