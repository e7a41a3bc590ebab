"""Every recipe under configs/ follows the config rules, loads, and trains
two iterations on CPU with tiny data (data settings overridden, the model
never)."""
import math
import re
from pathlib import Path
from typing import Dict, List

import pytest
import yaml
from _helpers.configs import CONFIG_DIR, tiny_config, train_losses
from mmengine.config import Config

from mmssl_kd.compat import check_config_file
from mmssl_kd.registry import MODELS

ALL_FILES = sorted(CONFIG_DIR.rglob('*.py'))
# mmdet-scope COCO configs: tests/test_benchmarks/test_detection_smoke.py
DETECTION = CONFIG_DIR / 'benchmarks' / 'detection'
RECIPES = [p for p in ALL_FILES
           if '_base_' not in p.relative_to(CONFIG_DIR).parts
           and not p.is_relative_to(DETECTION)]

def _ids(paths):
    return [str(p.relative_to(CONFIG_DIR)) for p in paths]


@pytest.mark.parametrize('path', ALL_FILES, ids=_ids(ALL_FILES))
def test_config_rules(path):
    check_config_file(str(path))


@pytest.mark.parametrize('path', RECIPES, ids=_ids(RECIPES))
def test_config_loads(path):
    cfg = Config.fromfile(str(path))
    assert cfg.default_scope == 'mmssl_kd'
    assert 'model' in cfg and 'train_dataloader' in cfg
    # the model normalises RGB images (the Runner passes the top-level
    # data_preprocessor only to a model that sets none itself)
    pre = cfg.model.get('data_preprocessor') or cfg.get('data_preprocessor')
    assert pre and pre.get('to_rgb') and pre.get('mean') and pre.get('std')
    # plain BN everywhere (stack.md item 9); the Runner converts when needed
    assert 'SyncBN' not in repr(cfg.to_dict())
    # a subset file is in the repository, or the recipe says how to write it
    subset = cfg.train_dataloader.dataset.get('subset_file')
    if subset and not (CONFIG_DIR.parent / subset).is_file():
        assert 'make_subset.py' in path.read_text(), subset
    # the name's `NxbB` and `...-<E>e_` match the settings
    name = re.search(r'_\d+xb(\d+)-.*?(\d+)e_', path.name)
    if name:
        assert cfg.train_dataloader.batch_size == int(name.group(1))
        assert cfg.train_cfg.max_epochs == int(name.group(2))


LARGE_SDSSL = [p for p in RECIPES if p.parent.name == 'sdssl'
               and re.search(r'vit-(small|base)-p16|^vit-s\.py$', p.name)]


@pytest.mark.parametrize('path', LARGE_SDSSL, ids=_ids(LARGE_SDSSL))
def test_large_sdssl_recipes_keep_one_checkpoint(path):
    """An SDSSL ViT-S checkpoint is 1.69 GB (configs/sdssl/README.md,
    "Checkpoint size"): these recipes keep the newest only, not the
    default runtime's 3."""
    cfg = Config.fromfile(str(path))
    assert cfg.default_hooks.checkpoint.max_keep_ckpts == 1
    assert cfg.default_hooks.checkpoint.type == 'CheckpointHook'


def test_found_recipes():
    assert len(LARGE_SDSSL) == 11
    assert len(RECIPES) >= 21


def test_metafiles_list_every_recipe():
    """Each method folder's metafile.yml names exactly its recipes."""
    for meta in sorted(CONFIG_DIR.rglob('metafile.yml')):
        with open(meta, encoding='utf-8') as f:
            models = yaml.safe_load(f)['Models']
        listed = {m['Config'] for m in models}
        recipes = {str(p.relative_to(CONFIG_DIR.parent))
                   for p in meta.parent.glob('*.py') if '_' in p.stem}
        assert listed == recipes, meta
        # short names (no '_', e.g. sdssl/vit-s.py) only inherit a recipe
        for alias in meta.parent.glob('*.py'):
            if '_' not in alias.stem:
                code = [line for line in alias.read_text().splitlines()
                        if line.strip() and not line.startswith('#')]
                base = re.fullmatch(r"_base_ = \['\./(.+)'\]", code[0])
                assert len(code) == 1 and base, alias
                assert f'{meta.parent.name}/{base.group(1)}' in {
                    c.split('/', 1)[1] for c in listed}, alias
        for m in models:
            assert m['Name'] == Path(m['Config']).stem
            gpus, per_gpu = re.search(r'_(\d+)xb(\d+)-', m['Name']).groups()
            assert m['Metadata']['Batch Size'] == int(gpus) * int(per_gpu)


