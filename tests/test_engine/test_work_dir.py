"""One training run per work dir (a lock that a killed run does not leave
behind), and no fresh run over an earlier run's checkpoints."""
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from mmssl_kd.engine import work_dir
from mmssl_kd.engine.work_dir import (
    WorkDirError,
    claim_work_dir,
    launcher_rank,
    lock_work_dir,
)

# A run that holds the lock of argv[1]; with argv[2], a forked child (a
# data worker) shares it until stdin closes.  The module is loaded from its
# file: it needs nothing but the standard library.
HOLD = f"""
import importlib.util, os, sys, time
spec = importlib.util.spec_from_file_location('m', {work_dir.__file__!r})
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
lock = module.lock_work_dir(sys.argv[1])
if len(sys.argv) > 2 and os.fork() == 0:
    sys.stdin.read()
    os._exit(0)
print('locked', flush=True)
time.sleep(600)
"""


def hold(folder: Path, worker: bool = False) -> subprocess.Popen:
    proc = subprocess.Popen(
        [sys.executable, '-c', HOLD, str(folder), *(['w'] if worker else [])],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline() == 'locked\n'
    return proc


def kill(proc: subprocess.Popen) -> None:
    proc.kill()  # SIGKILL: no clean-up of any kind
    proc.wait()
    proc.stdout.close()


def test_second_run_is_refused_until_the_first_is_killed(tmp_path):
    first = hold(tmp_path)
    try:
        with pytest.raises(WorkDirError) as err:
            claim_work_dir(str(tmp_path), resume=True, overwrite=False)
    finally:
        kill(first)
        first.stdin.close()
    message = str(err.value)
    assert f'{tmp_path} is in use by another training run: pid ' \
        f'{first.pid} on {socket.gethostname()}, started ' in message
    assert '--work-dir' in message
    lock = claim_work_dir(str(tmp_path), resume=True, overwrite=False)
    assert (tmp_path / '.train.lock').read_text().startswith(
        f'pid {os.getpid()} on {socket.gethostname()}, started ')
    lock.close()


def test_killed_run_waits_for_its_workers(tmp_path, monkeypatch):
    """The data workers of a killed run hold its lock until they end: a
    new run waits for them (here: until they end), not for a live run."""
    run = hold(tmp_path, worker=True)
    kill(run)  # the worker lives on, with the lock
    monkeypatch.setattr(work_dir, 'WORKERS_GRACE', 0)
    with pytest.raises(WorkDirError, match=f'pid {run.pid} on '):
        lock_work_dir(str(tmp_path))
    monkeypatch.undo()
    run.stdin.close()  # the worker ends
    lock_work_dir(str(tmp_path)).close()


def test_fresh_run_over_checkpoints_is_refused(tmp_path):
    (tmp_path / 'epoch_3.pth').write_bytes(b'earlier run')
    with pytest.raises(WorkDirError) as err:
        claim_work_dir(str(tmp_path), resume=False, overwrite=False)
    message = str(err.value)
    assert f'{tmp_path} holds the checkpoints of an earlier run ' \
        '(epoch_3.pth), which a fresh run would overwrite.' in message
    assert '--resume' in message and '--overwrite-checkpoints' in message
    assert (tmp_path / 'epoch_3.pth').read_bytes() == b'earlier run'
    for resume, overwrite in ((True, False), (False, True)):
        claim_work_dir(str(tmp_path), resume, overwrite).close()
    (tmp_path / 'epoch_3.pth').unlink()
    (tmp_path / 'last_checkpoint').write_text('elsewhere/epoch_3.pth')
    with pytest.raises(WorkDirError, match=r'\(last_checkpoint\)'):
        claim_work_dir(str(tmp_path), resume=False, overwrite=False)
    (tmp_path / 'last_checkpoint').unlink()
    claim_work_dir(str(tmp_path), resume=False, overwrite=False).close()


def test_only_rank_0_checks(tmp_path, monkeypatch):
    (tmp_path / 'epoch_1.pth').write_bytes(b'')
    monkeypatch.setenv('RANK', '1')
    monkeypatch.setenv('SLURM_PROCID', '0')
    assert launcher_rank('pytorch') == 1 and launcher_rank('slurm') == 0
    assert launcher_rank('none') == 0
    assert claim_work_dir(str(tmp_path), False, False, 'pytorch') is None
    with pytest.raises(WorkDirError):
        claim_work_dir(str(tmp_path), False, False, 'slurm')
