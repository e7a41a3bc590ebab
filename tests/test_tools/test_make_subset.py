"""tools/dataset_converters/make_subset.py writes the subset that
ImageFolder's num_per_class would pick, and never overwrites silently."""
import importlib.util
from pathlib import Path

import pytest

from mmssl_kd.datasets import ImageFolder, balanced_subset

TOOL = Path(__file__).resolve().parents[2] / \
    'tools/dataset_converters/make_subset.py'
spec = importlib.util.spec_from_file_location('make_subset', TOOL)
make_subset = importlib.util.module_from_spec(spec)
spec.loader.exec_module(make_subset)


def names(dataset):
    return [p.split('/train/', 1)[1] for p in
            (d['img_path'] for d in dataset.load_data_list())]


def test_subset_file_equals_num_per_class(tiny_image_folder, tmp_path):
    out = tmp_path / 'sub.txt'
    make_subset.main([str(tiny_image_folder), '--per-class', '2',
                      '--seed', '3', '--out', str(out)])
    lines = [ln for ln in out.read_text().splitlines()
             if not ln.startswith('#')]
    in_memory = ImageFolder(data_root=str(tiny_image_folder),
                            num_per_class=2, subset_seed=3)
    assert lines == names(in_memory) and len(lines) == 4
    from_file = ImageFolder(data_root=str(tiny_image_folder),
                            subset_file=str(out))
    assert names(from_file) == lines
    with pytest.raises(SystemExit, match='--force'):
        make_subset.main([str(tiny_image_folder), '--fraction', '0.5',
                          '--out', str(out)])
    make_subset.main([str(tiny_image_folder), '--fraction', '0.5',
                      '--seed', '3', '--out', str(out), '--force'])
    assert [ln for ln in out.read_text().splitlines()
            if not ln.startswith('#')] == lines  # 0.5 of 4 = 2 per class


def test_fraction_rounds_per_class_and_keeps_one():
    samples = [(f'a/{i}', 0) for i in range(15)] + [('b/0', 1)]
    chosen, short = balanced_subset(samples, 0, fraction=0.1)
    assert [label for _, label in chosen] == [0, 0, 1] and not short
    chosen, short = balanced_subset(samples, 0, num_per_class=3)
    assert short == [(1, 1)] and len(chosen) == 4
    with pytest.raises(ValueError, match='exactly one'):
        balanced_subset(samples, 0)
    with pytest.raises(ValueError, match=r'\(0, 1\]'):
        balanced_subset(samples, 0, fraction=1.5)


@pytest.mark.slow
@pytest.mark.parametrize('name', ['cifar10', 'imagenette'])
@pytest.mark.parametrize('pct', [1, 10])
def test_committed_subset_files_are_reproduced(name, pct, tmp_path):
    """splits/<name>_train_<pct>pct_seed0.txt is what the tool writes from
    data/<name> (needs the bundled data)."""
    repo = TOOL.parents[2]
    out = tmp_path / 'sub.txt'
    make_subset.main([str(repo / 'data' / name), '--fraction', str(pct / 100),
                      '--out', str(out)])
    committed = (repo / f'splits/{name}_train_{pct}pct_seed0.txt').read_text()
    body = [ln for ln in committed.splitlines() if not ln.startswith('#')]
    assert [ln for ln in out.read_text().splitlines()
            if not ln.startswith('#')] == body
