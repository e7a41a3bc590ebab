"""The Sphinx docs build without a warning, the model zoo lists every recipe
of every metafile, and each method or benchmark page shows its README."""
import html
import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
METAFILES = sorted((ROOT / 'configs').glob('*/metafile.yml'))


@pytest.fixture(scope='module')
def built(tmp_path_factory) -> Path:
    """The HTML of ``docs/``, built with warnings as errors."""
    out = tmp_path_factory.mktemp('docs_html')
    proc = subprocess.run(
        [sys.executable, '-m', 'sphinx', '-W', '--keep-going', '-q', '-b',
         'html', str(ROOT / 'docs'), str(out)],
        capture_output=True, text=True,
        timeout=600)  # a hang guard: ~20 s on a busy 2-core machine
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return out


def _text(page: Path) -> str:
    """The visible text of a built page, whitespace collapsed."""
    raw = re.sub(r'(?s)<(script|style)\b.*?</\1>|<[^>]+>', ' ',
                 page.read_text(encoding='utf-8'))
    return ' '.join(html.unescape(raw).split())


def _plain_lines(readme: Path) -> list:
    """Prose lines of a README that render as written: outside code
    blocks, without markup or characters that Sphinx turns typographic."""
    lines, fenced = [], False
    for line in readme.read_text(encoding='utf-8').splitlines():
        if line.startswith('```'):
            fenced = not fenced
        elif (not fenced and len(line) > 40
              and not re.search(r'[`*_\[\]|<>#\'"&\\]|--|\.\.\.', line)):
            lines.append(re.sub(r'^\s*(?:[-+]|\d+\.)\s+', '', line).strip())
    return lines


def test_zoo_lists_every_metafile_recipe(built):
    page = built / 'model_zoo.html'
    text, raw = _text(page), page.read_text(encoding='utf-8')
    for meta in METAFILES:
        for model in yaml.safe_load(meta.read_text())['Models']:
            assert model['Name'] in text, (meta, model['Name'])
            assert f'/{Path(model["Config"]).name}"' in raw, model['Config']


PAGES = {f'methods/{m.parent.name}': f'{m.parent.name}/README.md'
         for m in METAFILES}
PAGES.update({f'benchmarks/{task}': f'benchmarks/{task}/README.md'
              for task in ('classification', 'detection')})


@pytest.mark.parametrize('page', sorted(PAGES))
def test_page_shows_its_readme(built, page):
    readme = ROOT / 'configs' / PAGES[page]
    lines = _plain_lines(readme)
    assert lines, readme
    text = _text(built / f'{page}.html')
    for line in (lines[0], lines[-1]):  # the include is neither lost nor cut
        assert ' '.join(line.split()) in text, (page, line)


def test_zoo_table_has_results_only_when_a_model_has_them(tmp_path):
    spec = importlib.util.spec_from_file_location(
        'zoo', ROOT / 'docs' / '_ext' / 'zoo.py')
    zoo = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(zoo)
    model = {'Name': 'algo_s_t_1xb8-1e_data', 'In Collection': 'Algo',
             'Config': 'configs/algo/algo_s_t_1xb8-1e_data.py',
             'Metadata': {'Student': 'S', 'Teacher': 'T',
                          'Training Data': ['A', 'B'], 'Epochs': 1,
                          'Batch Size': 8}}
    (tmp_path / 'algo').mkdir()
    metafile = tmp_path / 'algo' / 'metafile.yml'
    metafile.write_text(yaml.safe_dump({'Models': [model]}))
    header, _, row = zoo.zoo_table(tmp_path).splitlines()
    assert 'results' not in header
    assert row.startswith('| [Algo](methods/algo.md) | [algo_s_t_1xb8')
    assert '| S | T | A, B | 1 | 8 |' in row

    model['Results'] = [{'Task': 'SSL', 'Dataset': 'CIFAR-10',
                         'Metrics': {'kNN top-1': 50.9}}]
    metafile.write_text(yaml.safe_dump({'Models': [model]}))
    header, _, row = zoo.zoo_table(tmp_path).splitlines()
    assert header.endswith('| results |')
    assert row.endswith('| CIFAR-10: kNN top-1 50.9 |')


def test_api_reference_documents_the_python_api(built):
    """docs/api.md renders the docstrings of the API (autodoc), not only
    their names."""
    text = _text(built / 'api.html')
    for module, name in (('cli', 'load_model'), ('cli', 'load_config'),
                         ('compat', 'load_checkpoint_file'),
                         ('models.converters', 'target_model')):
        assert f'mmssl_kd.{module}. {name} (' in text, name
    assert 'refusing one that does not fit unless' in text  # a docstring
    assert 'init_default_scope' in text


def test_logging_page_gives_a_backend_recipe(built):
    text = _text(built / 'logging.html')
    for needed in ('TensorboardVisBackend', 'WandbVisBackend',
                   'MLflowVisBackend', 'pip install -e ".[tensorboard]"',
                   'visualizer = dict(vis_backends=[...])'):
        assert needed in text, needed


def test_unsupported_mim_and_extras_are_documented(built):
    """mim failed with no word in the docs; the optional extras were in
    no requirements list."""
    readme = (ROOT / 'README.md').read_text(encoding='utf-8')
    assert 'OpenMIM (`mim install/search/train`) is not supported' in readme
    for extra in ('tensorboard', 'wandb', 'mlflow', 'umap'):
        assert f'`.[{extra}]`' in readme, extra
    text = _text(built / 'troubleshooting.html')
    assert 'OpenMIM is not supported' in text
    assert 'allow_schedule_change=True' in text
