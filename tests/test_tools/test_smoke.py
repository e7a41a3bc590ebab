"""tools/train.py --smoke, and custom hooks addressed by type in
--cfg-options (mmssl_kd.cli.smoke_config, named_hook_options)."""
from pathlib import Path

import pytest
from _helpers.tools import MOCO_CONFIG, check, start_tool, write_config
from mmengine.config import Config

from mmssl_kd.cli import (
    SMOKE_BATCH,
    SMOKE_EVAL_BATCH,
    SMOKE_ITERS,
    load_config,
    named_hook_options,
    smoke_config,
)

CONFIGS = Path(__file__).resolve().parents[2] / 'configs'
GLSD = CONFIGS / 'global_local' / \
    'glsd-geometric_vit-mini-p4_1xb256-coslr-5e_cifar10-demo.py'
DEVICE = CONFIGS / 'seed' / \
    'seed_resnet20-cifar_resnet56-cifar-sup_1xb256-coslr-1e_device-data_cifar10-demo.py'  # noqa: E501


def test_hook_by_type_reaches_the_knn_hook_whatever_its_index():
    """In a GLSD config custom_hooks.0 is not the kNN monitor."""
    cfg = load_config(str(GLSD), {'custom_hooks.KNNHook.interval': 7})
    knn = [h for h in cfg.custom_hooks if h.type == 'KNNHook']
    assert cfg.custom_hooks[0].type != 'KNNHook'
    assert len(knn) == 1 and knn[0].interval == 7
    assert named_hook_options(cfg, {'custom_hooks.0.a': 1}) == \
        {'custom_hooks.0.a': 1}
    with pytest.raises(KeyError, match=r'has no EMAHook \(its custom_hooks'):
        named_hook_options(cfg, {'custom_hooks.EMAHook.momentum': 0.1})
    twice = Config(dict(custom_hooks=[dict(type='KNNHook'),
                                      dict(type='mmssl_kd.KNNHook')]))
    with pytest.raises(KeyError, match='has several KNNHook'):
        named_hook_options(twice, {'custom_hooks.KNNHook.interval': 1})


@pytest.mark.parametrize('path', [GLSD, DEVICE], ids=['glsd', 'device'])
def test_smoke_shrinks_every_loader(path):
    cfg = load_config(str(path))
    line = smoke_config(cfg)
    assert line.startswith('--smoke: 1 epoch of 2 iterations')
    assert '\n' not in line and 'custom_hooks.KNNHook.bank_dataloader' in line
    assert cfg.train_cfg.max_epochs == 1
    assert cfg.train_dataloader.num_batch_per_epoch == SMOKE_ITERS
    assert cfg.train_dataloader.batch_size == SMOKE_BATCH
    knn = next(h for h in cfg.custom_hooks if h.type == 'KNNHook')
    for loader in (knn.bank_dataloader, knn.query_dataloader):
        assert loader.num_batch_per_epoch == 1
        assert loader.batch_size <= SMOKE_EVAL_BATCH
    assert cfg.default_hooks.checkpoint.interval == 1
    assert cfg.default_hooks.checkpoint.max_keep_ckpts == 1


def test_smoke_run_through_the_tool(tmp_path, tiny_image_folder):
    """The 2-epoch config, with batch 2 (below SMOKE_BATCH), trains 2
    iterations in one epoch, writes one checkpoint in
    work_dirs/<config>-smoke, and a second smoke run replaces it."""
    config = write_config(tmp_path / 'moco.py', tiny_image_folder,
                          MOCO_CONFIG.replace('batch_size=4', 'batch_size=2'))
    for _ in range(2):
        log = check(start_tool('train.py', [config, '--smoke'], tmp_path))
        assert '--smoke: 1 epoch of 2 iterations' in log
        assert 'Epoch(train) [1][2/2]' in log and 'Epoch(train) [2]' not in log
    work_dir = tmp_path / 'work_dirs' / 'moco-smoke'
    assert sorted(p.name for p in work_dir.glob('*.pth')) == ['epoch_1.pth']
