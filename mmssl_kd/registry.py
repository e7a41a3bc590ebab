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
