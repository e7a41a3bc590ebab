"""Per-parameter gradient clipping (``clip_grad=dict(type='per_parameter',
max_norm=...)``), DINO's ``utils.clip_gradients``, against MMEngine's
global-norm clipping, in the project's optimizer wrappers and recipes."""
import glob

import pytest
import torch
import torch.nn as nn
from mmengine.optim import OptimWrapperDict
from mmengine.registry import DefaultScope

from mmssl_kd.cli import load_config
from mmssl_kd.engine import BF16OptimWrapper, OptimWrapper
from mmssl_kd.engine.optim_wrappers import clip_grad_per_parameter_
from mmssl_kd.registry import OPTIM_WRAPPER_CONSTRUCTORS


def dino_clip_gradients(params, clip):
    """dino utils.py ``clip_gradients``, written out (the yardstick)."""
    for p in params:
        if p.grad is not None:
            param_norm = p.grad.data.norm(2)
            clip_coef = clip / (param_norm + 1e-6)
            if clip_coef < 1:
                p.grad.data.mul_(clip_coef)


def tiny_model(seed=0):
    """Four parameters whose gradients (set by hand) have norms 10, 0.2,
    0.5 and 1: global norm ~10.06."""
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Linear(4, 3), nn.Linear(3, 2, bias=False),
                          nn.Linear(2, 2, bias=False))
    for p, norm in zip(model.parameters(), (10., 0.2, 0.5, 1.)):
        g = torch.randn_like(p)
        p.grad = g * norm / g.norm()
    return model


def grads(model):
    return [p.grad.clone() for p in model.parameters()]


def test_per_parameter_clip_is_dinos_and_not_the_global_one():
    before = grads(tiny_model())
    ours, dino, glob_ = tiny_model(), tiny_model(), tiny_model()
    total = clip_grad_per_parameter_(list(ours.parameters()), max_norm=3.)
    dino_clip_gradients(dino.parameters(), 3.)
    nn.utils.clip_grad_norm_(glob_.parameters(), max_norm=3.)
    # the global norm before clipping is logged
    assert total.item() == pytest.approx(
        torch.stack([g.norm() for g in before]).norm().item(), rel=1e-6)
    for o, d in zip(grads(ours), grads(dino)):
        torch.testing.assert_close(o, d, rtol=0, atol=0)
    # only the first weight (norm 10) is clipped, to norm 3; the others are
    # untouched, where global clipping scales all by 3 / 10.06
    assert grads(ours)[0].norm().item() == pytest.approx(3., rel=1e-5)
    for o, b in zip(grads(ours)[1:], before[1:]):
        assert torch.equal(o, b)
    for g, b in zip(grads(glob_)[1:], before[1:]):
        assert (g.norm() / b.norm()).item() == pytest.approx(
            3. / 10.06, rel=1e-2)


@pytest.mark.parametrize('wrapper_type', [OptimWrapper, BF16OptimWrapper])
def test_wrappers_step_with_per_parameter_clipping(wrapper_type):
    """An SGD step at lr 1 subtracts exactly the clipped gradient."""
    model, reference = tiny_model(), tiny_model()
    dino_clip_gradients(reference.parameters(), 3.)
    start = [p.detach().clone() for p in model.parameters()]
    wrapper = wrapper_type(
        optimizer=torch.optim.SGD(model.parameters(), lr=1.),
        clip_grad=dict(type='per_parameter', max_norm=3.))
    wrapper.step()
    for p, s, r in zip(model.parameters(), start, reference.parameters()):
        torch.testing.assert_close(p.detach(), s - r.grad)


def test_optim_wrapper_dict_parts_clip_per_parameter():
    """The top-level clip_grad reaches every part of an OptimWrapperDict
    (MOKD's constructor)."""

    class TwoParts(nn.Module):
        optim_parts = {'cnn': None, 'vit': 'peer'}

        def __init__(self):
            super().__init__()
            self.backbone = nn.Linear(3, 4)
            self.peer = nn.Linear(3, 5)

    with DefaultScope.overwrite_default_scope('mmssl_kd'):
        wrappers = OPTIM_WRAPPER_CONSTRUCTORS.build(dict(
            type='PartsOptimWrapperConstructor', optim_wrapper_cfg=dict(
                type='OptimWrapper',
                clip_grad=dict(type='per_parameter', max_norm=3.),
                cnn=dict(optimizer=dict(type='SGD', lr=1.)),
                vit=dict(optimizer=dict(type='SGD', lr=1.)))))(TwoParts())
    assert isinstance(wrappers, OptimWrapperDict)
    for wrapper in wrappers.values():
        assert wrapper.clip_func is clip_grad_per_parameter_
        assert wrapper.clip_grad_kwargs == dict(max_norm=3.)


def test_bad_per_parameter_config_is_refused():
    with pytest.raises(ValueError, match="takes max_norm and nothing else"):
        OptimWrapper(optimizer=torch.optim.SGD(tiny_model().parameters(),
                                               lr=1.),
                     clip_grad=dict(type='per_parameter', max_norm=3.,
                                    norm_type=1))


IN1K = sorted(glob.glob('configs/mokd/*_in1k*.py')
              + glob.glob('configs/global_local/*_in1k*.py'))


@pytest.mark.parametrize('path', IN1K)
def test_dino_family_recipes_clip_per_parameter(path):
    """DINO, GLSD and MOKD clip each parameter to norm 3 (dino
    main_dino.py, GLSD and mokd main_mokd.py call utils.clip_gradients)."""
    assert IN1K
    cfg = load_config(path)
    assert cfg.optim_wrapper.clip_grad == dict(type='per_parameter',
                                               max_norm=3.0)
