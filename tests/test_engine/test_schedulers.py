"""OffsetCosineAnnealingLR, and SEED's ImageNet learning rate against the
official per-epoch schedule (jacobswan1/SEED tools/utils.py
``adjust_learning_rate``)."""
import glob
import math

import pytest
import torch
from mmengine.registry import DefaultScope

from mmssl_kd.cli import load_config
from mmssl_kd.registry import PARAM_SCHEDULERS

SEED_IN1K = sorted(glob.glob('configs/seed/*_in1k.py'))


def official_seed_lr(epoch: int, lr: float = 0.03, batch: int = 256,
                     epochs: int = 200, warmup: int = 5) -> float:
    """tools/utils.py:89-101 with main.py:116-117 (distributed)."""
    mult = batch / 256
    if epoch < warmup:
        return lr + (lr * mult - lr) / warmup * epoch
    return lr * mult * 0.5 * (1. + math.cos(math.pi * epoch / epochs))


def lrs_per_iteration(cfg, epoch_length: int, iters):
    """The lr of each iteration in ``iters`` as MMEngine's
    ParamSchedulerHook sets it: epoch-based schedulers step after every
    epoch, iteration-based ones after every iteration."""
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))],
                          **{k: v for k, v in
                             cfg.optim_wrapper.optimizer.items()
                             if k != 'type'})
    schedulers = []
    with DefaultScope.overwrite_default_scope('mmssl_kd'):
        for s in cfg.param_scheduler:
            s = dict(s)
            convert = s.pop('convert_to_iter_based', False)
            kind = PARAM_SCHEDULERS.get(s.pop('type'))
            if convert:
                schedulers.append(kind.build_iter_from_epoch(
                    opt, epoch_length=epoch_length, **s))
            else:
                schedulers.append(kind(opt, **s))
    wanted, out = set(iters), {}
    for i in range(max(iters) + 1):
        if i in wanted:
            out[i] = opt.param_groups[0]['lr']
        opt.step()
        for s in schedulers:
            if not s.by_epoch:
                s.step()
        if (i + 1) % epoch_length == 0:
            for s in schedulers:
                if s.by_epoch:
                    s.step()
    return out


@pytest.mark.parametrize('path', SEED_IN1K)
def test_seed_imagenet_lr_is_the_official_per_epoch_schedule(path):
    """Flat 0.03 for epochs 0-4 at batch 256, then the cosine of the whole
    run from epoch 5, constant within each epoch (a per-iteration cosine
    from step 0 fails: 0.03 x 0.9998 in epoch 2)."""
    cfg = load_config(path)
    assert cfg.train_dataloader.batch_size * 8 == 256  # 8xb32
    assert cfg.train_cfg.max_epochs == 200
    # per-epoch values do not depend on the epoch's length; a short epoch
    # keeps the test fast and still tells a per-iteration schedule apart
    epoch_length = 20
    epochs = [0, 1, 4, 5, 6, 50, 100, 150, 199]
    iters = [e * epoch_length + j for e in epochs
             for j in (0, epoch_length // 2, epoch_length - 1)]
    lrs = lrs_per_iteration(cfg, epoch_length, iters)
    for i, lr in lrs.items():
        expected = official_seed_lr(i // epoch_length)
        assert lr == pytest.approx(expected, rel=1e-12, abs=0), i


def test_offset_cosine_iteration_based_scales_the_offset():
    """Converted to iterations, the offset scales with begin and T_max: the
    same values at the epochs' first iterations."""
    def run(convert):
        opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.)
        kind = PARAM_SCHEDULERS.get('OffsetCosineAnnealingLR')
        args = dict(T_max=10, offset=2, begin=2, end=10)
        sched = (kind.build_iter_from_epoch(opt, epoch_length=3, **args)
                 if convert else kind(opt, **args))
        values = []
        for step in range(30 if convert else 10):
            if not convert or step % 3 == 0:
                values.append(opt.param_groups[0]['lr'])
            opt.step()
            sched.step()
        return values
    expected = [1., 1.] + [(1 + math.cos(math.pi * e / 10)) / 2
                           for e in range(2, 10)]
    assert run(False) == pytest.approx(expected, rel=1e-12)
    assert run(True) == pytest.approx(expected, rel=1e-12)


def test_offset_must_not_be_negative():
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.)
    with pytest.raises(ValueError, match='offset must be >= 0'):
        PARAM_SCHEDULERS.get('OffsetCosineAnnealingLR')(opt, offset=-1,
                                                        T_max=5)
