"""Fixes for today's stack (``shared/design/stack.md`` items 1 to 4).

1. **Safe checkpoint loading.**  torch >= 2.6 loads with ``weights_only=True``
   and MMEngine 0.10.7 checkpoints need a few globals beyond torch's own
   allow-list: ``HistoryBuffer`` (pickled with ``getattr(HistoryBuffer,
   'min')`` and the like), numpy dtypes, arrays and scalars.
   :func:`load_checkpoint_file` allows each only in the exact form an
   MMEngine checkpoint writes (:data:`SAFE_GLOBALS`) and refuses anything
   else with an :class:`UntrustedCheckpointError` that names it; a file that
   is not a complete checkpoint (empty, truncated, damaged) raises a
   :class:`CorruptCheckpointError` that names it.  It replaces MMEngine's
   local-file and ``http(s)://`` loaders, so ``--resume``, ``load_from``,
   ``init_cfg=dict(type='Pretrained')`` and teacher loading all use it.  A
   file the user vouches for (``--trust-checkpoint PATH`` or the config key
   ``trusted_checkpoints = ['PATH']``) is loaded the unsafe way, and only
   that file.

   *Why nothing a pickle can reach runs code.*  torch's weights-only
   unpickler calls (REDUCE, NEWOBJ) and rebuilds (BUILD) only values of the
   allow-list, but one of its own defaults,
   ``torch._tensor._rebuild_from_type_v2``, calls any object it is handed:
   the allow-list is safe only if no object a pickle can reach is a
   callable that runs code.  Reachable are the allowed globals, plain data
   (None, numbers, strings, bytes, tuples, lists, dicts, sets) and what
   calling or rebuilding reachable objects returns.  torch's defaults give
   tensors, storages, torch dtypes, devices, sizes, ``OrderedDict`` and
   ``Counter`` (torch's own argument).  Ours are the functions and stand-in
   classes below, not the real globals; each checks the exact type and
   value of what it gets (reading no attribute of a pickle's object) and
   raises otherwise:

   - ``builtins.getattr`` gives only ``HistoryBuffer.min``, ``max``,
     ``mean`` and ``current`` (the statistics HistoryBuffer registers for
     itself, which its ``statistics_methods`` pickle).  Called on an
     object, these take the ``len`` of its ``_log_history``, index or
     slice it and call ``sum``/``min``/``max`` of the slice: they give back
     a part of reachable data or a number, never a new callable.
   - ``HistoryBuffer`` is a subclass that cannot be called (its
     constructor would hand a pickle's object to ``np.array``, which reads
     a raw memory address from an ``__array_interface__`` attribute) and
     whose state must be ``max_length`` (an int), two 1-D arrays as below
     and ``statistics_methods`` mapping each name to that very function;
     then it becomes a plain ``HistoryBuffer``.
   - ``numpy.dtype`` is a stand-in holding a bool, int, uint, float or
     complex dtype named by numpy's code (``'f8'``); its state must be
     numpy's own for such a dtype (only the byte order may differ).  No
     real dtype reaches the unpickler: ``dtype.__setstate__`` accepts
     object fields, offsets and sizes that do not fit (forged pointers).
   - ``numpy.ndarray`` / ``_reconstruct`` make a stand-in whose state must
     be ``(1, shape, stand-in dtype, bool, bytes)`` with exactly
     ``prod(shape) * itemsize`` bytes: numpy's own ``__setstate__`` then
     builds a fresh numeric array.  ``scalar`` takes a stand-in dtype and
     exactly ``itemsize`` bytes.

   After loading, the stand-ins in dicts, lists and tuples are replaced by
   the dtypes and arrays they hold.  The real numpy classes (``ndarray``,
   ``dtype``, the per-dtype classes) are not on the list, nor is anything
   of the standard library.
2. **No ``pkg::`` base configs** (``pkg_resources`` is gone from setuptools
   >= 82) and
4. **no imports in configs** (MMEngine 0.10.7 takes such a file for a lazy
   config on Python >= 3.11): :func:`check_config_file` enforces both; the
   test suite runs it on every config.
3. **Hue jitter under numpy 2**: :func:`adjust_hue` replaces
   ``mmcv.adjust_hue``, which adds a negative Python int to a uint8 array;
   :class:`mmssl_kd.datasets.transforms.ColorJitter` uses it.
"""
import io
import math
import os
import os.path as osp
import pickle
import pickletools
import re
import zipfile
from typing import Any, Dict, Iterable, Optional, Set
from urllib.parse import urlparse

