"""Logging (docs/logging.md): a child config's top-level
``vis_backends`` reaches the Runner's visualizer (it was silently ignored,
the base runtime having copied its own list into ``visualizer``), and a
config that sets both differently is refused; the console shows the
run, the log file the rest."""
from pathlib import Path

import pytest
import torch
from mmengine.config import Config
from mmengine.model import BaseModel
from mmengine.registry import MODELS, VISBACKENDS
from mmengine.visualization import LocalVisBackend

from mmssl_kd.cli import resolve_vis_backends
from mmssl_kd.engine import Runner

ROOT = Path(__file__).resolve().parents[2]
RUNTIME = ROOT / 'configs' / '_base_' / 'default_runtime.py'


@VISBACKENDS.register_module()
class RecordingVisBackend(LocalVisBackend):
    """A stand-in for TensorBoard, W&B or MLflow (not installed in CI)."""


@MODELS.register_module(name='VisBackendsToy')
class Toy(BaseModel):

    def __init__(self):
        super().__init__()
        self.w = torch.nn.Linear(2, 2)

    def forward(self, inputs=None, data_samples=None, mode='tensor'):
        return self.w(inputs)


def child(tmp_path: Path, body: str) -> Config:
    path = tmp_path / 'child.py'
    path.write_text(f'_base_ = [{str(RUNTIME)!r}]\n{body}')
    return Config.fromfile(path)


EXTRA = ("vis_backends = [dict(type='LocalVisBackend'), "
         "dict(type='RecordingVisBackend')]\n")


def test_short_form_reaches_the_runner(tmp_path):
    cfg = child(tmp_path, EXTRA)
    cfg.update(model=dict(type='VisBackendsToy'),
               work_dir=str(tmp_path / 'work'),
               experiment_name='vis_short_form', log_level='WARNING')
    runner = Runner.from_cfg(cfg)
    assert set(runner.visualizer._vis_backends) == {'LocalVisBackend',
                                                     'RecordingVisBackend'}


@pytest.mark.parametrize('body', [
    "visualizer = dict(vis_backends=[dict(type='RecordingVisBackend')])\n",
    EXTRA + "visualizer = dict(vis_backends=vis_backends)\n"])
def test_long_form_and_both_alike_pass(tmp_path, body):
    cfg = child(tmp_path, body)
    resolve_vis_backends(cfg)
    assert cfg.visualizer.vis_backends[-1].type == 'RecordingVisBackend'


def test_both_set_differently_is_refused(tmp_path):
    cfg = child(tmp_path, EXTRA + "visualizer = dict(vis_backends=["
                "dict(type='WandbVisBackend')])\n")
    with pytest.raises(ValueError, match='reads only the second'):
        resolve_vis_backends(cfg)


def test_console_leaves_config_and_hook_table_to_the_log_file(tmp_path,
                                                              capsys):
    """MMEngine printed the environment, the whole config and the hook
    table (hundreds of lines) on the console; they are in the log file."""
    cfg = child(tmp_path, '')
    cfg.update(model=dict(type='VisBackendsToy'),
               work_dir=str(tmp_path / 'work'),
               experiment_name='console_noise')
    runner = Runner.from_cfg(cfg)
    runner.logger.error('an error stays on the console: Config:\n')
    console = capsys.readouterr().out
    log = Path(runner._log_file).read_text()
    for part in ('Config:\n', 'Hooks will be executed', 'System environment'):
        assert part in log, part
    assert 'Hooks will be executed' not in console
    assert 'System environment' not in console
    assert 'work_dir = ' not in console  # the config dump
    assert 'an error stays on the console' in console
    assert f'in the log file: {runner._log_file}' in console
    assert len(console.splitlines()) < 10


def test_no_stack_warning_on_help():
    """Every tool printed mmcv-lite's MultiScaleDeformableAttention
    warning, even for --help."""
    import subprocess
    import sys
    proc = subprocess.run(
        [sys.executable, str(ROOT / 'tools' / 'train.py'), '--help'],
        capture_output=True, text=True, timeout=300,
        env={'PYTHONPATH': str(ROOT), 'PATH': '/usr/bin'})
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ''
