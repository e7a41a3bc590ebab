# Linear probe of a ResNet-50 on Imagenette (10 ImageNet classes,
# data/imagenette/{train,val}): the ImageNet protocol
# (../imagenet/resnet50_linear-probe_...: MoCo's main_lincls.py, SGD lr 30,
# steps at 60 and 80, 100 epochs) on one GPU with batch 256.
_base_ = ['../imagenet/resnet50_linear-probe_8xb32-steplr-100e_in1k.py']

model = dict(data_preprocessor=dict(num_classes=10),
             head=dict(num_classes=10))

train_dataloader = dict(batch_size=256,
                        dataset=dict(data_root='data/imagenette'))
val_dataloader = dict(dataset=dict(data_root='data/imagenette'))
test_dataloader = val_dataloader
