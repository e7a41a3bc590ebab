"""setup.py's optional extras: the logging backends of docs/logging.md and
UMAP each have one (none had), and the test suite needs none of them."""
import runpy
from pathlib import Path

import setuptools

ROOT = Path(__file__).resolve().parents[1]


def setup_kwargs(monkeypatch) -> dict:
    seen = {}
    monkeypatch.setattr(setuptools, 'setup', lambda **kw: seen.update(kw))
    monkeypatch.chdir(ROOT)
    runpy.run_path(str(ROOT / 'setup.py'))
    return seen


def test_optional_extras(monkeypatch):
    extras = setup_kwargs(monkeypatch)['extras_require']
    assert extras['tensorboard'] == ['tensorboard']
    assert extras['wandb'] == ['wandb']
    assert extras['mlflow'] == ['mlflow']
    assert extras['umap'] == ['umap-learn']
    tests = ' '.join(extras['tests']).lower()
    assert not any(name in tests for name in
                   ('tensorboard', 'wandb', 'mlflow', 'umap'))


def test_run_outputs_of_backends_are_ignored_by_git():
    ignored = (ROOT / '.gitignore').read_text().split()
    assert {'mlruns/', 'wandb/'} <= set(ignored)
