# DoGo as in the official template (config/template.yaml): a SimCLR
# ResNet-18 (model 1) with a SimSiam ResNet-18 peer (model 2), each on its
# own augmentation. The SimSiam peer's projector is 3 x (Linear 2048 + BN)
# with ReLU between, its predictor Linear(2048, 512, no bias)-BN-ReLU-
# Linear(512, 2048); its own similarity matrix is that of its predictor
# outputs, and model 1 distils from those.
_base_ = ['./dogo_resnet18-cifar_resnet50-cifar_1xb256-adam-1000e_cifar10.py']

model = dict(model2=dict(
    backbone=dict(depth=18),
    neck=dict(_delete_=True, type='NonLinearNeck', in_channels=512,
              hid_channels=2048, out_channels=2048, num_layers=3,
              with_bias=True, with_last_bn=True, with_last_bias=True,
              with_avg_pool=True, norm_cfg=dict(type='BN1d')),
    predictor=dict(type='NonLinearNeck', in_channels=2048, hid_channels=512,
                   out_channels=2048, num_layers=2, with_bias=False,
                   with_last_bn=False, with_last_bias=True,
                   with_avg_pool=False, norm_cfg=dict(type='BN1d'))))

train_dataloader = dict(dataset=dict(pipeline=[
    dict(type='LoadImageFromFile'),
    dict(type='MultiView', num_views=[2, 2],
         transforms=[_base_.simclr_view, _base_.simsiam_view]),
    dict(type='PackInputs'),
]))