def test_metafiles_name_student_and_teacher():
    """Every model says what it trains and what it learns from (a teacher,
    a peer, itself, or none): the model zoo's columns."""
    for meta in sorted(CONFIG_DIR.rglob('metafile.yml')):
        with open(meta, encoding='utf-8') as f:
            models = yaml.safe_load(f)['Models']
        for m in models:
            for field in ('Student', 'Teacher'):
                value = m['Metadata'].get(field)
                assert isinstance(value, str) and value, (meta, m['Name'],
                                                          field)


# --------------------------------------------------------------------------
# two training iterations (tiny_config: tests/_helpers/configs.py)

# A low-data recipe differs from its full-data one only by its subset file,
# which this test removes: its two iterations repeat that recipe's, so they
# run with the slow tests.
TRAINED = [pytest.param(p, marks=pytest.mark.slow) if p.stem.endswith('pct')
           else p for p in RECIPES]


@pytest.mark.parametrize('path', TRAINED, ids=_ids(RECIPES))
def test_config_trains_two_iters(path, tiny_image_folder, tmp_path):
    losses = train_losses(tiny_config(path, tiny_image_folder, tmp_path))
    assert len(losses) == 2
    assert all(math.isfinite(step['loss']) for step in losses), losses


# One CPU demo per algorithm (SEED, MoCo v3, SimCLR, DoGo, SDSSL, DINO,
# GLSD, MOKD) and BYOL's CIFAR recipe.
DETERMINISTIC = [CONFIG_DIR / p for p in (
    'seed/seed_resnet20-cifar_resnet56-cifar-sup_1xb256-coslr-1e_cifar10-demo.py',
    'selfsup/mocov3_resnet20-cifar_1xb256-coslr-1e_cifar10-demo.py',
    'dogo/simclr_resnet20-cifar_1xb256-adam-1e_cifar10-demo.py',
    'dogo/dogo_resnet20-cifar_resnet56-cifar_1xb256-adam-1e_cifar10-demo.py',
    'sdssl/sdssl-mocov3_vit-mini-p4_1xb256-coslr-5e_cifar10-demo.py',
    'selfsup/dino_vit-mini-p4_1xb256-coslr-5e_cifar10-demo.py',
    'global_local/glsd-geometric_vit-mini-p4_1xb256-coslr-5e_cifar10-demo.py',
    'mokd/mokd_resnet20-cifar_vit-mini-p4_1xb256-coslr-2e_cifar10-demo.py',
    'sdssl/sdssl-byol_vit-tiny-p4_1xb256-coslr-300e_cifar10.py',
)]


@pytest.mark.parametrize('path', DETERMINISTIC, ids=_ids(DETERMINISTIC))
def test_seeded_runs_repeat_their_losses(path, tiny_image_folder,
                                         tmp_path):
    """With a fixed seed and deterministic mode, two runs give the same
    first three iterations, every loss term to the last bit."""
    runs = []
    for name in ('a', 'b'):
        cfg = tiny_config(path, tiny_image_folder, tmp_path / name, iters=3)
        cfg.randomness = dict(seed=0, deterministic=True)
        cfg.experiment_name = f'determinism_{name}'
        runs.append(train_losses(cfg))
    assert len(runs[0]) == 3 and runs[0][0].keys() == runs[1][0].keys()
    assert runs[0] == runs[1]


