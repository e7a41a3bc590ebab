"""What every command-line tool does with a config and a checkpoint."""
import argparse
import ast
import contextlib
import difflib
import glob
import inspect
import json
import logging
import os.path as osp
import re
import warnings
from collections import OrderedDict
from typing import Any, Dict, Iterable, Iterator, List, Optional

import torch
from mmengine.config import Config, DictAction
from mmengine.hooks import CheckpointHook, EMAHook
from mmengine.logging import MMLogger
from mmengine.model import is_model_wrapper
from mmengine.registry import HOOKS, MODELS, DefaultScope
from mmengine.runner import Runner
from torch import nn
from torch.utils.data import DataLoader

from mmssl_kd.compat import (
    check_config_file,
    load_checkpoint_file,
    trust_checkpoints,
)

#: Top-level config keys read outside ``Runner.__init__``'s arguments: by
#: the Runner from the config itself, and by this project.
_OTHER_TOP_LEVEL_KEYS = ('model_wrapper_cfg', 'sync_bn',
                         'find_unused_parameters', 'compile',
                         'activation_checkpointing', 'efficient_conv_bn_eval',
                         'runner_type', 'trusted_checkpoints', 'speed_cfg',
                         'vis_backends', 'allow_schedule_change')
#: The logging backends of ``configs/_base_/default_runtime.py``.
DEFAULT_VIS_BACKENDS = [dict(type='LocalVisBackend')]
_UNEXPECTED_ARGUMENT = re.compile(
    r"(\w+)\.__init__\(\) got an unexpected keyword argument '(\w+)'")
#: What MMEngine 0.10.7's ``CheckpointHook`` passes to
#: ``Runner.save_checkpoint`` itself, besides its ``**kwargs``.
_PASSED_BY_CHECKPOINT_HOOK = ('out_dir', 'filename', 'file_client_args',
                              'save_optimizer', 'save_param_scheduler',
                              'meta', 'by_epoch', 'backend_args')
#: Dataloader keys that ``Runner.build_dataloader`` reads itself, besides
#: ``DataLoader``'s arguments.
_DATALOADER_EXTRAS = ('num_batch_per_epoch', 'disable_subprocess_warning')
#: The keys of ``env_cfg``, as ``Runner.setup_env`` reads them.
_ENV_CFG_KEYS = ('cudnn_benchmark', 'mp_cfg', 'dist_cfg', 'resource_limit')


class ConfigOptionsAction(DictAction):
    """MMEngine's ``DictAction`` (``--cfg-options KEY=VALUE ...``), keeping
    the spaces inside a value.

    MMEngine deletes every space of a value before parsing it, so
    ``load_from="/x/my ckpt.pth"`` silently became ``/x/myckpt.pth``.  Here
    only the spaces at the ends of a value and around the brackets and
    commas of a list or tuple go; the others stay in the strings they are
    part of.  Numbers, ``True``/``False``, ``None``, lists, tuples and
    quotes parse as in MMEngine.
    """

    _AROUND_SEPARATORS = re.compile(r' *([,()\[\]]) *')
    _SPACE = '\0'  # stands for a kept space; no command-line value holds it

    @staticmethod
    def _parse_iterable(val: str) -> Any:
        spaced = ConfigOptionsAction._AROUND_SEPARATORS.sub(r'\1',
                                                           val.strip(' '))
        return ConfigOptionsAction._restore_spaces(DictAction._parse_iterable(
            spaced.replace(' ', ConfigOptionsAction._SPACE)))

    @staticmethod
    def _restore_spaces(value: Any) -> Any:
        if isinstance(value, str):
            return value.replace(ConfigOptionsAction._SPACE, ' ')
        if isinstance(value, (list, tuple)):
            return type(value)(ConfigOptionsAction._restore_spaces(v)
                               for v in value)
        return value


def add_config_arguments(parser: argparse.ArgumentParser) -> None:
    """``--cfg-options`` and ``--trust-checkpoint``, as every tool has them."""
    parser.add_argument(
        '--cfg-options', nargs='+', action=ConfigOptionsAction,
        metavar='KEY=VALUE',
        help='override config values, e.g. train_cfg.max_epochs=10 '
        'optim_wrapper.optimizer.lr=0.1 (a list: key="[a,b]"; quote a value '
        'with spaces: "load_from=/x/my ckpt.pth")')
    add_trust_argument(parser)


