"""The model zoo table, made from every ``configs/*/metafile.yml`` each time
the docs are built (appended to ``model_zoo.md``), so it never drifts from
the metafiles."""
from pathlib import Path

import yaml

COLUMNS = ['method', 'config', 'student', 'teacher', 'data', 'epochs',
           'batch', 'results']


def _cell(value) -> str:
    if isinstance(value, list):
        value = ', '.join(map(str, value))
    return str(value).replace('|', '\\|')


def _results(model: dict) -> str:
    """``Dataset: metric value, ...`` for each entry of ``Results``."""
    return '; '.join(
        f"{res['Dataset']}: "
        + ', '.join(f'{key} {value}' for key, value in res['Metrics'].items())
        for res in model.get('Results') or [])


def zoo_table(configs: Path) -> str:
    """A Markdown table, one row per model of every metafile under
    ``configs``; the results column only if some model has results."""
    rows = []
    for meta in sorted(configs.glob('*/metafile.yml')):
        models = yaml.safe_load(meta.read_text(encoding='utf-8'))['Models']
        for model in models:
            info = model['Metadata']
            rows.append([
                f"[{model['In Collection']}](methods/{meta.parent.name}.md)",
                f"[{model['Name']}](../{model['Config']})",
                info['Student'], info['Teacher'], info['Training Data'],
                info['Epochs'], info['Batch Size'], _results(model)])
    width = len(COLUMNS) if any(row[-1] for row in rows) else len(COLUMNS) - 1
    lines = [COLUMNS, ['---'] * len(COLUMNS)] + rows
    return '\n'.join('| ' + ' | '.join(map(_cell, line[:width])) + ' |'
                     for line in lines)


def add_zoo_table(app, docname, source):
    if docname == 'model_zoo':
        configs = Path(app.srcdir).parent / 'configs'
        for meta in configs.glob('*/metafile.yml'):
            app.env.note_dependency(str(meta))
        source[0] += '\n' + zoo_table(configs) + '\n'


def setup(app):
    app.connect('source-read', add_zoo_table)
    return {'parallel_read_safe': True, 'parallel_write_safe': True}
