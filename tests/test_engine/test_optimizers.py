"""PartsOptimWrapperConstructor: one wrapper per part, built from the
model's ``optim_parts``, with shared defaults and clear errors."""
import pytest
import torch.nn as nn
from _helpers.optimizers import TwoParts
from mmengine.optim import OptimWrapperDict
from mmengine.registry import DefaultScope

from mmssl_kd.engine import PartsOptimWrapperConstructor
from mmssl_kd.registry import OPTIM_WRAPPER_CONSTRUCTORS


def adam(lr):
    return dict(optimizer=dict(type='Adam', lr=lr))


def build(cfg: dict):
    with DefaultScope.overwrite_default_scope('mmssl_kd'):
        return OPTIM_WRAPPER_CONSTRUCTORS.build(dict(
            type='PartsOptimWrapperConstructor', optim_wrapper_cfg=cfg))


def ids(wrapper):
    return {id(p) for group in wrapper.optimizer.param_groups
            for p in group['params']}


def test_each_part_gets_its_parameters_and_config():
    model = TwoParts()
    wrappers = build(dict(
        clip_grad=dict(max_norm=1.0),
        model1=adam(1e-3),
        model2=dict(optimizer=dict(type='SGD', lr=0.1, momentum=0.9,
                                        weight_decay=1e-4),
                    paramwise_cfg=dict(norm_decay_mult=0.)))
    )(model)
    assert isinstance(wrappers, OptimWrapperDict)
    assert set(wrappers.keys()) == {'model1', 'model2'}
    first = {id(p) for m in (model.backbone, model.neck)
             for p in m.parameters()}
    assert ids(wrappers['model1']) == first
    assert ids(wrappers['model2']) == {id(p) for p in model.peer.parameters()}
    assert type(wrappers['model1'].optimizer).__name__ == 'Adam'
    assert wrappers['model2'].optimizer.defaults['momentum'] == 0.9
    # the part's own paramwise_cfg: no decay on the peer's BN
    decay = {id(p): g['weight_decay']
             for g in wrappers['model2'].optimizer.param_groups
             for p in g['params']}
    assert decay[id(model.peer[1].weight)] == 0
    assert decay[id(model.peer[0].weight)] == 1e-4
    # the shared default reaches both parts
    assert all(w.clip_grad_kwargs == dict(max_norm=1.0)
               for w in wrappers.values())


def test_part_config_of_absent_part_is_left_out():
    model = TwoParts()
    model.optim_parts = {'model1': None}
    model.peer = None
    wrappers = build(dict(model1=adam(1e-3), model2=adam(1e-3)))(model)
    assert set(wrappers.keys()) == {'model1'}


def test_errors_name_the_problem():
    with pytest.raises(KeyError, match=r"no config for \['model2'\]"):
        build(dict(model1=adam(1e-3)))(TwoParts())
    with pytest.raises(TypeError, match='no `optim_parts`'):
        build(dict(model1=adam(1e-3)))(nn.Linear(2, 2))
    with pytest.raises(ValueError, match='inside each part'):
        PartsOptimWrapperConstructor(dict(model1=adam(1e-3)),
                                     paramwise_cfg=dict(norm_decay_mult=0))