def add_trust_argument(parser: argparse.ArgumentParser) -> None:
    """``--trust-checkpoint PATH``: files :func:`mmssl_kd.compat.
    trust_checkpoints` lets load as full pickles (the tools without a
    config pass ``args.trust_checkpoint`` to it themselves)."""
    parser.add_argument(
        '--trust-checkpoint', action='append', default=[], metavar='PATH',
        help='load this checkpoint as a full pickle (it may run code); only '
        'for files you made or trust. Repeat for several files; the config '
        'key `trusted_checkpoints` adds more')


def add_allow_missing_argument(parser: argparse.ArgumentParser) -> None:
    """``--allow-missing``, of every tool that evaluates a checkpoint with
    a config's model (see :func:`checkpoint_state_dict`)."""
    parser.add_argument(
        '--allow-missing', action='store_true',
        help="load a checkpoint whose keys do not match the config's model "
        'all the same: the tensors that fit, the others left as built '
        '(printed). By default such a checkpoint stops the tool')


def add_model_comparison_arguments(parser: argparse.ArgumentParser,
                                   shown_as: str,
                                   num_per_class: int) -> None:
    """The options of the tools that compare models on an image subset
    (``--model LABEL CONFIG CHECKPOINT`` repeated, the subset, the
    loader), plus :func:`add_allow_missing_argument` and
    :func:`add_config_arguments`."""
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
    add_allow_missing_argument(parser)
    add_config_arguments(parser)


