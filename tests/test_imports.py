"""The package has no import cycle: the module-level imports between
mmssl_kd's modules, read from the source with ``ast``, form an acyclic
graph, and every module imports."""
import ast
import importlib
from pathlib import Path
from typing import Dict, List, Optional, Set

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = 'mmssl_kd'


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix('').parts)
    if parts[-1] == '__init__':
        parts.pop()
    return '.'.join(parts)


MODULES = {_module_name(p): p for p in sorted((ROOT / PACKAGE).rglob('*.py'))}


def _module_level(body: List[ast.stmt]):
    """The import statements run when the module is imported: at the top
    level and inside its if/try/with/class blocks, not in functions."""
    for node in body:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef,
                               ast.Lambda)):
            continue
        else:
            for field in ('body', 'orelse', 'finalbody', 'handlers'):
                yield from _module_level(
                    [n for n in getattr(node, field, None) or []
                     if isinstance(n, (ast.stmt, ast.ExceptHandler))])


def _resolve(module: str, node: ast.ImportFrom) -> Optional[str]:
    if not node.level:
        return node.module
    is_package = MODULES[module].name == '__init__.py'
    base = module.split('.')
    base = base if is_package else base[:-1]
    base = base[:len(base) - (node.level - 1)]
    return '.'.join(base + ([node.module] if node.module else []))


def _with_packages(name: str, importer: str) -> Set[str]:
    """``name`` and the packages that importing it initialises, less those
    that contain ``importer`` (already being initialised)."""
    parts = name.split('.')
    own = {'.'.join(importer.split('.')[:i])
           for i in range(1, importer.count('.') + 2)}
    found = {'.'.join(parts[:i]) for i in range(1, len(parts) + 1)}
    return {m for m in found - own if m in MODULES}


def import_graph() -> Dict[str, Set[str]]:
    """module -> the package modules its module-level imports run."""
    graph = {}
    for module, path in MODULES.items():
        tree = ast.parse(path.read_text(encoding='utf-8'), str(path))
        targets = set()
        for node in _module_level(tree.body):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            else:
                base = _resolve(module, node)
                names = [base] + [f'{base}.{alias.name}'
                                  for alias in node.names]
            for name in names:
                if name == PACKAGE or name.startswith(PACKAGE + '.'):
                    targets |= _with_packages(name, module)
        targets.discard(module)
        graph[module] = targets
    return graph


def find_cycle(graph: Dict[str, Set[str]]) -> Optional[List[str]]:
    """A cycle of ``graph`` as a path that ends where it starts, or None."""
    state: Dict[str, int] = {}  # 1: on the current path, 2: done
    path: List[str] = []

    def visit(node: str) -> Optional[List[str]]:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            if nxt not in state:
                cycle = visit(nxt)
                if cycle:
                    return cycle
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state:
            cycle = visit(node)
            if cycle:
                return cycle
    return None


def test_the_graph_sees_imports():
    graph = import_graph()
    assert 'mmssl_kd.engine.optimizers' in MODULES
    # relative and absolute imports, with the packages they initialise
    assert {'mmssl_kd.models.teachers', 'mmssl_kd.models',
            'mmssl_kd.registry'} <= graph['mmssl_kd.engine.optimizers']
    assert find_cycle({'a': {'b'}, 'b': {'c'}, 'c': {'a'}}) == \
        ['a', 'b', 'c', 'a']
    assert find_cycle({'a': {'b'}, 'b': set()}) is None


def test_no_import_cycle():
    cycle = find_cycle(import_graph())
    assert cycle is None, 'import cycle: ' + ' -> '.join(cycle)


@pytest.mark.parametrize('module', sorted(MODULES))
def test_module_imports(module):
    importlib.import_module(module)
