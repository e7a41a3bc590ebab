# DoGo (official `dogo` branch): two SimCLR peers, CIFAR ResNet-18 (model 1,
# the one evaluated) and CIFAR ResNet-50 (model 2); 3x3 stem, no max-pool.
# Projector of each peer: Linear(d, 512, no bias)-BN-ReLU-Linear(512, 128).
# KL at tau_kd 0.1 with F.kl_div's default 'mean' reduction and the
# official weights lambda_1 = 100, lambda_2 = 1; NT-Xent at T = 0.5.
# Plain BN, per GPU, as the official DataParallel (each replica normalises
# its share of the batch); `--cfg-options sync_bn=torch` would sync it.
dogo_neck = dict(
    type='NonLinearNeck', in_channels=512, hid_channels=512,
    out_channels=128, num_layers=2, with_bias=False, with_last_bn=False,
    with_last_bias=True, with_avg_pool=True, norm_cfg=dict(type='BN1d'))

model = dict(
    type='DoGo',
    model1=dict(
        backbone=dict(type='ResNet_CIFAR', depth=18,
                      norm_cfg=dict(type='BN'), zero_init_residual=False),
        neck=dogo_neck),
    model2=dict(
        backbone=dict(type='ResNet_CIFAR', depth=50,
                      norm_cfg=dict(type='BN'), zero_init_residual=False),
        neck=dict(dogo_neck, in_channels=2048)),
    lambdas=(100., 1.),
    tau_kd=0.1,
    temperature=0.5,
    kd_reduction='mean')

# one forward per peer per view; the two peers' DDP wrappers are separate
model_wrapper_cfg = dict(type='MMSeparateDistributedDataParallel')
