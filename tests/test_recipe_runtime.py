"""Settings of the SEED, DoGo and SDSSL ImageNet recipes that are not one
config value: the BN kind of a distributed run and gradient clipping,
against the official code (the README tables name these tests)."""
import glob

from mmssl_kd.cli import load_config

PER_GPU_BN = sorted(glob.glob('configs/seed/*_in1k.py') +
                    glob.glob('configs/dogo/*_in1k.py'))
ALL = sorted(PER_GPU_BN + glob.glob('configs/sdssl/*_in1k.py') +
             ['configs/sdssl/vit-s.py'])


def test_recipes_found():
    assert len(PER_GPU_BN) == 7 and len(ALL) == 16


def test_seed_and_dogo_keep_per_gpu_bn():
    """SEED: DDP without SyncBN (main.py:L110-113); DoGo: DataParallel,
    BN per replica (util/train_util.py:L111-113).  No ``sync_bn``: the
    Runner leaves every BN per GPU."""
    for path in PER_GPU_BN:
        assert load_config(path).get('sync_bn') is None, path


def test_no_gradient_clipping():
    """None of the three official codes clips gradients (SDSSL:
    ``clip_grad: 0`` with manual optimisation)."""
    for path in ALL:
        cfg = load_config(path)
        wrapper = cfg.optim_wrapper
        parts = [wrapper] + [v for v in wrapper.values()
                             if isinstance(v, dict) and 'optimizer' in v]
        assert all(p.get('clip_grad') is None for p in parts), path
