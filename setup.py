"""Install mmssl_kd: ``pip install -e ".[tests]"``."""
import re
from pathlib import Path

from setuptools import find_packages, setup

HERE = Path(__file__).parent


def read_requirements(name: str) -> list:
    """Requirement lines of ``requirements/<name>.txt`` without comments."""
    lines = (HERE / 'requirements' / f'{name}.txt').read_text().splitlines()
    return [ln.split('#')[0].strip() for ln in lines
            if ln.split('#')[0].strip()]


def read_version() -> str:
    text = (HERE / 'mmssl_kd' / 'version.py').read_text()
    return re.search(r"__version__ = '([^']+)'", text).group(1)


setup(
    name='mmssl_kd',
    version=read_version(),
    description='Self-supervised knowledge distillation on MMEngine and '
    'MMPretrain: SEED, SDSSL, DoGo, MOKD, global-local self-distillation',
    long_description=(HERE / 'README.md').read_text(),
    long_description_content_type='text/markdown',
    python_requires='>=3.10',
    packages=find_packages(include=['mmssl_kd', 'mmssl_kd.*']),
    install_requires=read_requirements('runtime'),
    extras_require={
        'tests': read_requirements('tests'),
        'optional': read_requirements('optional'),
        'det': read_requirements('det'),
        'docs': read_requirements('docs'),
        # logging backends (docs/logging.md) and UMAP plots; none is needed
        # by the tests
        'tensorboard': ['tensorboard'],
        'wandb': ['wandb'],
        'mlflow': ['mlflow'],
        'umap': ['umap-learn'],
    },
    license='Apache-2.0',
)
