"""One training run per work dir, and no fresh run over another's
checkpoints.

MMEngine starts a run in any work dir: two runs in one dir write the same
``epoch_N.pth`` and ``last_checkpoint`` in turn, and a fresh run replaces
the checkpoints of an earlier one (the project's CheckpointHook warns, but
only as it replaces them).  ``tools/train.py`` calls
:func:`claim_work_dir` before it builds the Runner:

- the run holds an exclusive lock on ``<work_dir>/.train.lock``
  (``fcntl.flock``) for its life; a second run into the dir stops at once,
  naming the first one's pid, host, start time and command.  The system
  drops the lock when the process ends, however it ends, so a killed run
  leaves no stale lock.  Its data workers share the lock and end seconds
  after it (torch's workers check for their parent every 5 s): a run whose
  lock holder has ended on this host waits for them, up to
  :data:`WORKERS_GRACE` seconds;
- a fresh run (not ``--resume``) stops if the dir holds checkpoints
  (``*.pth`` or ``last_checkpoint``), unless ``--overwrite-checkpoints``.

Under distributed training only global rank 0 checks and locks, before
``torch.distributed`` starts (its rank is read from the launcher's
environment); its exit makes the launcher (torchrun, ``srun
--kill-on-bad-exit``) stop the others, so no rank trains.
"""
import os
import os.path as osp
import re
import socket
import sys
import time
from typing import IO, List, Optional

try:
    import fcntl
except ImportError:  # not POSIX: no lock
    fcntl = None

#: The lock file in the work dir.
LOCK_NAME = '.train.lock'
#: Seconds to wait for the data workers of a run that has ended.
WORKERS_GRACE = 30
#: The environment variable that holds the global rank, per launcher.
RANK_VARIABLES = {'pytorch': 'RANK', 'slurm': 'SLURM_PROCID',
                  'mpi': 'OMPI_COMM_WORLD_RANK'}


class WorkDirError(RuntimeError):
    """The work dir is in use, or holds an earlier run's checkpoints."""


def launcher_rank(launcher: str) -> int:
    """This process's global rank as ``launcher`` set it in the environment
    (0 without a launcher)."""
    variable = RANK_VARIABLES.get(launcher)
    return int(os.environ.get(variable, 0)) if variable else 0


def _holder_ended(holder: str) -> bool:
    """Whether the run a lock file names ran on this host and has ended
    (then its data workers still hold the lock, for seconds)."""
    found = re.match(r'pid (\d+) on (\S+),', holder)
    if found is None or found.group(2) != socket.gethostname():
        return False
    try:
        os.kill(int(found.group(1)), 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # alive, another user's
        pass
    return False


def lock_work_dir(work_dir: str) -> Optional[IO[str]]:
    """Hold the run's lock on ``work_dir`` (created if missing) until the
    returned file is closed or the process ends; None where the system has
    no ``flock``.

    Raises:
        WorkDirError: another run holds it; the message names it.
    """
    if fcntl is None:
        return None
    os.makedirs(work_dir, exist_ok=True)
    lock = open(osp.join(work_dir, LOCK_NAME), 'a+', encoding='utf-8')
    deadline = time.monotonic() + WORKERS_GRACE
    while True:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            break
        except BlockingIOError:
            lock.seek(0)
            holder = lock.read().strip()
            if _holder_ended(holder) and time.monotonic() < deadline:
                time.sleep(0.5)
                continue
            lock.close()
            raise WorkDirError(
                f'{work_dir} is in use by another training run: '
                f'{holder or "a process that wrote no details"}. Two runs '
                "in one work dir overwrite each other's checkpoints and "
                'logs. Wait for that run to end or stop it, or pass '
                '--work-dir with another folder.') from None
    lock.seek(0)
    lock.truncate()
    lock.write(f'pid {os.getpid()} on {socket.gethostname()}, started '
               f'{time.strftime("%Y-%m-%d %H:%M:%S")}: '
               f'{" ".join(sys.argv)}\n')
    lock.flush()
    return lock


def checkpoints_in(work_dir: str) -> List[str]:
    """The checkpoint files (``*.pth``, ``last_checkpoint``) directly in
    ``work_dir``, sorted."""
    if not osp.isdir(work_dir):
        return []
    return sorted(name for name in os.listdir(work_dir)
                  if name.endswith('.pth') or name == 'last_checkpoint')


def claim_work_dir(work_dir: str, resume: bool, overwrite: bool,
                   launcher: str = 'none') -> Optional[IO[str]]:
    """Lock ``work_dir`` for this run and refuse a fresh run (``resume``
    False) over an earlier run's checkpoints unless ``overwrite``; keep the
    returned lock (None on ranks other than 0) for the run's life.

    Raises:
        WorkDirError: the dir is in use, or a fresh run would overwrite
            checkpoints; the message says what to pass instead.
    """
    if launcher_rank(launcher) != 0:
        return None
    lock = lock_work_dir(work_dir)
    found = checkpoints_in(work_dir)
    if found and not resume and not overwrite:
        if lock is not None:
            lock.close()
        shown = ', '.join(found[:4]) + (', ...' if len(found) > 4 else '')
        raise WorkDirError(
            f'{work_dir} holds the checkpoints of an earlier run ({shown}), '
            'which a fresh run would overwrite. Pass --resume to continue '
            'that run, --overwrite-checkpoints to start afresh and replace '
            'them, or --work-dir with another folder.')
    return lock
