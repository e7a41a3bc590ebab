"""What every command-line tool does with a config and a checkpoint."""
import argparse
import glob
import json
import logging
import os.path as osp
from typing import Dict, Iterable, List, Optional

from mmengine.config import Config, DictAction
from mmengine.logging import MMLogger
from mmengine.runner import load_checkpoint
from torch import nn

from mmssl_kd.compat import check_config_file, trust_checkpoints


def add_config_arguments(parser: argparse.ArgumentParser) -> None:
    """``--cfg-options`` and ``--trust-checkpoint``, as every tool has them."""
    parser.add_argument(
        '--cfg-options', nargs='+', action=DictAction, metavar='KEY=VALUE',
        help='override config values, e.g. train_cfg.max_epochs=10 '
        'optim_wrapper.optimizer.lr=0.1 (a list: key="[a,b]", no spaces)')
    parser.add_argument(
        '--trust-checkpoint', action='append', default=[], metavar='PATH',
        help='load this checkpoint as a full pickle (it may run code); only '
        'for files you made or trust. Repeat for several files; the config '
        'key `trusted_checkpoints` adds more')


def add_model_comparison_arguments(parser: argparse.ArgumentParser,
                                   shown_as: str,
                                   num_per_class: int) -> None:
    """The options of the tools that compare models on an image subset
    (``--model LABEL CONFIG CHECKPOINT`` repeated, the subset, the
    loader), plus :func:`add_config_arguments`."""
    parser.add_argument(
        '--model', nargs=3, action='append', required=True,
        metavar=('LABEL', 'CONFIG', 'CHECKPOINT'),
        help=f"a model ({shown_as}): its label, its config and its "
        "checkpoint ('random': the network at initialisation). Repeat for "
        'several models')
    parser.add_argument('--split', default='test',
                        help='split folder under the data root of the '
                        "config's train_dataloader (default 'test')")
    parser.add_argument('--num-per-class', type=int, default=num_per_class,
                        help=f'images per class (default {num_per_class})')
    parser.add_argument('--seed', type=int, default=0,
                        help='seed of the image subset, of the random draws '
                        "and of 'random' weights (default 0)")
    parser.add_argument('--batch-size', type=int, default=100,
                        help='images per forward pass (default 100)')
    parser.add_argument('--num-workers', type=int, default=2,
                        help='dataloader worker processes (default 2)')
    add_config_arguments(parser)


def load_config(path: str,
                cfg_options: Optional[dict] = None,
                work_dir: Optional[str] = None,
                launcher: str = 'none',
                trusted: Iterable[str] = ()) -> Config:
    """Read ``path``, apply ``--cfg-options`` and the common tool settings.

    If the file does not parse, say whether it breaks the config rules of
    today's stack (imports, ``pkg::`` bases).  ``work_dir`` defaults to the
    config's own, else ``work_dirs/<config name>``.  The checkpoints in
    ``trusted`` and in the config's ``trusted_checkpoints`` may be loaded as
    full pickles (see :mod:`mmssl_kd.compat`).
    """
    try:
        cfg = Config.fromfile(path)
    except Exception:
        check_config_file(path)  # raises a ValueError that names the cause
        raise
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    cfg.launcher = launcher
    if work_dir is not None:
        cfg.work_dir = work_dir
    elif cfg.get('work_dir') is None:
        name = osp.splitext(osp.basename(path))[0]
        cfg.work_dir = osp.join('work_dirs', name)
    trust_checkpoints(list(trusted) +
                      list(cfg.get('trusted_checkpoints', None) or []))
    return cfg


def build_model(cfg: Config) -> nn.Module:
    """Build ``cfg.model`` with the config's top-level data preprocessor (as
    the Runner does), without initialising its weights."""
    from mmssl_kd.registry import MODELS  # registers the models first
    model_cfg = cfg.model.copy()
    model_cfg.setdefault('data_preprocessor', cfg.get('data_preprocessor'))
    return MODELS.build(model_cfg)


def load_model(cfg: Config, checkpoint: str) -> nn.Module:
    """:func:`build_model`; load ``checkpoint`` (through the safe loader), or
    for ``'random'`` initialise the weights."""
    model = build_model(cfg)
    if checkpoint == 'random':
        # without a log file MMEngine prints one line per parameter
        logger = MMLogger.get_current_instance()
        level = logger.level
        logger.setLevel(logging.WARNING)
        try:
            model.init_weights()
        finally:
            logger.setLevel(level)
    else:
        load_checkpoint(model, checkpoint, map_location='cpu')
    return model


def read_scalars(work_dir: str) -> List[Dict[str, float]]:
    """The scalars a ``tools/train.py`` run logged, one dict per record
    (with its ``step``), from the newest ``<timestamp>/vis_data/
    scalars.json`` under ``work_dir``."""
    files = sorted(glob.glob(osp.join(work_dir, '*', 'vis_data',
                                      'scalars.json')))
    if not files:
        raise FileNotFoundError(
            f'No */vis_data/scalars.json under {work_dir!r}: is it the '
            '--work-dir of a tools/train.py run?')
    with open(files[-1], encoding='utf-8') as f:
        return [json.loads(line) for line in f if line.strip()]
