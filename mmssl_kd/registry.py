"""Child registries of MMPretrain's, under the scope ``mmssl_kd``.

Configs set ``default_scope = 'mmssl_kd'``; a name is looked up here first,
then in MMPretrain's and MMEngine's registries.  ``'mmpretrain.Name'`` reaches
the parent's class where this project registers a class of the same name
(for instance the numpy-2-safe ``ColorJitter``).
"""
from mmengine.registry import Registry
from mmpretrain import registry as mmpretrain_registry

SCOPE = 'mmssl_kd'


def _child(parent: Registry, location: str) -> Registry:
    return Registry(parent.name, parent=parent, scope=SCOPE,
                    locations=[f'{SCOPE}.{location}'])


RUNNERS = _child(mmpretrain_registry.RUNNERS, 'engine')
RUNNER_CONSTRUCTORS = _child(mmpretrain_registry.RUNNER_CONSTRUCTORS, 'engine')
LOOPS = _child(mmpretrain_registry.LOOPS, 'engine')
HOOKS = _child(mmpretrain_registry.HOOKS, 'engine')
LOG_PROCESSORS = _child(mmpretrain_registry.LOG_PROCESSORS, 'engine')
OPTIMIZERS = _child(mmpretrain_registry.OPTIMIZERS, 'engine')
OPTIM_WRAPPERS = _child(mmpretrain_registry.OPTIM_WRAPPERS, 'engine')
OPTIM_WRAPPER_CONSTRUCTORS = _child(
    mmpretrain_registry.OPTIM_WRAPPER_CONSTRUCTORS, 'engine')
PARAM_SCHEDULERS = _child(mmpretrain_registry.PARAM_SCHEDULERS, 'engine')
DATASETS = _child(mmpretrain_registry.DATASETS, 'datasets')
DATA_SAMPLERS = _child(mmpretrain_registry.DATA_SAMPLERS, 'datasets')
TRANSFORMS = _child(mmpretrain_registry.TRANSFORMS, 'datasets')
MODELS = _child(mmpretrain_registry.MODELS, 'models')
MODEL_WRAPPERS = _child(mmpretrain_registry.MODEL_WRAPPERS, 'models')
WEIGHT_INITIALIZERS = _child(mmpretrain_registry.WEIGHT_INITIALIZERS, 'models')
BATCH_AUGMENTS = _child(mmpretrain_registry.BATCH_AUGMENTS, 'models')
TASK_UTILS = _child(mmpretrain_registry.TASK_UTILS, 'models')
METRICS = _child(mmpretrain_registry.METRICS, 'evaluation')
EVALUATORS = _child(mmpretrain_registry.EVALUATORS, 'evaluation')
VISUALIZERS = _child(mmpretrain_registry.VISUALIZERS, 'engine')
VISBACKENDS = _child(mmpretrain_registry.VISBACKENDS, 'engine')

#: Every class registered in this scope under a name that an upstream
#: registry (MMPretrain's, MMEngine's, MMCV's transforms) already holds,
#: with why: configs that write the plain name get this project's class,
#: ``'mmpretrain.Name'`` / ``'mmengine.Name'`` reaches the original.  Keys
#: are (registry in this module, name).  ``tests/test_registry.py`` checks
#: that this is exactly the set of shadowed names and that the config guide
#: (docs/config_guide.md, "Names the scope shadows") lists the same.
SHADOWED = {
    ('RUNNERS', 'Runner'):
        'applies speed_cfg, builds device-resident dataloaders, and records '
        'and checks the optimizer types on save and resume',
    ('LOOPS', 'EpochBasedTrainLoop'):
        'every random draw a function of seed and position; resumes inside '
        'an epoch',
    ('HOOKS', 'CheckpointHook'):
        'crash-safe saves (a temporary file renamed over the name) and no '
        'save of non-finite weights',
    ('OPTIM_WRAPPERS', 'OptimWrapper'):
        'stops on a non-finite loss and offers per-parameter clipping',
    ('OPTIM_WRAPPERS', 'AmpOptimWrapper'):
        'the same guard and clipping as OptimWrapper under mixed precision',
    ('OPTIM_WRAPPER_CONSTRUCTORS', 'DefaultOptimWrapperConstructor'):
        'leaves FrozenTeacher parameters out and merges parameter groups',
    ('OPTIMIZERS', 'LARS'):
        'the same update with trust ratios on the device (no host syncs)',
    ('MODELS', 'MoCoV3'):
        'two views checked; the momentum encoder is the project\'s CosineEMA',
    ('MODELS', 'BYOL'):
        'two views checked; the target network is the project\'s CosineEMA',
    ('MODELS', 'SimCLR'):
        'two views checked; NTXentLoss gives the right gradient across '
        'processes',
    ('MODELS', 'MoCoV3Head'):
        'InfoNCE logits in fp32 under mixed precision',
    ('MODELS', 'CosineSimilarityLoss'):
        'computed in fp32 with autocast off (bf16 loses precision)',
    ('MODELS', 'SelfSupDataPreprocessor'):
        'data samples stay on the host; non-blocking copies to the device',
    ('TRANSFORMS', 'ColorJitter'):
        'a hue shift that works with numpy 2',
    ('TRANSFORMS', 'LoadImageFromFile'):
        'an undecodable file raises an OSError that names it',
}
