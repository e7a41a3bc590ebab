"""Keep the links of an included README working on the page that includes it.

A README's relative links start from its own folder (``configs/seed/``:
``seed_....py``, ``../../tools/...``, ``../selfsup/README.md#results``); MyST
resolves them from the including page (``docs/methods/``).  On the
``include-read`` event, which MyST's ``{include}`` emits, each relative link
is rewritten from the including page: a README under ``configs/`` becomes
its page (``methods/<method>.md``, ``benchmarks/<task>.md``), a page of
these docs stays a page (its ``#anchor`` kept), any other file becomes a
download link to that file.
"""
import os.path as osp
import re

# ](target#anchor) with a relative target: no scheme, not an anchor alone
LINK = re.compile(r'\]\(([^)\s#:]+)(#[^)\s]*)?\)')


def relink(app, relative_path, parent_docname, content):
    env = app.env
    src = osp.join(app.srcdir, osp.dirname(relative_path))
    page_dir = osp.dirname(env.doc2path(env.docname))
    configs = osp.normpath(osp.join(app.srcdir, '..', 'configs'))

    def rewrite(match):
        path = osp.normpath(osp.join(src, match[1]))
        folder, name = osp.split(path)
        pages = [f'{kind}/{osp.basename(folder)}'
                 for kind in ('methods', 'benchmarks')]
        page = next((p for p in pages if p in env.found_docs), None)
        scheme = 'path:'  # MyST: a download link, never a document
        doc = osp.splitext(osp.relpath(path, app.srcdir))[0]
        if (name == 'README.md' and folder.startswith(configs + osp.sep)
                and page):
            path, scheme = env.doc2path(page), ''
        elif path.endswith('.md') and doc in env.found_docs:
            scheme = ''
        target = scheme + osp.relpath(path, page_dir) + (match[2] or '')
        return f']({target})'

    content[0] = LINK.sub(rewrite, content[0])


def setup(app):
    app.connect('include-read', relink)
    return {'parallel_read_safe': True, 'parallel_write_safe': True}
