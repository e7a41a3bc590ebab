# Runtime settings of the detection transfer configs: MMDetection 3.x's
# (configs/_base_/default_runtime.py), plus SyncBN conversion when
# distributed. These configs run in the 'mmdet' scope and need .venv-det
# (tools/setup_det_env.sh).
default_scope = 'mmdet'

default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=50),
    param_scheduler=dict(type='ParamSchedulerHook'),
    checkpoint=dict(type='CheckpointHook', interval=1),
    sampler_seed=dict(type='DistSamplerSeedHook'),
    visualization=dict(type='DetVisualizationHook'))

env_cfg = dict(
    cudnn_benchmark=False,
    mp_cfg=dict(mp_start_method='fork', opencv_num_threads=0),
    dist_cfg=dict(backend='nccl'),
)

# The models use plain BN; a distributed run turns it into SyncBN, as in the
# MoCo / MMSelfSup detection benchmarks (stack.md, item 9).
sync_bn = 'torch'

vis_backends = [dict(type='LocalVisBackend')]
visualizer = dict(
    type='DetLocalVisualizer', vis_backends=vis_backends, name='visualizer')
log_processor = dict(type='LogProcessor', window_size=50, by_epoch=True)

log_level = 'INFO'
load_from = None
resume = False

# Checkpoint files you vouch for are loaded as full pickles; every other file
# goes through mmssl_kd's safe loader (mmssl_kd/compat.py).
trusted_checkpoints = []