import cv2
import mmengine.runner.checkpoint as mmengine_checkpoint
import numpy as np
import torch
from mmengine.dist import get_dist_info
from mmengine.logging import HistoryBuffer, print_log
from mmengine.runner.checkpoint import CheckpointLoader

# ---------------------------------------------------------------------------
# 1. checkpoints

#: The statistics HistoryBuffer registers for itself
#: (``HistoryBuffer._set_default_statistics``), which its state pickles.
_STATISTICS = ('min', 'max', 'current', 'mean')
_HISTORY_KEYS = frozenset({'max_length', '_log_history', '_count_history'})
#: numpy's codes of the bool, int, uint, float and complex dtypes, as
#: ``np.dtype.__reduce__`` writes them ('b1', 'i8', 'f8', ...).
_NUMERIC_DTYPES = frozenset(
    np.dtype(c).__reduce__()[1][0]
    for c in '?' + np.typecodes['AllInteger'] + np.typecodes['AllFloat'])
_BYTE_ORDERS = ('<', '>', '|', '=')


class _Refused(Exception):
    """A pickle asks one of the stand-ins below for more than an MMEngine
    checkpoint needs.  Not an ``UnpicklingError``: ``torch.load`` would
    bury that in its own message."""


def _is(value: Any, expected: Any) -> bool:
    """``value == expected`` for plain data (``expected``: None, bool, int,
    str, bytes, tuples of them), calling no method of ``value``."""
    if type(value) is not type(expected):
        return False
    if type(value) is tuple:
        return (len(value) == len(expected)
                and all(map(_is, value, expected)))
    return value == expected


class _DTypeState:
    """``numpy.dtype(code, align, copy)`` in a checkpoint: a numeric dtype
    (no real dtype reaches torch's unpickler, which would rebuild it with
    any state)."""
    __slots__ = ('dtype', 'built')

    def __init__(self, *args: Any):
        if not (len(args) == 3 and type(args[0]) is str
                and args[0] in _NUMERIC_DTYPES
                and all(type(flag) is bool for flag in args[1:])):
            raise _Refused(f'numpy.dtype({_shown_args(args)}): only bool, '
                           'int, float and complex dtypes')
        self.dtype = np.dtype(args[0])
        self.built = False

    def __setstate__(self, state: Any) -> None:
        order = state[1] if type(state) is tuple and len(state) == 8 else ''
        if (getattr(self, 'built', True) or type(order) is not str
                or order not in _BYTE_ORDERS
                or not _is(state, (3, order, None, None, None, -1, -1, 0))):
            raise _Refused('a numpy dtype state other than numpy\'s own for '
                           'a numeric dtype')
        self.dtype = self.dtype.newbyteorder(order)
        self.built = True


def _dtype_of(value: Any) -> np.dtype:
    """The dtype a :class:`_DTypeState` holds."""
    if type(value) is not _DTypeState or not hasattr(value, 'dtype'):
        raise _Refused('a numpy array or scalar whose dtype is not a '
                       'numeric numpy.dtype')
    return value.dtype


class _ArrayState:
    """``numpy.ndarray`` in a checkpoint (the first argument of
    :func:`_reconstruct`): a numeric array made from its bytes."""
    __slots__ = ('array', )

    def __init__(self, *args: Any):
        raise _Refused('numpy.ndarray(...): numpy pickles an array with '
                       '_reconstruct')

    def __setstate__(self, state: Any) -> None:
        if hasattr(self, 'array') or not (type(state) is tuple
                                          and len(state) == 5):
            raise _Refused('a numpy array state other than (1, shape, '
                           'dtype, fortran order, bytes)')
        version, shape, dtype, fortran, data = state
        dtype = _dtype_of(dtype)
        if not (_is(version, 1) and type(shape) is tuple
                and all(type(n) is int and n >= 0 for n in shape)
                and type(fortran) is bool and type(data) is bytes
                and len(data) == math.prod(shape) * dtype.itemsize):
            raise _Refused('a numpy array state other than (1, shape, '
                           'dtype, fortran order, exactly its bytes)')
        array = np.empty(0, np.int8)
        array.__setstate__((1, shape, dtype, fortran, data))
        self.array = array


