"""Logging backends (docs/logging.md): a child config's top-level
``vis_backends`` reaches the Runner's visualizer (it was silently ignored,
the base runtime having copied its own list into ``visualizer``), and a
config that sets both differently is refused."""
from pathlib import Path

import pytest
import torch
from mmengine.config import Config
from mmengine.model import BaseModel
from mmengine.registry import MODELS, VISBACKENDS
from mmengine.visualization import LocalVisBackend

from mmssl_kd.apis import resolve_vis_backends
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
    cfg.update(model=dict(type='VisBackendsToy'), work_dir=str(tmp_path / 'work'),
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
