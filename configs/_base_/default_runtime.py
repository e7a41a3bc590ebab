# Runtime settings shared by every mmssl_kd recipe.
default_scope = 'mmssl_kd'

# 'CheckpointHook' here is mmssl_kd's: each checkpoint and last_checkpoint is
# written to a temporary file and renamed, and old ones are deleted only
# after the new one is complete (mmssl_kd/engine/hooks/checkpoint_hook.py).
# 'EpochBasedTrainLoop' in the schedules is mmssl_kd's as well: each
# sample's augmentations are seeded from (seed, epoch, rank, index) and the
# main process from (seed, iteration), so a resumed run, also from a
# mid-epoch iter_N.pth, goes on exactly as the uninterrupted one, whatever
# num_workers and persistent_workers (mmssl_kd/engine/loops.py).
# Every `optim_wrapper` is mmssl_kd's too: a NaN/inf loss stops the run
# before the step (nonfinite_loss='stop'), or set nonfinite_loss='skip'
# (with max_skips=10) in it to skip such steps (mmssl_kd/engine/
# optim_wrappers.py).
default_hooks = dict(
    runtime_info=dict(type='RuntimeInfoHook'),
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=10),
    param_scheduler=dict(type='ParamSchedulerHook'),
    checkpoint=dict(type='CheckpointHook', interval=1, max_keep_ckpts=3),
    sampler_seed=dict(type='DistSamplerSeedHook'),
)

# Speed switches (mmssl_kd/engine/speed.py; measurements in
# docs/performance.md), applied by the project's Runner before DDP wraps the
# model. channels_last: NHWC convolutions, the same numbers up to rounding
# (on: 1.15-1.27x faster CNN steps on CPU, no change for ViTs).
# compile_backbones: torch.compile of every backbone (True or a dict of
# torch.compile arguments), not of the whole training step (off: minutes of
# compiling, and no gain for the CPU ViT demos). Mixed precision is
# `tools/train.py CONFIG --amp` (bf16).
speed_cfg = dict(channels_last=True, compile_backbones=False)

env_cfg = dict(
    cudnn_benchmark=False,
    mp_cfg=dict(mp_start_method='fork', opencv_num_threads=0),
    dist_cfg=dict(backend='nccl'),
)

log_processor = dict(window_size=10)

# Logging backends (docs/logging.md): scalars.json and the log file. Add
# TensorBoard, W&B or MLflow in a child config with either
#   vis_backends = [dict(type='LocalVisBackend'),
#                   dict(type='TensorboardVisBackend')]
# or visualizer = dict(vis_backends=[...]); not both.
visualizer = dict(type='Visualizer',
                  vis_backends=[dict(type='LocalVisBackend')])

log_level = 'INFO'
load_from = None
resume = False

randomness = dict(seed=0, deterministic=False)

# Checkpoint files you vouch for: these (and only these) are loaded as full
# pickles, which runs any code inside them; every other file goes through
# the safe loader (see mmssl_kd/compat.py). Same as --trust-checkpoint PATH.
trusted_checkpoints = []
