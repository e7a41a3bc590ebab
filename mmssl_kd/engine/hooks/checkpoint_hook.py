"""Checkpoints that survive a crash, and the choice of one to resume from.

MMEngine 0.10.7's ``CheckpointHook`` writes ``epoch_N.pth`` in place, so a
process killed during the write leaves a truncated file; with
``max_keep_ckpts`` it also deletes the oldest checkpoint *before* writing
the new one, and it rewrites ``last_checkpoint`` in place.  A kill at the
wrong moment can therefore leave no loadable checkpoint, and ``--resume``
then fails on the half-written file that ``last_checkpoint`` names.

:class:`CheckpointHook` is registered under MMEngine's name in the
``mmssl_kd`` scope, so every config that names ``'CheckpointHook'`` (and
the Runner's default one) gets it with nothing to write, as the project's
``DefaultOptimWrapperConstructor`` does (:mod:`mmssl_kd.engine.optimizers`).
A hook rather than a patched ``save_checkpoint``: the order of save, record
and delete is the hook's business, and it is the one place that knows all
three; MMEngine's module-level functions stay untouched.
``'mmengine.CheckpointHook'`` names the original.

:func:`find_resumable_checkpoint` is what ``tools/train.py --resume``
(auto) resumes from: the file ``last_checkpoint`` names if it loads, else
the newest loadable ``epoch_*.pth`` / ``iter_*.pth`` (with a warning).

When a run resumes from a checkpoint written with one optimizer group per
parameter into merged groups (see :mod:`mmssl_kd.param_groups`), the
hook regroups the checkpoint's parameter scheduler states to match, before
the Runner loads them.

Before each save the hook checks every parameter and buffer of the model
(:func:`~mmssl_kd.engine.optim_wrappers.raise_if_nonfinite_weights`): a
diverged model stops the run instead of being saved as a good checkpoint.
A save that fails with an ``OSError`` (``ENOSPC``: the disk is full)
raises one that names the file, the free space, and the previous
checkpoint, which is intact.
"""
import logging
import os
import os.path as osp
import re
import shutil
from typing import List, Optional, Set

from mmengine.dist import is_main_process
from mmengine.fileio import LocalBackend
from mmengine.hooks import CheckpointHook as _MMEngineCheckpointHook
from mmengine.logging import print_log
from mmengine.optim import OptimWrapper, OptimWrapperDict

from mmssl_kd.compat import UntrustedCheckpointError, load_checkpoint_file
from mmssl_kd.engine.optim_wrappers import raise_if_nonfinite_weights
from mmssl_kd.param_groups import (
    ParamGroupLayoutError,
    regroup_scheduler_states,
)
from mmssl_kd.registry import HOOKS

#: Names of the checkpoints the hook writes (``filename_tmpl`` default).
CHECKPOINT_NAME = re.compile(r'(?:epoch|iter)_(\d+)\.pth')
#: Names of the hook's temporary files (see :func:`temp_path`).
TEMP_NAME = re.compile(r'\.(?:.+\.pth|last_checkpoint)\.tmp-\d+')


def temp_path(path: str) -> str:
    """``dir/.name.tmp-<pid>``: beside ``path``, so that ``os.replace`` is a
    rename within one file system, and hidden from ``*.pth`` globs."""
    folder, name = osp.split(path)
    return osp.join(folder, f'.{name}.tmp-{os.getpid()}')


def _fsync(path: str, directory: bool = False) -> None:
    if directory and os.name != 'posix':
        return  # only POSIX can open (and sync) a directory
    fd = os.open(path, os.O_RDONLY if directory else os.O_RDWR)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def commit(temp: str, path: str) -> None:
    """Make the complete file ``temp`` appear as ``path`` in one step:
    flush it to disk, rename it over ``path``, flush the folder entry."""
    _fsync(temp)
    os.replace(temp, path)
    _fsync(osp.dirname(path) or '.', directory=True)


def atomic_write_text(path: str, text: str) -> None:
    """Write ``text`` to ``path`` so that readers see the old or the new
    content, never a part."""
    temp = temp_path(path)
    with open(temp, 'w', encoding='utf-8') as f:
        f.write(text)
    commit(temp, path)


def free_space(folder: str) -> str:
    """'12.3 GiB free on the file system of <folder>', or that it is
    unknown."""
    try:
        free = shutil.disk_usage(folder).free
    except OSError:
        return f'free space on the file system of {folder} unknown'
    size = (f'{free / 2**30:.1f} GiB' if free >= 2**30 else
            f'{free / 2**20:.1f} MiB')
    return f'{size} free on the file system of {folder}'


def is_loadable(path: str) -> bool:
    """Whether ``path`` is a complete checkpoint the safe loader can open.

    The tensors are memory-mapped, not read: a truncated file has lost the
    zip directory at its end and fails here.  A file that needs a global the
    safe loader refuses is complete: resuming from it then raises the
    loader's error, which says how to trust it.
    """
    try:
        load_checkpoint_file(path, map_location='cpu', mmap=True)
    except UntrustedCheckpointError:
        return True
    except Exception:  # any reason a file does not load: skip it
        return False
    return True


