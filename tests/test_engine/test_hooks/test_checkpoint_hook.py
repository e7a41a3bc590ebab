"""Crash-safe checkpoints (mmssl_kd's CheckpointHook) and the choice of the
checkpoint ``tools/train.py --resume`` resumes from.

The end-to-end test kills a real ``tools/train.py`` with SIGKILL while it
writes a checkpoint, then resumes it; the unit tests check the same with a
save that fails in-process, and the fallbacks of
:func:`find_resumable_checkpoint`.
"""
import errno
import os
import re
import signal
import subprocess
import sys
from pathlib import Path
from typing import List

import pytest
import torch
import torch.nn as nn
from mmengine.fileio import LocalBackend
from mmengine.hooks import CheckpointHook as MMEngineCheckpointHook
from mmengine.model import BaseModel
from mmengine.registry import HOOKS, DefaultScope
from mmengine.runner import Runner
from torch.utils.data import DataLoader

from mmssl_kd.compat import load_checkpoint_file
from mmssl_kd.engine.hooks import (
    CheckpointHook,
    checkpoint_hook,
    find_resumable_checkpoint,
)

REPO = Path(__file__).resolve().parents[3]
DEMO = REPO / 'configs' / 'selfsup' / \
    'mocov3_resnet20-cifar_1xb256-coslr-1e_cifar10-demo.py'

# The demo recipe as it is (CIFAR ResNet-20 MoCo v3, LARS), on the tiny
# image folder: batch 2 (4 iterations an epoch), 3 epochs, no kNN monitor,
# only the newest checkpoint kept, so that MMEngine's own hook would delete
# epoch_1.pth before writing epoch_2.pth.
TINY_CONFIG = """
_base_ = {demo!r}
train_dataloader = dict(batch_size=2, num_workers=0, persistent_workers=False,
                        pin_memory=False, dataset=dict(data_root={data!r}))
train_cfg = dict(max_epochs=3)
custom_hooks = []
default_hooks = dict(checkpoint=dict(max_keep_ckpts=1),
                     logger=dict(interval=1))
"""
# The same run, killed (SIGKILL, as by the OOM killer or a cluster's
# preemption) half-way through writing the bytes of the epoch-2 checkpoint
# to disk, wherever the hook writes them.
KILLED_CONFIG = """
_base_ = './tiny.py'
custom_imports = dict(imports=['kill_during_save'],
                      allow_failed_imports=False)
"""
KILL_MODULE = """
import os
import signal

from mmengine.fileio import LocalBackend

_put = LocalBackend.put


def put(self, obj, filepath):
    if 'epoch_2.pth' in os.path.basename(str(filepath)):
        with open(filepath, 'wb') as f:
            f.write(obj[:len(obj) // 2])
            f.flush()
            os.fsync(f.fileno())
        os.kill(os.getpid(), signal.SIGKILL)
    _put(self, obj, filepath)


LocalBackend.put = put
"""


def train(args: List[str], cwd: Path) -> subprocess.CompletedProcess:
    """``tools/train.py`` as a user runs it, one thread (small machines)."""
    env = dict(os.environ, OMP_NUM_THREADS='1',
               PYTHONPATH=os.pathsep.join([str(REPO), str(cwd)]))
    return subprocess.run(
        [sys.executable, str(REPO / 'tools' / 'train.py'), *args], cwd=cwd,
        env=env, capture_output=True, text=True,
        timeout=600)  # a hang guard, not a speed check


def temp_files(folder: Path) -> List[str]:
    return sorted(p.name for p in folder.iterdir() if '.tmp-' in p.name)