def _array_of(value: Any) -> np.ndarray:
    """The array an :class:`_ArrayState` holds."""
    if type(value) is not _ArrayState or not hasattr(value, 'array'):
        raise _Refused('a numpy array without its data')
    return value.array


def _reconstruct(*args: Any) -> _ArrayState:
    """``numpy._core.multiarray._reconstruct``: only numpy's own
    ``_reconstruct(ndarray, (0,), b'b')``."""
    if not (len(args) == 3 and args[0] is _ArrayState
            and _is(args[1:], ((0, ), b'b'))):
        raise _Refused(f'_reconstruct({_shown_args(args)}); numpy pickles '
                       "an array as _reconstruct(ndarray, (0,), b'b')")
    return object.__new__(_ArrayState)


def _scalar(*args: Any) -> np.generic:
    """``numpy._core.multiarray.scalar``: a numeric scalar from its
    bytes."""
    dtype = _dtype_of(args[0] if args else None)
    if not (len(args) == 2 and type(args[1]) is bytes
            and len(args[1]) == dtype.itemsize):
        raise _Refused('a numpy scalar other than (dtype, its bytes)')
    return np.frombuffer(args[1], dtype)[0]


class _HistoryBufferState(HistoryBuffer):
    """MMEngine's ``HistoryBuffer`` in a checkpoint: rebuilt from its state
    only, then a plain ``HistoryBuffer``."""

    def __init__(self, *args, **kwargs):
        raise _Refused('HistoryBuffer(...): a checkpoint only rebuilds a '
                       'HistoryBuffer from its state')

    def __setstate__(self, state: Any) -> None:
        keys = set(state) if type(state) is dict else set()
        methods = state.get('statistics_methods', {}) if keys else None
        if not (_HISTORY_KEYS <= keys <= _HISTORY_KEYS | {'statistics_methods'}
                and type(state['max_length']) is int
                and type(methods) is dict and all(
                    type(name) is str and name in _STATISTICS
                    and method is getattr(HistoryBuffer, name)
                    for name, method in methods.items())):
            raise _Refused('a HistoryBuffer state other than max_length, '
                           '_log_history, _count_history and its own '
                           f'statistics_methods {_STATISTICS}')
        logs, counts = (_array_of(state[key])
                        for key in ('_log_history', '_count_history'))
        if logs.ndim != 1 or logs.shape != counts.shape:
            raise _Refused('a HistoryBuffer whose histories are not two 1-D '
                           'arrays of one length')
        self.__class__ = HistoryBuffer
        HistoryBuffer.__setstate__(
            self, dict(max_length=state['max_length'], _log_history=logs,
                       _count_history=counts, statistics_methods=methods))


def _history_buffer_statistic(*args: Any) -> Any:
    """``builtins.getattr`` in a checkpoint: only ``getattr(HistoryBuffer,
    name)`` for its statistics, as pickle protocol 2 writes the methods in
    ``statistics_methods``."""
    if not (len(args) == 2 and args[0] is _HistoryBufferState
            and type(args[1]) is str and args[1] in _STATISTICS):
        raise _Refused(f'getattr({_shown_args(args)}); a checkpoint only '
                       'needs getattr(HistoryBuffer, NAME) for NAME in '
                       f"{', '.join(_STATISTICS)}")
    return getattr(HistoryBuffer, args[1])


