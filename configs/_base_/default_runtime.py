# Runtime settings shared by every mmssl_kd recipe.
default_scope = 'mmssl_kd'

default_hooks = dict(
    runtime_info=dict(type='RuntimeInfoHook'),
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=10),
    param_scheduler=dict(type='ParamSchedulerHook'),
    checkpoint=dict(type='CheckpointHook', interval=1, max_keep_ckpts=3),
    sampler_seed=dict(type='DistSamplerSeedHook'),
)

env_cfg = dict(
    cudnn_benchmark=False,
    mp_cfg=dict(mp_start_method='fork', opencv_num_threads=0),
    dist_cfg=dict(backend='nccl'),
)

log_processor = dict(window_size=10)

vis_backends = [dict(type='LocalVisBackend')]
visualizer = dict(type='Visualizer', vis_backends=vis_backends)

log_level = 'INFO'
load_from = None
resume = False

randomness = dict(seed=0, deterministic=False)

# Checkpoint files you vouch for: these (and only these) are loaded as full
# pickles, which runs any code inside them; every other file goes through
# the safe loader (see mmssl_kd/compat.py). Same as --trust-checkpoint PATH.
trusted_checkpoints = []
