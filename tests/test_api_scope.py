"""The Python API works in a fresh process without the undocumented
``init_default_scope('mmssl_kd')`` (docs/api.md): ``load_model`` raised
'GPUMultiViewAugment is not in the mmpretrain::model registry'."""
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ('configs/selfsup/'
          'mocov3_resnet20-cifar_1xb256-coslr-1e_cifar10-demo.py')
SCRIPT = f'''
from mmengine.registry import DefaultScope
from mmssl_kd.cli import load_config, load_model
model = load_model(load_config({CONFIG!r}), 'random')
assert DefaultScope.get_current_instance() is None  # left as it was
print(type(model).__name__)
'''


def test_load_model_needs_no_default_scope():
    proc = subprocess.run([sys.executable, '-c', SCRIPT], cwd=ROOT,
                          capture_output=True, text=True, timeout=300,
                          env={'PYTHONPATH': str(ROOT), 'PATH': '/usr/bin'})
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.split()[-1] == 'MoCoV3'