#: Globals an MMEngine checkpoint needs beyond torch's defaults: the name a
#: pickle gives and the stand-in the unpickler gets instead of the real one
#: (see the module docstring).  numpy 1 wrote ``numpy.core.multiarray``.
SAFE_GLOBALS = [
    (_history_buffer_statistic, 'builtins.getattr'),
    (_HistoryBufferState, 'mmengine.logging.history_buffer.HistoryBuffer'),
    (_DTypeState, 'numpy.dtype'),
    (_ArrayState, 'numpy.ndarray'),
] + [(function, f'numpy.{core}.multiarray.{name}')
     for core in ('_core', 'core')
     for function, name in ((_reconstruct, '_reconstruct'),
                            (_scalar, 'scalar'))]


def _shown_args(args: tuple) -> str:
    """Arguments a pickle gave, for a message: plain data as it is, a
    stand-in as the global it stands for, anything else by its type (no
    method of a pickle's object is called)."""
    shown = []
    for value in args:
        names = [name for stand_in, name in SAFE_GLOBALS if value is stand_in]
        if type(value) in (str, int, bytes, bool, type(None)):
            shown.append(repr(value))
        elif type(value) is tuple:
            shown.append(f'({_shown_args(value)}{"," * (len(value) == 1)})')
        else:
            shown.append(names[0].rpartition('.')[2] if names else
                         f'a {type(value).__name__} object')
    return ', '.join(shown)


def _unwrap(value: Any, done: Dict[int, tuple]) -> Any:
    """``value`` with the stand-ins in its dicts, lists and tuples replaced
    by the dtypes and arrays they hold (in place, but tuples); ``done``:
    id of each container seen -> (the container, its result)."""
    if type(value) is _ArrayState:
        return _array_of(value)
    if type(value) is _DTypeState:
        return _dtype_of(value)
    if type(value) is _HistoryBufferState:
        raise _Refused('a HistoryBuffer without its state')
    if not isinstance(value, (dict, list, tuple)):
        return value
    if id(value) not in done:
        done[id(value)] = (value, value)
        if isinstance(value, dict):
            for key, item in list(value.items()):
                value[key] = _unwrap(item, done)
        elif type(value) is list:
            value[:] = [_unwrap(item, done) for item in value]
        elif type(value) is tuple:
            done[id(value)] = (value, tuple(_unwrap(item, done)
                                            for item in value))
    return done[id(value)][1]


_TRUSTED_FILES: Set[str] = set()


class UntrustedCheckpointError(pickle.UnpicklingError):
    """A checkpoint is a complete pickle that needs more than
    :data:`SAFE_GLOBALS` allows: another global or another use of one."""


class CorruptCheckpointError(ValueError):
    """A checkpoint file is not complete: empty, cut off or damaged."""


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


def _check_pickles(filename: str) -> None:
    """Raise if the pickle data of ``filename`` is malformed (cut off,
    unknown opcodes, a stack or memo used wrongly; a zip record with the
    wrong CRC), without unpickling it."""
    if zipfile.is_zipfile(filename):
        with zipfile.ZipFile(filename) as archive:
            records = [name for name in archive.namelist()
                       if name.rpartition('/')[2] == 'data.pkl']
            if not records:
                raise ValueError('the zip archive has no data.pkl record')
            pickletools.dis(archive.read(records[0]), out=io.StringIO())
        return
    with open(filename, 'rb') as f:
        # torch's legacy format: magic number, protocol, system info, the
        # object, the storage keys; then the raw storages
        for _ in range(5):
            pickletools.dis(f, out=io.StringIO())


def _damage(filename: str, err: Exception) -> Optional[str]:
    """Why ``filename``, which ``torch.load`` failed on with ``err``, is
    not a complete checkpoint; None if it looks complete."""
    size = osp.getsize(filename)
    if size == 0:
        return 'the file is empty (0 bytes)'
    if isinstance(err, EOFError):
        return f'its data ends too early ({size} bytes)'
    if 'PytorchStreamReader failed' in str(err):  # torch's zip reader
        reason = str(err).split('. This is an internal miniz error')[0]
        return f'{reason} ({size} bytes)'
    try:
        _check_pickles(filename)
    except Exception as bad:  # any way a malformed pickle fails
        return f'its pickle data is malformed ({bad}; {size} bytes)'
    return None