def test_killed_during_save_resumes_from_previous(tmp_path,
                                                  tiny_image_folder):
    (tmp_path / 'tiny.py').write_text(TINY_CONFIG.format(
        demo=str(DEMO), data=str(tiny_image_folder)))
    (tmp_path / 'killed.py').write_text(KILLED_CONFIG)
    (tmp_path / 'kill_during_save.py').write_text(KILL_MODULE)
    work = tmp_path / 'work'

    run = train(['killed.py', '--work-dir', 'work'], tmp_path)
    assert run.returncode == -signal.SIGKILL, run.stdout[-2000:] + \
        run.stderr[-3000:]
    # killed inside the write: half a file, under a temporary name only
    temps = temp_files(work)
    assert len(temps) == 1 and temps[0].startswith('.epoch_2.pth.tmp-')
    assert not (work / 'epoch_2.pth').exists()
    previous = load_checkpoint_file(str(work / 'epoch_1.pth'))
    assert previous['meta']['epoch'] == 1 and previous['meta']['iter'] == 4
    assert (work / 'last_checkpoint').read_text().endswith('epoch_1.pth')
    assert find_resumable_checkpoint(str(work)) == str(work / 'epoch_1.pth')

    run = train(['tiny.py', '--work-dir', 'work', '--resume'], tmp_path)
    log = run.stdout + run.stderr
    assert run.returncode == 0, log[-4000:]
    assert 'resumed epoch: 1' in log
    assert 'Epoch(train) [1]' not in log  # epoch 1 was not trained again
    assert 'an incomplete file left by an interrupted save' in log
    final = load_checkpoint_file(str(work / 'epoch_3.pth'))
    assert final['meta']['epoch'] == 3 and final['meta']['iter'] == 12
    assert all(torch.isfinite(v).all() for v in final['state_dict'].values()
               if v.is_floating_point())
    assert temp_files(work) == []
    assert sorted(p.name for p in work.glob('*.pth')) == ['epoch_3.pth']


# ---------------------------------------------------------------------------
# in-process: a toy model, an iteration-based Runner


class Toy(BaseModel):

    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(4, 2)

    def forward(self, inputs, data_samples=None, mode='tensor'):
        out = self.linear(inputs)
        return {'loss': out.pow(2).mean()} if mode == 'loss' else out


def toy_runner(work_dir: Path, max_iters: int, **kwargs) -> Runner:
    data = [dict(inputs=torch.randn(4)) for _ in range(4)]
    return Runner(
        model=Toy(), work_dir=str(work_dir),
        experiment_name=f'atomic_{work_dir.name}_{max_iters}',
        train_dataloader=DataLoader(data, batch_size=2),
        train_cfg=dict(by_epoch=False, max_iters=max_iters),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.1)),
        default_hooks=dict(checkpoint=dict(
            type='CheckpointHook', interval=1, by_epoch=False,
            max_keep_ckpts=1)),
        default_scope='mmssl_kd', log_level='WARNING', **kwargs)


def test_registered_under_mmengine_name():
    with DefaultScope.overwrite_default_scope('mmssl_kd'):
        hook = HOOKS.build(dict(type='CheckpointHook', interval=1))
    assert type(hook) is CheckpointHook
    assert isinstance(hook, MMEngineCheckpointHook)


