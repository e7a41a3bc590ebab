"""Shared fixtures: a tiny class-folder dataset made of small JPEG images,
and each test's own global state."""
import random
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
import torch.distributed as dist
from _helpers.dist import Gloo
from mmengine.logging import MessageHub

import mmssl_kd  # noqa: F401  (registries, safe checkpoint loader)

# One torch thread in every test process (the tools' subprocesses get
# OMP_NUM_THREADS=1 too): the tests' tensors are tiny, and on a busy machine
# (CI beside other jobs) threads waiting for a core cost far more than they
# gain: the two-step runs of the DINO, MOKD and SEED demos in
# tests/test_configs.py took 49 s at one thread and 165 s at two on a 2-core
# machine at load average 4.5.
torch.set_num_threads(1)


def make_image_folder(root: Path, splits=('train', 'test'), classes=2,
                      per_class=4, size=40, seed=0) -> Path:
    """Write ``root/<split>/<class>/<n>.jpg``: coloured blobs, one hue per
    class, so a kNN on raw pixels can tell the classes apart."""
    rng = np.random.default_rng(seed)
    for split in splits:
        for c in range(classes):
            folder = root / split / f'class_{c}'
            folder.mkdir(parents=True, exist_ok=True)
            for i in range(per_class):
                img = rng.integers(0, 60, (size, size, 3), dtype=np.uint8)
                img[..., c % 3] += np.uint8(150)
                cv2.imwrite(str(folder / f'{i}.jpg'), img)
    return root


@pytest.fixture(scope='session')
def tiny_image_folder(tmp_path_factory) -> Path:
    """``<root>/{train,test}/class_{0,1}/{0..3}.jpg``, 40x40 px."""
    return make_image_folder(tmp_path_factory.mktemp('tiny_data'))


@pytest.fixture
def gloo(tmp_path):
    """gloo process groups of this test, meeting in a rendezvous file under
    its ``tmp_path`` (a TCP port picked here could be taken by another
    suite on the machine before the group binds it):
    ``gloo.spawn(worker, *args, world_size=2)`` runs the module-level
    ``worker(rank, *args)`` in that many processes, each a rank of one
    group; ``with gloo.group():`` makes this process a group of one.  Each
    group is destroyed after its worker or block (and after the test, if
    one is left)."""
    yield Gloo(f'file://{tmp_path / "dist_rendezvous"}')
    if dist.is_initialized():
        dist.destroy_process_group()


@pytest.fixture(autouse=True)
def isolated_globals(request):
    """Each test starts from the same global state, whichever tests ran
    before it: seeded random generators, a message hub of its own (no
    ``iter``, ``epoch`` or ``max_iters`` left by an earlier Runner), and
    torch's deterministic mode as it was (a Runner with
    ``randomness.deterministic`` switches it on for the whole process)."""
    random.seed(0)
    np.random.seed(0)
    torch.manual_seed(0)
    MessageHub.get_instance(f'test:{request.node.nodeid}')
    deterministic = torch.are_deterministic_algorithms_enabled()
    warn_only = torch.is_deterministic_algorithms_warn_only_enabled()
    yield
    torch.use_deterministic_algorithms(deterministic, warn_only=warn_only)
