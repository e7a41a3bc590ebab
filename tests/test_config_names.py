"""Every config file name follows the naming rules of docs/config_guide.md
("Names"), so the rule the docs state is the one the files use."""
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = ROOT / 'configs'
GUIDE = ROOT / 'docs' / 'config_guide.md'

PART = r'[a-z0-9.]+(?:-[a-z0-9.]+)*'  # no '_' inside a part
SCHEDULE = rf'\d+xb\d+-{PART}'  # {NxbB}-{schedule}
FEEDS = ('gpu-aug', 'device-data')
FEED = '|'.join(FEEDS)
#: {algo}_{student}_{teacher}_{NxbB}-{schedule}_{feed}_{data}.py,
#: teacher and feed optional
RECIPE = re.compile(
    rf'^{PART}_{PART}(_{PART})?_{SCHEDULE}(_(?:{FEED}))?_{PART}\.py$')
#: benchmarks/classification: {student}_{protocol}_{NxbB}-{schedule}_{data}
#: and the supervised CIFAR teachers {network}_supervised_{data}
EVALUATION = re.compile(
    rf'^{PART}_(?:(?:linear-probe|fine-tune)_{SCHEDULE}|supervised)'
    rf'_{PART}\.py$')
#: benchmarks/detection: MMDetection's {model}_{backbone}_{NxbB}-{schedule}
DETECTION = re.compile(rf'^{PART}_{PART}_{SCHEDULE}_{PART}\.py$')


def _configs(folder: Path):
    return sorted(p for p in folder.rglob('*.py') if '_base_' not in p.parts)


RECIPES = [p for d in sorted(CONFIGS.iterdir())
           if d.is_dir() and d.name not in ('_base_', 'benchmarks')
           for p in _configs(d)]


@pytest.mark.parametrize('path', RECIPES, ids=lambda p: p.name)
def test_recipe_name(path):
    if '_' not in path.name:  # a short alias (sdssl/vit-s.py)
        return
    assert RECIPE.match(path.name), (
        f'{path.relative_to(ROOT)} does not follow docs/config_guide.md: '
        '{algo}_{student}_{teacher}_{NxbB}-{schedule}_{feed}_{data}.py')


@pytest.mark.parametrize(
    'path', _configs(CONFIGS / 'benchmarks' / 'classification'),
    ids=lambda p: p.name)
def test_evaluation_config_name(path):
    assert EVALUATION.match(path.name), path.relative_to(ROOT)


@pytest.mark.parametrize(
    'path', _configs(CONFIGS / 'benchmarks' / 'detection'),
    ids=lambda p: p.name)
def test_detection_config_name(path):
    assert DETECTION.match(path.name), path.relative_to(ROOT)


def test_guide_states_the_rule_tested_here():
    text = ' '.join(GUIDE.read_text(encoding='utf-8').split())
    assert ('`{algo}_{student}_{teacher}_{NxbB}-{schedule}_{feed}_{data}.py`'
            in text)
    assert '`{student}_{protocol}_{NxbB}-{schedule}_{data}.py`' in text
    for feed in FEEDS:
        assert f'`{feed}`' in text, feed
