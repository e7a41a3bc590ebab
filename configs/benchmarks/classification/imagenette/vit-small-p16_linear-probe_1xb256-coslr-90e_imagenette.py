# Linear probe of a ViT-S/16 on Imagenette (10 ImageNet classes,
# data/imagenette/{train,val}): the ImageNet MoCo v3 protocol
# (../imagenet/vit-small-p16_linear-probe_...: SGD, cosine, 90 epochs) on
# one GPU with batch 256, lr 3 (12 x 256 / 1024).
_base_ = ['../imagenet/vit-small-p16_linear-probe_8xb128-coslr-90e_in1k.py']

model = dict(data_preprocessor=dict(num_classes=10),
             head=dict(num_classes=10))

train_dataloader = dict(batch_size=256,
                        dataset=dict(data_root='data/imagenette'))
val_dataloader = dict(dataset=dict(data_root='data/imagenette'))
test_dataloader = val_dataloader
optim_wrapper = dict(optimizer=dict(lr=3.))
auto_scale_lr = dict(base_batch_size=256)