def load_config(path: str,
                cfg_options: Optional[dict] = None,
                work_dir: Optional[str] = None,
                launcher: str = 'none',
                trusted: Iterable[str] = ()) -> Config:
    """Read ``path``, apply ``--cfg-options`` (a custom hook addressed by
    its type, :func:`named_hook_options`) and the common tool settings.

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
        cfg.merge_from_dict(named_hook_options(cfg, cfg_options))
    cfg.launcher = launcher
    if work_dir is not None:
        cfg.work_dir = work_dir
    elif cfg.get('work_dir') is None:
        name = osp.splitext(osp.basename(path))[0]
        cfg.work_dir = osp.join('work_dirs', name)
    trust_checkpoints(list(trusted) +
                      list(cfg.get('trusted_checkpoints', None) or []))
    warn_misspelled_top_level_keys(cfg)
    return cfg


def hook_name(hook: Any) -> str:
    """The name a ``custom_hooks`` entry is addressed by: its type without
    a scope (``'KNNHook'`` for ``'mmssl_kd.KNNHook'``)."""
    kind = hook.get('type', '') if isinstance(hook, dict) else ''
    return kind.rsplit('.', 1)[-1] if isinstance(kind, str) \
        else getattr(kind, '__name__', '')


def named_hook_options(cfg: Config, options: dict) -> dict:
    """``options`` with each ``custom_hooks.<Type>[.key...]`` key turned
    into ``custom_hooks.<index>[.key...]`` for the one entry of that type
    (:func:`hook_name`), e.g. ``custom_hooks.KNNHook.interval=1``: the
    index differs between configs (a GLSD config's first hook is not its
    kNN monitor).  Index keys pass unchanged.

    Raises:
        KeyError: no entry, or several entries, of that type.
    """
    hooks = cfg.get('custom_hooks') or []
    names = [hook_name(hook) for hook in hooks]
    out = {}
    for key, value in options.items():
        head, _, rest = key.partition('.')
        name, dot, tail = rest.partition('.')
        if head == 'custom_hooks' and name and not name.isdigit():
            found = [i for i, known in enumerate(names) if known == name]
            if len(found) != 1:
                how = ('has several' if found else 'has no') + \
                    f' {name} (its custom_hooks: {names})'
                raise KeyError(
                    f'--cfg-options {key}: the config {how}. Address a '
                    'custom hook by its type when the config has exactly '
                    'one of that type, else by its index '
                    '(custom_hooks.0.interval=1).')
            key = f'custom_hooks.{found[0]}{dot}{tail}'
        out[key] = value
    return out


#: What ``tools/train.py --smoke`` trains: iterations, the training batch
#: per process (at most), the batch of every other dataloader (at most,
#: one batch each) and data workers (at most) per dataloader.
SMOKE_ITERS = 2
SMOKE_BATCH = 8
SMOKE_EVAL_BATCH = 32
SMOKE_WORKERS = 2


def _smoke_loader(loader: dict, batch: int, batches: int) -> None:
    loader['batch_size'] = min(loader.get('batch_size', 1), batch)
    loader['num_batch_per_epoch'] = batches
    if loader.get('num_workers'):
        loader['num_workers'] = min(loader['num_workers'], SMOKE_WORKERS)


def smoke_config(cfg: Config) -> str:
    """Shrink ``cfg`` in place to a smoke run, whatever the recipe: the
    training dataloader gives :data:`SMOKE_ITERS` batches of at most
    :data:`SMOKE_BATCH` (MMEngine's ``num_batch_per_epoch``: the first
    samples of the dataset), in one epoch (or :data:`SMOKE_ITERS`
    iterations of an iteration-based loop); the validation dataloader and
    the dataloaders of the custom hooks (the kNN bank and queries) give one
    batch of at most :data:`SMOKE_EVAL_BATCH`; every dataloader has at most
    :data:`SMOKE_WORKERS` workers; the run writes one checkpoint, at its
    end, and logs every iteration.  Returns one line that says what
    changed."""
    train = cfg.train_dataloader
    _smoke_loader(train, SMOKE_BATCH, SMOKE_ITERS)
    by_epoch = 'max_epochs' in cfg.train_cfg
    if by_epoch:
        cfg.train_cfg.max_epochs = 1
        cfg.train_cfg.pop('val_begin', None)
        length = (f'1 epoch of {SMOKE_ITERS} iterations '
                  '(train_dataloader.num_batch_per_epoch)')
    else:
        cfg.train_cfg.max_iters = SMOKE_ITERS
        cfg.train_cfg.val_interval = SMOKE_ITERS
        length = f'{SMOKE_ITERS} iterations'
    changes = [f'{length} of batch {train.batch_size} per process']
    evaluated = [('val_dataloader', cfg.get('val_dataloader'))] + [
        (f'custom_hooks.{hook_name(hook)}.{key}', value)
        for hook in cfg.get('custom_hooks') or [] if isinstance(hook, dict)
        for key, value in hook.items() if key.endswith('dataloader')]
    evaluated = [(where, loader) for where, loader in evaluated
                 if isinstance(loader, dict)]
    for _, loader in evaluated:
        _smoke_loader(loader, SMOKE_EVAL_BATCH, 1)
    if evaluated:
        changes.append(
            f'one batch of at most {SMOKE_EVAL_BATCH} in ' +
            ', '.join(where for where, _ in evaluated))
    hooks = cfg.setdefault('default_hooks', {})
    if isinstance(hooks.get('checkpoint'), dict):
        hooks['checkpoint'].update(
            interval=1 if by_epoch else SMOKE_ITERS, max_keep_ckpts=1)
        changes.append('one checkpoint')
    if isinstance(hooks.get('logger'), dict):
        hooks['logger']['interval'] = 1
    changes.append(f'at most {SMOKE_WORKERS} data workers per loader')
    return '--smoke: ' + '; '.join(changes)


#: What :func:`read_config_text` gives for a value that is not a literal.
NOT_LITERAL = object()


def _literal(node: ast.AST) -> Any:
    """The value of a literal expression node (numbers, strings, None and
    booleans, lists, tuples, dicts, ``dict(key=...)``, negated numbers), or
    :data:`NOT_LITERAL`."""
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, (ast.List, ast.Tuple)):
        items = [_literal(item) for item in node.elts]
        return items if isinstance(node, ast.List) else tuple(items)
    if isinstance(node, ast.Dict) and None not in node.keys:
        return {_literal(k): _literal(v) for k, v in zip(node.keys,
                                                        node.values)}
    if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
            and node.func.id == 'dict' and not node.args
            and all(kw.arg for kw in node.keywords)):
        return {kw.arg: _literal(kw.value) for kw in node.keywords}
    if (isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub)
            and isinstance(node.operand, ast.Constant)
            and isinstance(node.operand.value, (int, float))):
        return -node.operand.value
    return NOT_LITERAL


def read_config_text(text: str) -> Dict[str, Any]:
    """The top-level ``name = value`` assignments of a config's text (a
    checkpoint's ``meta['cfg']``), parsed without running it: a config is
    Python, and ``Config.fromstring`` would run its code and its
    ``custom_imports`` (a checkpoint's config is as untrusted as the
    checkpoint).  Values that are not literals are :data:`NOT_LITERAL`;
    text that does not parse gives ``{}``."""
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError):
        return {}
    return {target.id: _literal(node.value) for node in tree.body
            if isinstance(node, ast.Assign)
            for target in node.targets if isinstance(target, ast.Name)}


def warn_misspelled_top_level_keys(cfg: Config) -> None:
    """Warn about a top-level key that nothing reads but that is close to
    one that is read (``train_cfgg``): the Runner ignores unknown top-level
    keys, so a misspelled one silently leaves the default in place.  Keys
    far from every known one are a config's own variables
    (``view_pipeline``, ``data_root``) and pass."""
    known = [name for name in inspect.signature(Runner.__init__).parameters
             if name not in ('self', 'cfg')] + list(_OTHER_TOP_LEVEL_KEYS)
    for key in cfg.keys():
        close = difflib.get_close_matches(key, known, n=1, cutoff=0.8)
        if key not in known and close:
            warnings.warn(f'Config key `{key}` is read by nothing; did you '
                          f'mean `{close[0]}`?', stacklevel=2)


def resolve_vis_backends(cfg: Config) -> None:
    """Give a top-level ``vis_backends = [...]`` to the visualizer.

    The Runner reads only ``visualizer.vis_backends``: a child config's
    ``vis_backends = [..., dict(type='TensorboardVisBackend')]`` was
    silently ignored (the base had already copied its own list into
    ``visualizer``).  The base runtime now sets only ``visualizer``; a
    top-level list replaces the visualizer's default one.

    Raises:
        ValueError: the config sets both, differently.
    """
    backends = cfg.get('vis_backends')
    visualizer = cfg.get('visualizer')
    if backends is None or not isinstance(visualizer, dict):
        return
    current = visualizer.get('vis_backends')
    if current is None or _plain(current) in (_plain(backends),
                                              DEFAULT_VIS_BACKENDS):
        visualizer['vis_backends'] = backends
        return
    raise ValueError(
        f'The config sets vis_backends = {_plain(backends)} and '
        f'visualizer.vis_backends = {_plain(current)}; the Runner reads only '
        'the second. Set one of them (e.g. only `visualizer = dict('
        'vis_backends=[...])`); see docs/logging.md.')


def _plain(value: Any) -> Any:
    """``value`` with MMEngine's ConfigDicts as plain dicts and lists."""
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    return value