def _refusal(err: pickle.UnpicklingError) -> str:
    """What torch's weights-only unpickler refused, from its message."""
    text = str(err).split('WeightsUnpickler error:')[-1]
    text = text.split('Check the documentation of torch.load')[0].strip()
    found = re.search(r'GLOBAL (\S+) (was not an allowed|whose module)', text)
    if found:
        return f'needs the global {found[1]}'
    found = re.search(r'Unsupported operand (\d+)', text)
    opcode = found and pickletools.code2op.get(chr(int(found[1])))
    if opcode:
        return (f'uses the pickle opcode {opcode.name} of pickle protocol '
                f'{opcode.proto}, which the safe loader does not read '
                '(torch.save writes protocol 2 unless given '
                '`pickle_protocol`)')
    return f'does what the safe loader does not allow ({text})'


def load_checkpoint_file(filename: str, map_location=None,
                         mmap: bool = False):
    """``torch.load`` with ``weights_only=True`` plus :data:`SAFE_GLOBALS`.

    ``mmap=True`` maps the tensors instead of reading them: a cheap check
    that a file is complete (see ``find_resumable_checkpoint``).  Files in
    torch's legacy format (not a zip archive), which torch cannot map, are
    read.

    Raises:
        FileNotFoundError: the file does not exist.
        CorruptCheckpointError: the file is empty, cut off or damaged; the
            message names it.
        UntrustedCheckpointError: the file needs another global, or another
            use of one; the message names it and says how to vouch for the
            file.
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
    mmap = mmap and zipfile.is_zipfile(filename)
    try:
        with torch.serialization.safe_globals(SAFE_GLOBALS):
            checkpoint = torch.load(filename, map_location=map_location,
                                    mmap=mmap, weights_only=True)
        return _unwrap(checkpoint, {})
    except Exception as err:  # first: is the file complete?
        damage = _damage(filename, err)
        if damage is not None:
            raise CorruptCheckpointError(
                f'Checkpoint {filename!r} is incomplete or corrupt: '
                f'{damage}. A copy or download that did not finish, or a '
                'save that was cut short, leaves such a file; use another '
                'checkpoint or copy this one again.') from None
        if isinstance(err, _Refused):
            reason = f'asks for {err}'
        elif isinstance(err, RecursionError):  # from _unwrap
            reason = 'nests its data too deeply'
        elif isinstance(err, pickle.UnpicklingError):
            reason = _refusal(err)
        else:
            raise
    raise UntrustedCheckpointError(
        f'Refused to load {filename!r}: it {reason}. Plain MMEngine '
        'checkpoints never do, and loading the file as a full pickle could '
        'run code from it. If you made this file or trust its source, pass '
        f'`--trust-checkpoint {filename}` to the tool (tools/train.py, '
        'tools/test.py, ...) or add it to `trusted_checkpoints` in the '
        'config.')


def _load_from_local(filename: str, map_location=None):
    return load_checkpoint_file(filename, map_location)


def _load_from_http(url: str, map_location=None,
                    model_dir: Optional[str] = None,
                    progress: bool = os.isatty(0)):
    """MMEngine's ``http(s)://`` loader (also behind ``torchvision://``,
    ``open-mmlab://`` and ``mmcls://``), which unpickles the download in
    full: download into torch.hub's cache (rank 0 first), then
    :func:`load_checkpoint_file`."""
    model_dir = model_dir or osp.join(torch.hub.get_dir(), 'checkpoints')
    cached = osp.join(model_dir, osp.basename(urlparse(url).path))
    rank, world_size = get_dist_info()
    if rank == 0 and not osp.isfile(cached):
        os.makedirs(model_dir, exist_ok=True)
        torch.hub.download_url_to_file(url, cached, progress=progress)
    if world_size > 1:
        torch.distributed.barrier()
    return load_checkpoint_file(cached, map_location)


CheckpointLoader.register_scheme(prefixes='', loader=_load_from_local,
                                 force=True)
CheckpointLoader.register_scheme(prefixes=('http://', 'https://'),
                                 loader=_load_from_http, force=True)
mmengine_checkpoint.load_from_http = _load_from_http  # the other schemes'

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
                         '; mmssl_kd configs must be plain and '
                         'self-contained.')


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

