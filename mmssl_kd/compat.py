"""Fixes for today's stack (``shared/design/stack.md`` items 1 to 4).

1. **Safe checkpoint loading.**  torch >= 2.6 loads with ``weights_only=True``
   and MMEngine 0.10.7 checkpoints need a few extra globals (its
   ``HistoryBuffer`` and some numpy types).  :func:`load_checkpoint_file`
   allows exactly those and refuses any other global with an
   :class:`UntrustedCheckpointError` that names it.  It replaces MMEngine's
   local-file loader, so ``--resume``, ``load_from``,
   ``init_cfg=dict(type='Pretrained')`` and teacher loading all use it.  A file
   the user vouches for (``--trust-checkpoint PATH`` or the config key
   ``trusted_checkpoints = ['PATH']``) is loaded the unsafe way, and only
   that file.
2. **No ``pkg::`` base configs** (``pkg_resources`` is gone from setuptools
   >= 82) and
4. **no imports in configs** (MMEngine 0.10.7 takes such a file for a lazy
   config on Python >= 3.11): :func:`check_config_file` enforces both; the
   test suite runs it on every config.
3. **Hue jitter under numpy 2**: :func:`adjust_hue` replaces
   ``mmcv.adjust_hue``, which adds a negative Python int to a uint8 array;
   :class:`mmssl_kd.datasets.transforms.ColorJitter` uses it.
"""
import os.path as osp
import pickle
import re
from typing import Iterable, List, Optional, Set

import cv2
import numpy as np
import torch
from mmengine.logging import HistoryBuffer, print_log
from mmengine.runner.checkpoint import CheckpointLoader

# ---------------------------------------------------------------------------
# 1. checkpoints


def _numpy_globals() -> List[object]:
    """numpy objects that MMEngine's ``message_hub`` state pickles."""
    core = getattr(np, '_core', None) or np.core  # numpy 2 / numpy 1
    allowed = [np.ndarray, np.dtype, core.multiarray._reconstruct,
               core.multiarray.scalar]
    # files written under numpy 1 name these numpy.core.multiarray.*
    allowed += [(f, f'numpy.core.multiarray.{f.__name__}')
                for f in (core.multiarray._reconstruct,
                          core.multiarray.scalar)]
    dtypes = getattr(np, 'dtypes', None)  # per-dtype classes, numpy >= 1.25
    if dtypes is not None:
        allowed += [getattr(dtypes, n) for n in dir(dtypes)
                    if n.endswith('DType')]
    return allowed


#: Globals an MMEngine checkpoint may need beyond torch's defaults.
SAFE_GLOBALS: List[object] = [HistoryBuffer, getattr] + _numpy_globals()

_TRUSTED_FILES: Set[str] = set()


class UntrustedCheckpointError(pickle.UnpicklingError):
    """A checkpoint needs a global outside :data:`SAFE_GLOBALS`."""


def _key(path: str) -> str:
    return osp.realpath(osp.expanduser(path))


def trust_checkpoints(paths: Optional[Iterable[str]]) -> None:
    """Allow the unsafe (full pickle) load of these files, and only these.

    Loading a pickle runs whatever code its author put in it: trust only
    files you made yourself or got from a source you trust.
    """
    for path in paths or ():
        _TRUSTED_FILES.add(_key(path))


def untrust_all() -> None:
    """Forget every file passed to :func:`trust_checkpoints`."""
    _TRUSTED_FILES.clear()