def _init_arguments(cls: type) -> List[str]:
    """The keyword arguments ``cls(...)`` takes: its ``__init__``'s, and its
    bases' as far as ``**kwargs`` hands them on."""
    names: List[str] = []
    for klass in cls.__mro__:
        if '__init__' not in vars(klass):
            continue
        try:
            params = inspect.signature(vars(klass)['__init__']).parameters
        except ValueError:  # a C constructor
            break
        names += [p.name for p in params.values() if p.name != 'self'
                  and p.name not in names and p.kind in
                  (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
        if all(p.kind != p.VAR_KEYWORD for p in params.values()):
            break
    return names


def unknown_argument_hint(err: TypeError) -> Optional[str]:
    """For ``X.__init__() got an unexpected keyword argument 'key'`` raised
    while a registry built ``X`` (or a subclass) from a config dict: which
    config dict it was, the closest valid argument (difflib) and all of
    them.  None for any other error."""
    match = _UNEXPECTED_ARGUMENT.search(str(err))
    built = None
    frame = err.__traceback__
    while frame is not None:  # the innermost registry build failed
        if frame.tb_frame.f_code.co_name == 'build_from_cfg':
            built = frame.tb_frame.f_locals.get('obj_cls')
        frame = frame.tb_next
    if not (match and inspect.isclass(built)
            and match[1] in {c.__name__ for c in built.__mro__}):
        return None
    key, name, valid = match[2], built.__name__, _init_arguments(built)
    return (f"Config key `{key}` in the dict with type='{name}' is not an "
            f'argument of {name}.{_guess(key, valid)} {name} takes: '
            f'{", ".join(valid)}.')


def _guess(key: str, valid: List[str]) -> str:
    """' Did you mean `closest`?' (difflib), or ''."""
    close = difflib.get_close_matches(key, valid, n=1, cutoff=0.6)
    return f' Did you mean `{close[0]}`?' if close else ''


def _unknown_keys(keys: Iterable[str], where: str, valid: List[str],
                  reader: str) -> List[str]:
    """One line per key not in ``valid``: the key, what does not read it
    (``reader``), the closest valid key and all of them."""
    return [f'Config key `{where}.{key}` is not read by {reader}.'
            f'{_guess(key, valid)} Valid keys: {", ".join(valid)}.'
            for key in keys if key not in valid]


def _hook_kwargs(hook: type, cfg: dict,
                 runner_cls: type) -> Optional[List[str]]:
    """The keys that the ``**kwargs`` of ``hook``'s ``__init__`` consume;
    None where unknown (such keys pass unchecked).

    MMEngine's ``CheckpointHook`` hands them to ``Runner.save_checkpoint``
    with the arguments it passes itself (so with MMEngine's Runner no key
    is left), ``EMAHook`` to its averaging model's ``__init__``.
    """
    if issubclass(hook, CheckpointHook):
        params = inspect.signature(runner_cls.save_checkpoint).parameters
        if any(p.kind == p.VAR_KEYWORD for p in params.values()):
            return None
        return [name for name in params if name != 'self'
                and name not in _PASSED_BY_CHECKPOINT_HOOK]
    if issubclass(hook, EMAHook):
        ema = cfg.get('ema_type', 'ExponentialMovingAverage')
        ema = MODELS.get(ema) if isinstance(ema, str) else ema
        return None if not inspect.isclass(ema) else [
            name for name in _init_arguments(ema) if name != 'model']
    return None


def _unknown_hook_keys(cfg: dict, where: str,
                       runner_cls: type) -> List[str]:
    """:func:`_unknown_keys` for a hook whose ``__init__`` takes
    ``**kwargs`` (the registry builds it with any key)."""
    hook = cfg.get('type')
    hook = HOOKS.get(hook) if isinstance(hook, str) else hook
    if not inspect.isclass(hook):
        return []
    consumed = _hook_kwargs(hook, cfg, runner_cls)
    if consumed is None:
        return []
    reader = hook.__name__ + (
        ' (it hands its other keys to Runner.save_checkpoint, which would '
        'fail at the first save)' if issubclass(hook, CheckpointHook) else '')
    keys = [key for key in cfg if key not in ('type', 'priority')]
    return _unknown_keys(keys, where, _init_arguments(hook) + consumed,
                         reader)


def check_config_keys(cfg: Config, runner_cls: type = Runner) -> None:
    """Refuse keys that nothing reads, before training starts.

    The registry builds a hook whose ``__init__`` takes ``**kwargs`` with
    any key (``default_hooks.checkpoint.intervl`` failed at the first save,
    after a whole epoch); ``DataLoader`` raised a bare ``TypeError`` for
    ``train_dataloader.batch_sise`` once the loop was built; the Runner
    ignores an unknown ``env_cfg`` key.  Checked: the hooks in
    ``default_hooks`` and ``custom_hooks`` (against the keys their
    ``**kwargs`` really reach, :func:`_hook_kwargs`), the train, val and
    test dataloaders and the hooks' ``*_dataloader`` dicts, and
    ``env_cfg``.  ``runner_cls`` is the Runner class that saves the
    checkpoints.

    Raises:
        ValueError: one line per unknown key, with the closest valid key
            and all of them.
    """
    hooks = [(f'default_hooks.{name}', hook) for name, hook in
             (cfg.get('default_hooks') or {}).items()]
    hooks += [(f'custom_hooks[{i}]', hook)
              for i, hook in enumerate(cfg.get('custom_hooks') or [])]
    hooks = [(where, hook) for where, hook in hooks if isinstance(hook, dict)]
    loaders = [(key, cfg.get(key)) for key in
               ('train_dataloader', 'val_dataloader', 'test_dataloader')]
    loaders += [(f'{where}.{key}', value) for where, hook in hooks
                for key, value in hook.items()
                if key.endswith('dataloader')]
    loader_keys = _init_arguments(DataLoader) + list(_DATALOADER_EXTRAS)
    problems = sum((_unknown_hook_keys(hook, where, runner_cls)
                    for where, hook in hooks), [])
    problems += sum((_unknown_keys(loader, where, loader_keys,
                                   "the Runner's dataloader")
                     for where, loader in loaders
                     if isinstance(loader, dict)), [])
    env_cfg = cfg.get('env_cfg')
    if isinstance(env_cfg, dict):
        problems += _unknown_keys(env_cfg, 'env_cfg', list(_ENV_CFG_KEYS),
                                  'the Runner (it would be ignored)')
    if problems:
        raise ValueError('\n'.join(problems))


@contextlib.contextmanager
def config_error_hints() -> Iterator[None]:
    """Add :func:`unknown_argument_hint` to a ``TypeError`` raised inside
    (building a Runner, a model, a dataset ...): Python's own message names
    the key but neither the config dict nor the valid keys."""
    try:
        yield
    except TypeError as err:
        hint = unknown_argument_hint(err)
        if hint is not None:
            err.args = (f'{err}\n{hint}', *err.args[1:])
        raise


def check_resume_checkpoint(model: nn.Module, path: str) -> None:
    """Raise ``ValueError`` if the checkpoint ``path`` holds weights of
    another model than ``model`` (wrapped or not).

    MMEngine resumes with ``strict=False``: a checkpoint written under a
    different config loads the tensors that fit, logs a warning, and then
    fails on the optimizer state or trains a half-loaded model.
    """
    from mmssl_kd.models.teachers import state_dict_mismatch
    if is_model_wrapper(model):
        model = model.module
    # mapped, not read: MMEngine reads the file again to resume
    state = load_checkpoint_file(path, 'cpu', mmap=True).get('state_dict',
                                                             {})
    mismatch = state_dict_mismatch(model.state_dict(), state, 'model',
                                   'checkpoint')
    if mismatch:
        raise ValueError(
            f'Cannot resume from {path!r}: it was written by a model of a '
            f'different config.{mismatch}\nResume with the config that '
            "wrote it (the checkpoint keeps its text in meta['cfg']), or, "
            'to start a new run from its weights (fine-tuning), drop '
            '--resume and set `load_from` (--cfg-options load_from=PATH).')


def build_model(cfg: Config) -> nn.Module:
    """Build ``cfg.model`` with the config's top-level data preprocessor (as
    the Runner does), without initialising its weights, in the config's
    registry scope (``default_scope``, ``'mmssl_kd'`` if it has none): no
    ``init_default_scope`` call is needed first."""
    from mmssl_kd.registry import MODELS  # registers the models first
    model_cfg = cfg.model.copy()
    model_cfg.setdefault('data_preprocessor', cfg.get('data_preprocessor'))
    scope = cfg.get('default_scope') or 'mmssl_kd'
    with config_error_hints(), DefaultScope.overwrite_default_scope(scope):
        return MODELS.build(model_cfg)


def checkpoint_state_dict(model: nn.Module, path: str,
                          allow_missing: bool = False,
                          mmap: bool = False) -> Dict[str, torch.Tensor]:
    """The tensors of the checkpoint ``path`` (its ``state_dict``, keys
    without a wrapper's ``module.``, as MMEngine loads them) for ``model``
    (wrapped or not), read through the safe loader (``mmap``: mapped).

    Raises:
        ValueError: the keys are not the model's (another config's
            checkpoint): the message names the missing, unexpected and
            mis-shaped keys.  With ``allow_missing`` a warning names them
            instead and only the tensors that fit are returned.
    """
    from mmssl_kd.models.teachers import state_dict_mismatch
    if is_model_wrapper(model):
        model = model.module
    checkpoint = load_checkpoint_file(path, 'cpu', mmap=mmap)
    if not isinstance(checkpoint, dict):
        raise ValueError(f'Checkpoint {path!r} holds a '
                         f'{type(checkpoint).__name__}, not a state dict')
    state = checkpoint.get('state_dict', checkpoint)
    state = OrderedDict((re.sub(r'^module\.', '', key), value)
                        for key, value in state.items())
    own = model.state_dict()
    mismatch = state_dict_mismatch(own, state, 'model', 'checkpoint')
    if mismatch and not allow_missing:
        raise ValueError(
            f"Checkpoint {path!r} does not fit the config's model:"
            f"{mismatch}\nUse the config that wrote it (the checkpoint keeps "
            "its text in meta['cfg']), or pass --allow-missing to load the "
            'tensors that fit and leave the others as built (the results '
            'are then not those of the checkpoint).')
    fitting = OrderedDict((key, value) for key, value in state.items()
                          if key in own and value.shape == own[key].shape)
    if mismatch:
        warnings.warn(
            f"--allow-missing: checkpoint {path!r} does not fit the config's "
            f'model; {len(fitting)} of its tensors are loaded, '
            f'{len(own) - len(fitting)} of the model keep the values they '
            f'were built with:{mismatch}', stacklevel=2)
    return fitting


def load_model(cfg: Config, checkpoint: str,
               allow_missing: bool = False) -> nn.Module:
    """:func:`build_model`; load ``checkpoint`` (through the safe loader,
    refusing one that does not fit unless ``allow_missing``: see
    :func:`checkpoint_state_dict`), or for ``'random'`` initialise the
    weights."""
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
        model.load_state_dict(
            checkpoint_state_dict(model, checkpoint, allow_missing),
            strict=False)  # BN counters may be missing (teachers.py)
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