def find_resumable_checkpoint(work_dir: str) -> Optional[str]:
    """The newest complete checkpoint of a run in ``work_dir``, or ``None``
    if it has no checkpoint at all (a fresh run).

    MMEngine's ``find_latest_checkpoint`` returns whatever
    ``last_checkpoint`` names.  Here that file is taken if it loads; if it
    is missing or unreadable (a run of an older version killed during a
    save, a moved work dir, a deleted file), the newest loadable
    ``epoch_N.pth`` / ``iter_N.pth`` in the work dir (and in the named
    file's folder) is taken instead, with a warning.  Temporary files of an
    interrupted save (``.epoch_N.pth.tmp-PID``) never count.

    Raises:
        FileNotFoundError: there are checkpoints but none loads, or
            ``last_checkpoint`` names a file and there is no checkpoint at
            all; resuming cannot go on, and starting afresh might overwrite
            the user's files.
    """
    record = osp.join(work_dir, 'last_checkpoint')
    named = None
    if osp.isfile(record):
        with open(record, encoding='utf-8') as f:
            named = f.read().strip() or None
    if named is not None and is_loadable(named):
        return named

    folders = {osp.normpath(work_dir)}
    if named is not None and osp.isdir(osp.dirname(named) or '.'):
        folders.add(osp.normpath(osp.dirname(named) or '.'))
    found: List[str] = [osp.join(folder, name) for folder in folders
                        if osp.isdir(folder)
                        for name in os.listdir(folder)
                        if CHECKPOINT_NAME.fullmatch(name)]
    found.sort(key=lambda p: (int(CHECKPOINT_NAME.fullmatch(
        osp.basename(p)).group(1)), osp.getmtime(p)), reverse=True)
    if named is None:
        problem = f'{record} does not exist'
    elif not osp.exists(named):
        problem = f'{record} names {named}, which does not exist'
    else:
        problem = (f'{record} names {named}, which does not load '
                   '(incomplete or damaged)')
    for path in found:
        if is_loadable(path):
            print_log(f'{problem}; resuming from {path}, the newest '
                      'checkpoint that loads.', logger='current',
                      level=logging.WARNING)
            return path
        print_log(f'Skipping {path}: it does not load (incomplete or '
                  'damaged).', logger='current', level=logging.WARNING)
    if found:
        raise FileNotFoundError(
            f'Cannot resume: none of the checkpoints in {sorted(folders)} '
            f'loads ({", ".join(osp.basename(p) for p in found)}). Pass '
            '--resume PATH with a good checkpoint, or move these files away '
            'to start from scratch.')
    if named is not None:
        raise FileNotFoundError(
            f'Cannot resume: {problem}, and {work_dir} holds no other '
            f'checkpoint. Delete {record} to start from scratch, or pass '
            '--resume PATH.')
    print_log(f'No checkpoint to resume from in {work_dir}: starting a '
              'fresh run.', logger='current')
    return None


