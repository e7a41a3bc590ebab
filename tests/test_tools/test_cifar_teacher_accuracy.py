"""The CIFAR ResNet converter, and the shared teachers' top-1 on
data/cifar10/test through tools/test.py (slow: about 1 and 2.5 minutes on a
2-core CPU for ResNet-20 and ResNet-56)."""
import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope

from mmssl_kd.compat import (
    UntrustedCheckpointError,
    load_checkpoint_file,
    untrust_all,
)
from mmssl_kd.models.backbones import CIFARResNet
from mmssl_kd.registry import MODELS

REPO = Path(__file__).resolve().parents[2]
WEIGHTS = REPO.parent / 'shared' / 'weights' / 'cifar10-resnet'
CIFAR_TEST = REPO / 'data' / 'cifar10' / 'test'
CONVERTER = REPO / 'tools' / 'model_converters' / \
    'cifar_resnet_to_mmpretrain.py'
CONFIGS = REPO / 'configs' / 'benchmarks' / 'classification' / 'cifar10'

# top-1 (%) measured with tools/test.py (configs/benchmarks/classification/
# README.md); data/README.md gives 83.2 and 81.0
MEASURED = {56: 83.20, 20: 81.03}
WEIGHT_FILES = {56: 'resnet56-4bfd9763.th', 20: 'resnet20-12fca82f.th'}


class _RunsCode:
    """Unpickling this runs ``source`` (what a malicious checkpoint does)."""

    def __init__(self, source: str):
        self.source = source

    def __reduce__(self):
        return exec, (self.source, )


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], cwd=REPO,
                          capture_output=True, text=True)


@pytest.fixture(scope='module')
def converter():
    spec = importlib.util.spec_from_file_location('cifar_converter',
                                                  CONVERTER)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def th_file(tmp_path) -> Path:
    """A random CIFAR ResNet-20 saved like the shared ``.th`` files."""
    net = CIFARResNet(depth=20)
    with torch.no_grad():
        for name, t in net.state_dict().items():
            if name.endswith('running_mean'):
                t.normal_(0, 0.1)
    state = {f'module.{k}': v for k, v in net.state_dict().items()
             if not k.endswith('num_batches_tracked')}
    state['module.linear.weight'] = torch.randn(10, 64)
    state['module.linear.bias'] = torch.randn(10)
    path = tmp_path / 'resnet20.th'
    torch.save({'state_dict': state, 'best_prec1': 91.5}, path)
    return path


def test_converted_checkpoint_loads_strictly(converter, th_file):
    ckpt = converter.convert(load_checkpoint_file(str(th_file)), 'r20.th')
    assert ckpt['meta']['depth'] == 20
    assert ckpt['meta']['best_prec1'] == 91.5
    init_default_scope('mmssl_kd')
    cfg = Config.fromfile(
        str(CONFIGS / 'resnet20-cifar_supervised_cifar10.py'))
    model = MODELS.build(cfg.model).eval()
    model.load_state_dict(ckpt['state_dict'], strict=True)
    th = torch.load(th_file, weights_only=True)['state_dict']
    x = torch.randn(2, 3, 32, 32)
    feats = model.backbone(x)[-1].mean((2, 3))
    expected = feats @ th['module.linear.weight'].T + \
        th['module.linear.bias']
    torch.testing.assert_close(model(x, mode='tensor'), expected)


def test_converter_refuses_to_overwrite(th_file, tmp_path):
    dst = tmp_path / 'out.pth'
    dst.write_bytes(b'keep me')
    result = run(str(CONVERTER), str(th_file), str(dst))
    assert result.returncode != 0 and '--force' in result.stderr
    assert dst.read_bytes() == b'keep me'
    result = run(str(CONVERTER), str(th_file), str(dst), '--force')
    assert result.returncode == 0, result.stderr
    assert 'backbone.conv1.weight' in load_checkpoint_file(str(dst))[
        'state_dict']


def test_converter_takes_trust_checkpoint(converter, th_file, tmp_path):
    """The loader's refusal names --trust-checkpoint SRC: the converter
    takes it (it had no such option)."""
    marker = tmp_path / 'ran'
    th = torch.load(th_file, weights_only=True)
    th['note'] = _RunsCode(f'open({str(marker)!r}, "w")')
    evil = tmp_path / 'evil.th'
    torch.save(th, evil)
    dst = tmp_path / 'out.pth'
    with pytest.raises(UntrustedCheckpointError,
                       match=f'--trust-checkpoint {evil}'):
        converter.main([str(evil), str(dst)])
    assert not marker.exists() and not dst.exists()
    try:
        converter.main([str(evil), str(dst), '--trust-checkpoint',
                        str(evil)])
    finally:
        untrust_all()
    assert marker.exists()
    assert 'backbone.conv1.weight' in load_checkpoint_file(str(dst))[
        'state_dict']


@pytest.mark.slow
@pytest.mark.parametrize('depth', [20, 56])
def test_shared_teacher_top1(depth, tmp_path):
    src = WEIGHTS / WEIGHT_FILES[depth]
    if not src.exists():
        pytest.skip(f'{src} not present (shared CIFAR ResNet weights)')
    if not CIFAR_TEST.is_dir():
        pytest.skip(f'{CIFAR_TEST} not present (link data/ to the shared '
                    'datasets)')
    ckpt = tmp_path / f'resnet{depth}_cifar10.pth'
    result = run(str(CONVERTER), str(src), str(ckpt))
    assert result.returncode == 0, result.stderr
    config = CONFIGS / f'resnet{depth}-cifar_supervised_cifar10.py'
    result = run('tools/test.py', str(config), str(ckpt), '--work-dir',
                 str(tmp_path / 'work'))
    assert result.returncode == 0, result.stderr[-3000:]
    top1 = float(re.search(r'^accuracy/top1: ([\d.]+)$', result.stdout,
                           re.MULTILINE).group(1))
    assert abs(top1 - MEASURED[depth]) <= 2.0, top1
