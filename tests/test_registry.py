"""Every upstream registry name the ``mmssl_kd`` scope shadows is listed,
with its reason, in ``mmssl_kd.registry.SHADOWED`` and in the config guide:
a new class registered under an MMPretrain/MMEngine/MMCV name fails here
until it says why."""
import importlib
import pkgutil
import re
from pathlib import Path

from mmengine.registry import Registry

import mmssl_kd
from mmssl_kd import registry

ROOT = Path(__file__).resolve().parents[1]
GUIDE = ROOT / 'docs' / 'config_guide.md'


def _import_all() -> None:
    """Import every module of the package, so that every class is
    registered (the registries' lazy ``locations`` cover only some)."""
    for info in pkgutil.walk_packages(mmssl_kd.__path__, 'mmssl_kd.'):
        importlib.import_module(info.name)


def shadowed() -> dict:
    """(registry attribute, name) -> the upstream class that the scope's
    class of that name hides, for every registry of :mod:`mmssl_kd.registry`
    (the parents: MMPretrain's registries, then MMEngine's)."""
    _import_all()
    found = {}
    for attr, reg in vars(registry).items():
        if not isinstance(reg, Registry):
            continue
        assert reg.scope == registry.SCOPE, attr
        for name in reg.module_dict:
            parent = reg.parent
            while parent is not None:
                parent.import_from_location()
                if name in parent.module_dict:
                    found[(attr, name)] = parent.module_dict[name]
                    break
                parent = parent.parent
    return found


def _guide_rows() -> dict:
    """(registry, name) -> upstream package of the config guide's table
    'Names the scope shadows'."""
    text = GUIDE.read_text(encoding='utf-8')
    section = text.split('## Names the scope shadows', 1)[1]
    section = section.split('\n## ', 1)[0]
    rows = re.findall(r'^\| `(\w+)` \| (\w+) \| (\w+) \| .+ \|$', section,
                      flags=re.M)
    return {(reg, name): upstream for name, reg, upstream in rows}


def test_every_shadowed_name_has_a_reason():
    actual = shadowed()
    listed = set(registry.SHADOWED)
    assert set(actual) == listed, (
        f'shadowed but not in mmssl_kd.registry.SHADOWED: '
        f'{sorted(set(actual) - listed)}; listed but not shadowed: '
        f'{sorted(listed - set(actual))}')
    for key, reason in registry.SHADOWED.items():
        assert isinstance(reason, str) and len(reason) > 20, key


def test_config_guide_lists_the_same_names():
    rows = _guide_rows()
    assert set(rows) == set(registry.SHADOWED), (
        sorted(set(rows) ^ set(registry.SHADOWED)))
    for key, cls in shadowed().items():
        package = cls.__module__.split('.')[0]
        assert rows[key].lower() == package, (key, rows[key], package)