def load_checkpoint_file(filename: str, map_location=None,
                         mmap: bool = False):
    """``torch.load`` with ``weights_only=True`` plus :data:`SAFE_GLOBALS`.

    ``mmap=True`` maps the tensors instead of reading them: a cheap check
    that a file is complete (see ``find_resumable_checkpoint``).

    Raises:
        FileNotFoundError: the file does not exist.
        UntrustedCheckpointError: the file needs another global; the message
            names it and says how to vouch for the file.
    """
    filename = osp.expanduser(filename)
    if not osp.isfile(filename):
        raise FileNotFoundError(
            f'Checkpoint file not found: {filename!r}. Check the path in '
            '`load_from`, `--resume`, `init_cfg` or the teacher config.')
    if _key(filename) in _TRUSTED_FILES:
        print_log(f'Loading {filename} as a full pickle because it was '
                  'marked trusted (--trust-checkpoint / trusted_checkpoints).',
                  logger='current')
        return torch.load(filename, map_location=map_location, mmap=mmap,
                          weights_only=False)  # trusted by the user
    with torch.serialization.safe_globals(SAFE_GLOBALS):
        try:
            return torch.load(filename, map_location=map_location,
                              mmap=mmap, weights_only=True)
        except pickle.UnpicklingError as err:
            found = re.findall(r'GLOBAL ([\w.]+)', str(err))
            name = found[0] if found else 'an unsupported global'
            raise UntrustedCheckpointError(
                f'Refused to load {filename!r}: it needs the global {name}, '
                'which a plain MMEngine checkpoint does not, and loading it '
                'could run code from the file. If you made this file or '
                'trust its source, pass `--trust-checkpoint '
                f'{filename}` to tools/train.py or tools/test.py, or add it '
                'to `trusted_checkpoints` in the config.') from None


def _load_from_local(filename: str, map_location=None):
    return load_checkpoint_file(filename, map_location)


CheckpointLoader.register_scheme(prefixes='', loader=_load_from_local,
                                 force=True)

# ---------------------------------------------------------------------------
# 2 and 4. configs

_CONFIG_IMPORT = re.compile(r'^\s*(import\s+\w|from\s+[\w.]+\s+import\s)',
                            re.MULTILINE)
_PKG_BASE = re.compile(r'[\'"][\w-]+::')


def check_config_file(path: str) -> None:
    """Raise ``ValueError`` if a config file has imports or ``pkg::`` bases.

    Both break MMEngine 0.10.7 on today's stack (stack.md items 2 and 4);
    use ``{{$ENV_VAR:default}}`` for values from outside and a relative
    ``_base_`` path for bases.
    """
    with open(path, encoding='utf-8') as f:
        text = f.read()
    problems = []
    if _CONFIG_IMPORT.search(text):
        problems.append('an import statement (MMEngine 0.10.7 then parses '
                        'it as a lazy-import config and fails)')
    if _PKG_BASE.search(text):
        problems.append("a 'package::' base path (needs pkg_resources, "
                        'removed in setuptools 82)')
    if problems:
        raise ValueError(f'Config {path} has ' + ' and '.join(problems) +
                         '; mmssl_kd configs must be plain and self-contained.')


# ---------------------------------------------------------------------------
# 3. hue jitter under numpy 2


def adjust_hue(img: np.ndarray, hue_factor: float) -> np.ndarray:
    """Shift the hue of a BGR uint8 image by ``hue_factor`` in [-0.5, 0.5].

    Same result as ``mmcv.adjust_hue`` (OpenCV's 0..179 hue circle, as in
    torchvision), but the shift is done in int16 so numpy 2 does not refuse
    a negative offset on a uint8 array.
    """
    if not -0.5 <= hue_factor <= 0.5:
        raise ValueError(f'hue_factor {hue_factor} is not in [-0.5, 0.5]')
    if not (isinstance(img, np.ndarray) and img.ndim in (2, 3)):
        raise TypeError('img must be an ndarray with 2 or 3 dimensions')
    if img.ndim == 2 or img.shape[2] == 1:
        return img  # hue of a gray image is undefined
    dtype = img.dtype
    hsv = cv2.cvtColor(img.astype(np.uint8), cv2.COLOR_BGR2HSV_FULL)
    shift = int(hue_factor * 255)  # truncated towards zero, as in mmcv
    h = hsv[..., 0].astype(np.int16) + shift
    hsv[..., 0] = np.mod(h, 256).astype(np.uint8)
    return cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR_FULL).astype(dtype)

