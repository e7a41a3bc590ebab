"""tools/visualization/plot_curves.py: which scalars a key selects, the
PNG it writes from a run's logs, and its refusals."""
import importlib.util
import json
from pathlib import Path

import pytest

TOOL = Path(__file__).resolve().parents[2] / \
    'tools/visualization/plot_curves.py'
spec = importlib.util.spec_from_file_location('plot_curves', TOOL)
plot_curves = importlib.util.module_from_spec(spec)
spec.loader.exec_module(plot_curves)


def fake_run(root: Path) -> Path:
    """A work dir as tools/train.py leaves it: two parts' kNN, then
    training records with two optimizers."""
    vis = root / '20261122_000000' / 'vis_data'
    vis.mkdir(parents=True)
    records = [{'knn/top1_k20': 20.0, 'step': 0},
               {'knn/peer/top1_k20': 19.0, 'step': 0}]
    records += [{'cnn.lr': 0.1 / s, 'vit.lr': 3e-4 / s, 'loss': 9. - s,
                 'loss_mlp_1': 5. - s, 'teacher_temp_1': 0.04, 'step': s}
                for s in (1, 2, 3)]
    records.append({'knn/top1_k20': 25.0, 'step': 3})
    (vis / 'scalars.json').write_text(
        '\n'.join(json.dumps(r) for r in records) + '\n')
    return root


def test_keys_select_scalars():
    names = ['loss', 'loss_1', 'loss_mlp_2', 'lossy', 'teacher_temp_2',
             'cnn.lr', 'vit.base_lr', 'lr', 'knn/top1_k20',
             'knn/peer/top1_k20', 'knn/top1_k200']
    assert plot_curves.matching_names(names, 'loss') == [
        'loss', 'loss_1', 'loss_mlp_2']
    assert plot_curves.matching_names(names, 'lr') == ['cnn.lr', 'lr']
    assert plot_curves.matching_names(names, 'top1_k20') == [
        'knn/peer/top1_k20', 'knn/top1_k20']
    assert plot_curves.matching_names(names, 'teacher_temp') == [
        'teacher_temp_2']


def test_writes_the_panels_it_finds(tmp_path, capsys):
    run = fake_run(tmp_path / 'run')
    out = tmp_path / 'curves.png'
    plot_curves.main([str(run), '--out', str(out), '--keys', 'loss', 'lr',
                      'top1_k20', 'grad_norm'])
    assert out.read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'
    assert 'loss, lr, top1_k20 of run' in capsys.readouterr().out
    assert plot_curves.curves(
        plot_curves.read_scalars(str(run)), 'knn/top1_k20') == [
            [0, 3], [20.0, 25.0]]
    with pytest.raises(SystemExit):  # never overwrites silently
        plot_curves.main([str(run), '--out', str(out)])
    with pytest.raises(ValueError, match='None of the keys'):
        plot_curves.main([str(run), '--out', str(tmp_path / 'x.png'),
                          '--keys', 'grad_norm'])
    with pytest.raises(FileNotFoundError, match='scalars.json'):
        plot_curves.main([str(tmp_path), '--out', str(tmp_path / 'y.png')])