def test_failed_save_keeps_previous_checkpoint(tmp_path, monkeypatch):
    """A save that dies half-way (here: an exception after half the bytes)
    leaves the previous checkpoint, even with max_keep_ckpts=1."""
    put = LocalBackend.put

    def half_then_fail(self, obj, filepath):
        if 'iter_3.pth' in os.path.basename(str(filepath)):
            Path(filepath).write_bytes(obj[:len(obj) // 2])
            raise OSError('No space left on device')
        put(self, obj, filepath)

    monkeypatch.setattr(LocalBackend, 'put', half_then_fail)
    with pytest.raises(OSError, match='No space left'):
        toy_runner(tmp_path, max_iters=4).train()
    assert sorted(p.name for p in tmp_path.glob('*.pth')) == ['iter_2.pth']
    assert temp_files(tmp_path) == []  # the half file is removed
    assert load_checkpoint_file(str(tmp_path / 'iter_2.pth'))['meta'][
        'iter'] == 2
    assert find_resumable_checkpoint(str(tmp_path)) == str(
        tmp_path / 'iter_2.pth')


@pytest.mark.parametrize('failing', ['checkpoint', 'last_checkpoint'])
def test_full_disk_names_the_file_and_the_kept_checkpoint(
        tmp_path, monkeypatch, failing):
    """ENOSPC while writing the checkpoint of iteration 3, or the record
    that names it: the error names the file, the free space and the
    previous checkpoint, which stays the one to resume from."""
    if failing == 'checkpoint':
        put = LocalBackend.put

        def full(self, obj, filepath):
            if 'iter_3.pth' in os.path.basename(str(filepath)):
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            put(self, obj, filepath)

        monkeypatch.setattr(LocalBackend, 'put', full)
        path = tmp_path / 'iter_3.pth'
    else:
        write = checkpoint_hook.atomic_write_text

        def full(path, text):
            if text.endswith('iter_3.pth'):
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            write(path, text)

        monkeypatch.setattr(checkpoint_hook, 'atomic_write_text', full)
        path = tmp_path / 'last_checkpoint'
    with pytest.raises(OSError) as err:
        toy_runner(tmp_path, max_iters=4).train()
    assert err.value.errno == errno.ENOSPC
    message = str(err.value)
    assert message.startswith(f'[Errno {errno.ENOSPC}] Could not write '
                              f'{path}: No space left on device (')
    assert re.search(r'\(\d+\.\d [GM]iB free on the file system of '
                     f'{re.escape(str(tmp_path))}\\)', message)
    assert (f'The previous checkpoint, {tmp_path / "iter_2.pth"}, is '
            'intact, and `last_checkpoint` still names it.') in message
    assert 'max_keep_ckpts' in message and '--resume' in message
    assert temp_files(tmp_path) == []
    assert (tmp_path / 'last_checkpoint').read_text() == str(
        tmp_path / 'iter_2.pth')
    assert find_resumable_checkpoint(str(tmp_path)) == str(
        tmp_path / 'iter_2.pth')


def test_resume_cleans_stray_temp_file(tmp_path):
    toy_runner(tmp_path, max_iters=2).train()
    stray = tmp_path / '.iter_3.pth.tmp-12345'
    stray.write_bytes(b'half a checkpoint')
    assert find_resumable_checkpoint(str(tmp_path)) == str(
        tmp_path / 'iter_2.pth')
    runner = toy_runner(tmp_path, max_iters=3, resume=True,
                        load_from=str(tmp_path / 'iter_2.pth'))
    runner.train()
    assert runner.iter == 3 and not stray.exists()
    assert sorted(p.name for p in tmp_path.glob('*.pth')) == ['iter_3.pth']
    assert (tmp_path / 'last_checkpoint').read_text() == str(
        tmp_path / 'iter_3.pth')


def test_replacing_an_older_runs_checkpoint_is_logged(tmp_path):
    toy_runner(tmp_path, max_iters=1).train()
    toy_runner(tmp_path, max_iters=2).train()  # no --resume: starts again
    log = ''.join(p.read_text() for p in tmp_path.glob('*/*.log'))
    assert log.count('Replacing') == 1
    assert f'Replacing {tmp_path / "iter_1.pth"}, which an earlier run' in log


def save(path: Path, it: int, complete: bool = True) -> Path:
    torch.save({'meta': {'iter': it}, 'state_dict': {'w': torch.ones(64)}},
               path)
    if not complete:
        path.write_bytes(path.read_bytes()[:200])
    return path


def test_find_falls_back_to_newest_loadable(tmp_path):
    assert find_resumable_checkpoint(str(tmp_path / 'none')) is None
    assert find_resumable_checkpoint(str(tmp_path)) is None  # empty dir
    save(tmp_path / 'iter_1.pth', 1)
    save(tmp_path / 'iter_2.pth', 2)
    save(tmp_path / 'iter_3.pth', 3, complete=False)
    save(tmp_path / '.iter_4.pth.tmp-7', 4)  # never a candidate
    # no last_checkpoint (deleted, or a run of another tool)
    assert find_resumable_checkpoint(str(tmp_path)) == str(
        tmp_path / 'iter_2.pth')
    record = tmp_path / 'last_checkpoint'
    record.write_text(str(tmp_path / 'iter_1.pth'))  # complete: taken
    assert find_resumable_checkpoint(str(tmp_path)) == str(
        tmp_path / 'iter_1.pth')
    record.write_text(str(tmp_path / 'iter_3.pth'))  # truncated
    assert find_resumable_checkpoint(str(tmp_path)) == str(
        tmp_path / 'iter_2.pth')
    record.write_text('/moved/work_dir/iter_9.pth')  # missing
    assert find_resumable_checkpoint(str(tmp_path)) == str(
        tmp_path / 'iter_2.pth')


def test_find_refuses_when_nothing_loads(tmp_path):
    save(tmp_path / 'epoch_1.pth', 1, complete=False)
    with pytest.raises(FileNotFoundError, match='none of the checkpoints'):
        find_resumable_checkpoint(str(tmp_path))
    (tmp_path / 'epoch_1.pth').unlink()
    (tmp_path / 'last_checkpoint').write_text(str(tmp_path / 'epoch_1.pth'))
    with pytest.raises(FileNotFoundError, match='Delete .*last_checkpoint'):
        find_resumable_checkpoint(str(tmp_path))
