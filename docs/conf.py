"""Sphinx configuration: MyST Markdown pages, the configs' READMEs included,
and the model zoo built from the metafiles (see ``_ext/``)."""
import re
import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
sys.path.insert(0, str(DOCS / '_ext'))
sys.path.insert(0, str(DOCS.parent))  # api.md documents this checkout

project = 'mmssl_kd'
author = 'mmssl_kd contributors'
copyright = author
release = re.search(r"__version__ = '([^']+)'",
                    (DOCS.parent / 'mmssl_kd' / 'version.py').read_text())[1]
version = release

extensions = ['myst_parser', 'readme_links', 'zoo', 'sphinx.ext.autodoc',
              'sphinx.ext.napoleon']
# api.md: the signatures as written, Google-style Args/Returns/Raises
autodoc_typehints = 'signature'
napoleon_numpy_docstring = False
source_suffix = {'.md': 'markdown'}
exclude_patterns = ['_build']
# anchors for the README links that name a section (README.md#this-project)
myst_heading_anchors = 3
html_theme = 'alabaster'
