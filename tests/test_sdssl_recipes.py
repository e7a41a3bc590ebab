"""The SDSSL recipes against the official training setup (hagiss/SDSSL):
SyncBN in distributed runs, SD-BYOL's heads without a last BN, no weight
decay on biases and norms."""
import glob

import pytest
import torch
from mmengine.model import convert_sync_batchnorm
from mmengine.optim import build_optim_wrapper
from mmengine.registry import DefaultScope

from mmssl_kd.cli import load_config
from mmssl_kd.registry import MODELS

RECIPES = sorted(glob.glob('configs/sdssl/*.py'))
DEMO = 'configs/sdssl/sdssl-mocov3_vit-mini-p4_1xb256-coslr-5e_cifar10-demo.py'


def build(cfg: dict):
    torch.manual_seed(0)
    with DefaultScope.overwrite_default_scope('mmssl_kd'):
        return MODELS.build(cfg)


@pytest.fixture(scope='module')
def demo_model():
    return build(load_config(DEMO).model)


def test_recipes_found():
    assert len(RECIPES) >= 20


@pytest.mark.parametrize('path', RECIPES)
def test_every_recipe_syncs_bn(path):
    """Official ``pl.Trainer(sync_batchnorm=True)`` (pl_train_*.py): the
    Runner converts every BN when distributed (a no-op on one process)."""
    assert load_config(path).get('sync_bn') == 'torch'


def test_sync_bn_converts_student_and_teacher_bn(demo_model):
    """What the Runner does with ``sync_bn='torch'`` before DDP: every BN of
    the projectors, predictors and the EMA teacher's projector."""
    def count(model, kind):
        return [name for name, m in model.named_modules()
                if isinstance(m, kind)]
    plain = count(demo_model, torch.nn.modules.batchnorm._BatchNorm)
    assert any(n.startswith('target.') for n in plain)
    assert any(n.startswith('inter_predictors.') for n in plain)
    synced = convert_sync_batchnorm(demo_model, load_config(DEMO).sync_bn)
    assert count(synced, torch.nn.SyncBatchNorm) == plain


def heads(cfg) -> dict:
    model = cfg.model
    out = dict(neck=model.neck, inter_neck=model.inter_neck)
    if model.get('predictor'):
        out['predictor'] = model.predictor
    return out


def last_layers(neck_cfg: dict) -> list:
    # small widths: the layer types follow from the config's switches
    neck = build(dict(neck_cfg, in_channels=8, hid_channels=8,
                      out_channels=4))
    return [m for m in neck.modules()
            if isinstance(m, (torch.nn.Linear, torch.nn.BatchNorm1d))][-2:]


@pytest.mark.parametrize('path', RECIPES)
def test_heads_last_layer(path):
    """SD-BYOL: projector and predictor end with a Linear without bias
    (official ``NetWrapper(..., last_bn=False)``, pl_train_byol.py:63-64);
    SD-MoCo v3 and SD-SimCLR with BN(affine=False) (byol_pytorch.py:20-23,
    the default ``last_bn=True``)."""
    cfg = load_config(path)
    byol = cfg.model.base == 'byol'
    for name, neck_cfg in heads(cfg).items():
        before, last = last_layers(neck_cfg)
        if byol:
            assert isinstance(last, torch.nn.Linear), name
            assert last.bias is None, name
        else:
            assert isinstance(before, torch.nn.Linear), name
            assert isinstance(last, torch.nn.BatchNorm1d), name
            assert not last.affine, name


@pytest.mark.parametrize('path', RECIPES)
def test_weight_decay_spares_biases_and_norms(path, demo_model):
    """Official ``utils.get_params_groups``: no weight decay on a parameter
    whose name ends in ``.bias`` or that is 1-d; the recipe's on all
    others.  Checked on the demo model (every kind of layer of the
    recipes: ViT, LayerNorm, projector and predictor BN)."""
    cfg = load_config(path)
    with DefaultScope.overwrite_default_scope('mmssl_kd'):
        wrapper = build_optim_wrapper(demo_model, cfg.optim_wrapper)
    decay = {id(p): group['weight_decay']
             for group in wrapper.optimizer.param_groups
             for p in group['params']}
    wd = cfg.optim_wrapper.optimizer.weight_decay
    assert wd > 0
    trained = [(n, p) for n, p in demo_model.named_parameters()
               if p.requires_grad]
    assert any(p.ndim == 1 for _, p in trained)
    for name, param in trained:
        exempt = name.endswith('.bias') or param.ndim == 1
        assert decay[id(param)] == (0. if exempt else wd), name