# Each demo with its bf16 tolerance (relative, per loss term): at least
# three times the largest move measured with 1 to 16 threads and AVX2,
# AVX-512 and AMX kernels (DINO 0.04 %; SEED 0.4 %; MOKD 4.5 %, a T-Head
# term; DoGo 24 %: its KL terms are lambda / (B tau) = 500 times a
# difference of cosine similarities, which bf16 rounds in the third digit).
SPEED_CHECKED = {CONFIG_DIR / p: rel for p, rel in (
    ('seed/seed_resnet20-cifar_resnet56-cifar-sup_1xb256-coslr-1e_cifar10-'
     'demo.py', 0.02),
    ('dogo/dogo_resnet20-cifar_resnet56-cifar_1xb256-adam-1e_cifar10-demo.py',
     0.75),
    ('selfsup/dino_vit-mini-p4_1xb256-coslr-5e_cifar10-demo.py', 0.01),
    ('mokd/mokd_resnet20-cifar_vit-mini-p4_1xb256-coslr-2e_cifar10-demo.py',
     0.15),
)}


@pytest.mark.parametrize('path', SPEED_CHECKED, ids=_ids(SPEED_CHECKED))
def test_speed_switches_keep_the_losses(path, tiny_image_folder, tmp_path):
    """From the same weights and batch, channels_last gives the first
    iteration's losses up to float rounding, and bf16 autocast (``--amp``)
    close ones.  (Later iterations drift apart: on two-image batches,
    Adam's normalised steps turn rounding in tiny gradients into whole
    steps.)"""
    def losses(name: str, **changes) -> List[Dict[str, float]]:
        cfg = tiny_config(path, tiny_image_folder, tmp_path / name)
        cfg.randomness = dict(seed=0, deterministic=True)
        cfg.experiment_name = name
        cfg.merge_from_dict(changes)
        return train_losses(cfg)

    fp32 = losses('nchw', **{'speed_cfg.channels_last': False})
    nhwc = losses('nhwc')  # the default
    assert Config.fromfile(str(path)).speed_cfg.channels_last
    bf16 = losses('bf16', **{'optim_wrapper.type': 'BF16OptimWrapper'})
    for key, value in fp32[0].items():
        # channels_last and the thread count reorder the convolutions' sums;
        # DoGo's KL terms (see above) make that up to 2.2e-4 relative
        # (measured as for bf16), every other term 1.2e-5: 2e-3 leaves 9x
        assert nhwc[0][key] == pytest.approx(value, rel=2e-3, abs=1e-6), key
    for key, value in fp32[0].items():
        assert bf16[0][key] == pytest.approx(
            value, rel=SPEED_CHECKED[path], abs=0.05), key


VIT_MINI_DEMOS = sorted(p for p in RECIPES if 'vit-mini-p4' in p.name
                        and p.name.endswith('-demo.py'))
VIT_MINI_PROBE = (CONFIG_DIR / 'benchmarks' / 'classification' / 'cifar10' /
                  'vit-mini-p4_linear-probe_1xb256-coslr-100e_cifar10.py')


@pytest.mark.parametrize('path', VIT_MINI_DEMOS, ids=_ids(VIT_MINI_DEMOS))
def test_demo_vits_have_a_linear_probe(path):
    """The demo ViTs' backbones (96-d, 6 blocks) load into a linear-probe
    config: every tensor of the probe's backbone, by name and shape (there
    was only the 192-d ViT-Tiny/4 probe)."""
    from mmengine.registry import DefaultScope
    with DefaultScope.overwrite_default_scope('mmssl_kd'):
        demo = MODELS.build(Config.fromfile(str(path)).model)
        probe = MODELS.build(Config.fromfile(str(VIT_MINI_PROBE)).model)
    state = demo.state_dict()
    prefixes = {key[:-len('layers.0.attn.qkv.weight')] for key in state
                if key.endswith('backbone.layers.0.attn.qkv.weight')}
    assert prefixes, path
    wanted = {k: v.shape for k, v in probe.backbone.state_dict().items()}
    for prefix in prefixes:  # MOKD: its ViT; the others: the student
        found = {k[len(prefix):]: v.shape for k, v in state.items()
                 if k.startswith(prefix)}
        assert {k: found.get(k) for k in wanted} == wanted, prefix
