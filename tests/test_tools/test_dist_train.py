"""tools/dist_train.sh on a machine without a GPU: two processes started
by torchrun, talking over gloo (the Runner's CPU path, see
``mmssl_kd.engine.Runner.setup_env`` and ``wrap_model``)."""
import os
import socket
import subprocess
import sys

import pytest
import torch
from _helpers.tools import MOCO_CONFIG, REPO, write_config

from mmssl_kd.compat import load_checkpoint_file


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


@pytest.mark.slow
@pytest.mark.skipif(torch.cuda.is_available(),
                    reason='the CPU path of the launcher (no CUDA)')
def test_two_cpu_processes_through_dist_train_sh(tmp_path,
                                                 tiny_image_folder):
    """The configs' nccl backend gives way to gloo, their sync_bn is left
    out, DDP wraps the CPU model without device_ids, and each of the 2
    ranks trains 1 of the 2 batches of 4 of the 8 training images per
    epoch."""
    body = MOCO_CONFIG.replace("dist_cfg=dict(backend='gloo')",
                               "dist_cfg=dict(backend='nccl')")
    assert "backend='nccl'" in body
    body += "sync_bn = 'torch'\n"  # as the MOKD and SDSSL recipes
    config = write_config(tmp_path / 'moco.py', tiny_image_folder, body)
    env = dict(os.environ, OMP_NUM_THREADS='1', PYTHON=sys.executable,
               PORT=str(free_port()))
    proc = subprocess.run(
        ['bash', str(REPO / 'tools' / 'dist_train.sh'), str(config), '2',
         '--work-dir', str(tmp_path / 'work')],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log[-4000:]
    assert 'the processes communicate with gloo, not nccl' in log
    assert "sync_bn='torch' is left out" in log
    assert 'Distributed launcher: pytorch' in log
    assert 'GPU number: 2' in log  # MMEngine's name for the world size
    assert 'Epoch(train) [2][1/1]' in log  # 8 images / (2 ranks x 4)
    checkpoint = load_checkpoint_file(str(tmp_path / 'work' / 'epoch_2.pth'))
    assert checkpoint['meta']['iter'] == 2
