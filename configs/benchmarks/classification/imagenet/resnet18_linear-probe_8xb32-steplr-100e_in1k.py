# Linear probe of a ResNet-18 (SEED's and DoGo's ImageNet students) on
# ImageNet-1k: the ResNet-50 protocol (resnet50_linear-probe_...: MoCo's
# main_lincls.py, SGD lr 30, steps at 60 and 80, 100 epochs) on the 512-d
# pooled features.
_base_ = ['./resnet50_linear-probe_8xb32-steplr-100e_in1k.py']

model = dict(backbone=dict(depth=18), head=dict(in_channels=512))
