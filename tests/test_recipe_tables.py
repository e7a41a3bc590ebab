"""The README tables "This recipe against the official code" (issue 20)
cannot drift from the configs: every ``Config key`` row's ``Ours`` cell is
the built recipe's value, every row without a key names a test that
exists, and every ImageNet recipe of the knowledge-distillation methods has
a table."""
import ast
import math
import re
from pathlib import Path
from typing import Dict, List, Tuple

import pytest

from mmssl_kd.cli import load_config

ROOT = Path(__file__).resolve().parents[1]
SECTION = '## This recipe against the official code'
COLUMNS = ['Setting', 'Config key', 'Official (file:line)', 'Ours',
           'Differs']
RECIPE = re.compile(r'^Recipe: `(configs/[^`]+\.py)`\s*$')
TEST_REF = re.compile(r'^\(test: (tests/[\w/.-]+\.py)::(\w+)\)$')
#: a dotted path with [i] list indices and ['key'] for keys with dots
TOKEN = re.compile(r"\.?([A-Za-z_]\w*)|\[(\d+)\]|\['([^']*)'\]")
NO_KEY = '—'


def readmes() -> List[Path]:
    return [p for p in sorted((ROOT / 'configs').glob('*/README.md'))
            if SECTION in p.read_text()]


def cells(line: str) -> List[str]:
    return [c.strip() for c in line.strip().strip('|').split('|')]


def tables(readme: Path) -> Dict[str, List[Dict[str, str]]]:
    """``{recipe path: [row as {column: cell}]}`` of the section."""
    text = readme.read_text().split(SECTION, 1)[1]
    text = re.split(r'\n## ', text, maxsplit=1)[0]
    found: Dict[str, List[Dict[str, str]]] = {}
    recipe = None
    for line in text.splitlines():
        match = RECIPE.match(line)
        if match:
            recipe = match.group(1)
            assert recipe not in found, f'{readme}: {recipe} twice'
            found[recipe] = []
        elif line.startswith('|'):
            row = cells(line)
            if row == COLUMNS or set(''.join(row)) <= set('-: '):
                assert recipe is not None, f'{readme}: table before Recipe:'
                continue
            assert len(row) == len(COLUMNS), f'{readme}: {line}'
            found[recipe].append(dict(zip(COLUMNS, row)))
    return found


def all_rows() -> List[Tuple[str, str, Dict[str, str]]]:
    return [(str(readme.relative_to(ROOT)), recipe, row)
            for readme in readmes()
            for recipe, rows in tables(readme).items() for row in rows]


def lookup(cfg, path: str):
    assert ''.join(m.group(0) for m in TOKEN.finditer(path)) == path, (
        f'not a config key path: {path}')
    obj = cfg
    for name, index, key in TOKEN.findall(path):
        obj = obj[int(index)] if index else obj[name or key]
    return obj.to_dict() if hasattr(obj, 'to_dict') else obj


def same(ours, built) -> bool:
    """Equal, lists and tuples alike, floats to rel 1e-9."""
    if isinstance(ours, (list, tuple)) and isinstance(built, (list, tuple)):
        return len(ours) == len(built) and all(
            same(a, b) for a, b in zip(ours, built))
    if isinstance(ours, dict) and isinstance(built, dict):
        return ours.keys() == built.keys() and all(
            same(ours[k], built[k]) for k in ours)
    if isinstance(ours, bool) or isinstance(built, bool):
        return ours is built
    if isinstance(ours, (int, float)) and isinstance(built, (int, float)):
        return math.isclose(ours, built, rel_tol=1e-9)
    return ours == built


_CONFIGS: dict = {}


def built(recipe: str):
    if recipe not in _CONFIGS:
        _CONFIGS[recipe] = load_config(str(ROOT / recipe))
    return _CONFIGS[recipe]


def test_tables_are_found():
    found = {readme.parent.name for readme in readmes()}
    assert {'mokd', 'global_local'} <= found


@pytest.mark.parametrize(
    'readme,recipe,row', all_rows(),
    ids=lambda v: v['Setting'] if isinstance(v, dict) else Path(v).stem)
def test_table_row_matches_the_recipe(readme, recipe, row):
    assert (ROOT / recipe).is_file(), f'{readme}: no file {recipe}'
    key, ours = row['Config key'].strip('`'), row['Ours']
    if key == NO_KEY:
        match = TEST_REF.match(ours)
        assert match, (f'{readme}: a row without a config key names its '
                       f'test as (test: tests/...::name), got {ours!r}')
        path, name = match.groups()
        assert (ROOT / path).is_file(), f'{readme}: no test file {path}'
        assert re.search(rf'^def {name}\(', (ROOT / path).read_text(),
                         re.M), f'{readme}: no test {path}::{name}'
        return
    value = ast.literal_eval(ours.strip('`'))
    actual = lookup(built(recipe), key)
    assert same(value, actual), (
        f'{readme}, {recipe}: {key} is {actual!r}, the table says {value!r}')
    if row['Differs']:
        assert row['Differs'].startswith('yes: '), row['Differs']


def tabled_recipes() -> set:
    return {recipe for readme in readmes() for recipe in tables(readme)}


@pytest.mark.parametrize('method', ['mokd', 'global_local', 'seed', 'dogo',
                                    'sdssl'])
def test_every_imagenet_recipe_has_a_table(method):
    recipes = sorted(str(p.relative_to(ROOT)) for p in
                     (ROOT / 'configs' / method).glob('*_in1k*.py')
                     if '_base_' not in p.parts)
    assert recipes, method
    missing = [r for r in recipes if r not in tabled_recipes()]
    assert not missing, (f'ImageNet recipes without a table in a README '
                         f'section "{SECTION}": {missing}')