@HOOKS.register_module()
class CheckpointHook(_MMEngineCheckpointHook):
    """MMEngine's ``CheckpointHook`` with crash-safe saving.

    Each checkpoint is written to a temporary file beside it
    (``.epoch_N.pth.tmp-PID``), flushed to disk and renamed over its name;
    then ``last_checkpoint`` is replaced the same way; only then are
    checkpoints beyond ``max_keep_ckpts`` deleted.  A process killed at any
    point leaves the previous checkpoint and a ``last_checkpoint`` that
    names a complete file.  Temporary files an interrupted save left behind
    are deleted (with a warning) at the next save.  Replacing a checkpoint
    that this run did not write (an older run in the same work dir) is
    logged as a warning.

    Before every save (``save_best`` ones too) all parameters and buffers
    are checked, on every process: if one holds a NaN or inf the run stops
    with ``FloatingPointError`` naming it, and nothing is written.  An
    ``OSError`` while writing (``ENOSPC``: the disk is full) is raised
    again with the file's name, the free space and the previous
    checkpoint, which is left intact.

    Takes MMEngine's arguments.  On a non-local ``out_dir`` (``backend_args``
    for object storage, where a put is atomic anyway but a rename is not
    available) and for ``save_best`` checkpoints it saves as MMEngine does.
    """

    def before_train(self, runner) -> None:
        super().before_train(runner)
        self._written: Set[str] = set()  # checkpoints this run wrote

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        """Regroup the scheduler states of a checkpoint saved with one
        optimizer group per parameter to this run's merged groups
        (:func:`regroup_scheduler_states`); ``Runner.resume`` loads them
        after this, and the optimizer regroups its own state as it loads
        it."""
        wrapper = runner.optim_wrapper
        saved = checkpoint.get('optimizer')
        states = checkpoint.get('param_schedulers')
        if saved is None or states is None:
            return
        if isinstance(wrapper, OptimWrapperDict):
            parts = [(part, saved[key], states[key])
                     for key, part in wrapper.items()
                     if key in saved and key in states]
        elif isinstance(wrapper, OptimWrapper):  # not a config: built
            parts = [(wrapper, saved, states)]
        else:
            return
        for part, saved_part, states_part in parts:
            try:
                regroup_scheduler_states(part.optimizer, saved_part,
                                         states_part)
            except ParamGroupLayoutError:
                pass  # a resume fails at the optimizer's load; a
                # load_from (weights only) needs no optimizer state

    def _save_best_checkpoint(self, runner, metrics) -> None:
        """MMEngine's, after the check for non-finite weights."""
        if self.save_best:
            raise_if_nonfinite_weights(runner.model, runner.optim_wrapper,
                                       'a best checkpoint')
        super()._save_best_checkpoint(runner, metrics)

    def _save_checkpoint_with_step(self, runner, step, meta) -> None:
        """MMEngine's ``CheckpointHook._save_checkpoint_with_step``, after
        the check for non-finite weights, with the save made atomic and the
        deletion of the oldest checkpoint moved after it."""
        raise_if_nonfinite_weights(
            runner.model, runner.optim_wrapper,
            osp.join(self.out_dir, self.filename_tmpl.format(step)))
        if not isinstance(self.file_backend, LocalBackend):
            super()._save_checkpoint_with_step(runner, step, meta)
            return
        previous = runner.message_hub.get_info('last_ckpt')
        expired = None
        if self.max_keep_ckpts > 0 and not (
                self.keep_ckpt_ids and self.keep_ckpt_ids[-1] == step):
            if len(self.keep_ckpt_ids) == self.max_keep_ckpts:
                expired = self.keep_ckpt_ids.popleft()
            self.keep_ckpt_ids.append(step)
            runner.message_hub.update_info('keep_ckpt_ids',
                                           list(self.keep_ckpt_ids))
        self.last_ckpt = osp.join(self.out_dir,
                                  self.filename_tmpl.format(step))
        runner.message_hub.update_info('last_ckpt', self.last_ckpt)

        main = is_main_process()
        if main:
            self._remove_temp_files(runner)
        temp = temp_path(self.last_ckpt)
        try:
            runner.save_checkpoint(
                self.out_dir, osp.basename(temp), self.file_client_args,
                save_optimizer=self.save_optimizer,
                save_param_scheduler=self.save_param_scheduler, meta=meta,
                by_epoch=self.by_epoch, backend_args=self.backend_args,
                **self.args)
        except BaseException as err:
            if main and osp.exists(temp):
                os.remove(temp)
            if isinstance(err, OSError):
                raise self._save_error(err, self.last_ckpt, previous) \
                    from err
            raise
        if not main:  # Runner.save_checkpoint wrote on the main process only
            return
        if osp.exists(self.last_ckpt) and self.last_ckpt not in self._written:
            runner.logger.warning(
                f'Replacing {self.last_ckpt}, which an earlier run left in '
                'this work dir.')
        try:
            commit(temp, self.last_ckpt)  # fsync can meet a full disk too
        except OSError as err:
            if osp.exists(temp):
                os.remove(temp)
            raise self._save_error(err, self.last_ckpt, previous) from err
        self._written.add(self.last_ckpt)
        record = osp.join(runner.work_dir, 'last_checkpoint')
        try:
            atomic_write_text(record, self.last_ckpt)
        except OSError as err:
            raise self._save_error(err, record, previous) from err
        if expired is not None:
            path = osp.join(self.out_dir, self.filename_tmpl.format(expired))
            if osp.isfile(path):
                os.remove(path)

    def _save_error(self, err: OSError, path: str,
                    previous: Optional[str]) -> OSError:
        """``err`` (same errno) with the file being written, the free
        space, and the checkpoint that is still the last one."""
        kept = (f'The previous checkpoint, {previous}, is intact, and '
                '`last_checkpoint` still names it.' if previous else
                'No earlier checkpoint of this run exists.')
        message = (
            f'Could not write {path}: '
            f'{err.strerror or err} ({free_space(self.out_dir)}). {kept} '
            'Free some space, or write the checkpoints elsewhere '
            '(default_hooks.checkpoint.out_dir) or fewer of them '
            '(default_hooks.checkpoint.max_keep_ckpts), then resume with '
            '`tools/train.py CONFIG --resume`.')
        return OSError(err.errno, message) if err.errno else OSError(message)

    def _remove_temp_files(self, runner) -> None:
        for folder in {self.out_dir, runner.work_dir}:
            for name in os.listdir(folder) if osp.isdir(folder) else ():
                if TEMP_NAME.fullmatch(name):
                    os.remove(osp.join(folder, name))
                    runner.logger.warning(
                        f'Deleted {osp.join(folder, name)}: an incomplete '
                        'file left by an interrupted save.')
