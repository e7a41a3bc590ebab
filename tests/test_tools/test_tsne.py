"""tools/visualization/tsne.py on a tiny SEED (CIFAR ResNet-20 student and
frozen teacher) and 8 tiny images: the PNG, models side by side, parts,
refusals."""
import importlib.util
import re
from pathlib import Path

import pytest
import torch
from mmengine.registry import init_default_scope
from mmengine.runner import set_random_seed
from PIL import Image

from mmssl_kd.cli import load_config, load_model
from mmssl_kd.visualization import DPI

REPO = Path(__file__).resolve().parents[2]
spec = importlib.util.spec_from_file_location(
    'tsne', REPO / 'tools/visualization/tsne.py')
tsne = importlib.util.module_from_spec(spec)
spec.loader.exec_module(tsne)


@pytest.fixture(scope='module')
def config(tmp_path_factory, tiny_image_folder) -> str:
    """SEED: a ResNet-20 student, a frozen ResNet-20 teacher without weights
    (16-d embeddings), the tiny images as training data."""
    path = tmp_path_factory.mktemp('tsne') / 'tiny_seed.py'
    path.write_text(f"""
default_scope = 'mmssl_kd'
model = dict(
    type='SEED', queue_len=16,
    data_preprocessor=dict(type='SelfSupDataPreprocessor', mean=[128.] * 3,
                           std=[64.] * 3, to_rgb=True),
    backbone=dict(type='CIFARResNet', depth=20),
    neck=dict(type='MoCoV2Neck', in_channels=64, hid_channels=64,
              out_channels=16, with_avg_pool=True),
    teacher=dict(type='FrozenTeacher',
                 backbone=dict(type='CIFARResNet', depth=20),
                 neck=dict(type='LinearNeck', in_channels=64,
                           out_channels=16, gap_dim=2, norm_cfg=None)))
train_dataloader = dict(
    batch_size=4, num_workers=0,
    sampler=dict(type='DefaultSampler', shuffle=True),
    collate_fn=dict(type='default_collate'),
    dataset=dict(type='ImageFolder', data_root={str(tiny_image_folder)!r},
                 split='train', pipeline=[dict(type='LoadImageFromFile'),
                                          dict(type='PackInputs')]))
""")
    return str(path)


@pytest.fixture(scope='module')
def checkpoint(config, tmp_path_factory) -> str:
    """Other weights than 'random' (seed 1 instead of 0)."""
    init_default_scope('mmssl_kd')
    set_random_seed(1)
    model = load_model(load_config(config), 'random')
    path = tmp_path_factory.mktemp('ckpt') / 'epoch_1.pth'
    torch.save(dict(state_dict=model.state_dict()), path)
    return str(path)


def run(config: str, out: Path, *extra: str):
    return tsne.main(['--model', 'random', config, 'random',
                      '--num-per-class', '4', '--num-workers', '0',
                      '--perplexity', '3', '--out', str(out), *extra])


def silhouettes(out: str, parts: bool = False) -> dict:
    """model -> silhouette (or -> (part, silhouette)) of the printed
    table."""
    return {m[1]: (m[2], float(m[3])) if parts else float(m[3]) for m in
            re.finditer(r'^(\S+)\s+(\S+)\s+(-?\d\.\d{4})$', out,
                        re.MULTILINE)}


def test_two_models_side_by_side(config, checkpoint, tmp_path, capsys):
    out = tmp_path / 'tsne.png'
    fig = run(config, out, '--model', 'trained', config, checkpoint)
    with Image.open(out) as image:
        assert image.format == 'PNG'
        assert image.size == tuple(round(s * DPI)
                                   for s in fig.get_size_inches())
    titles = [ax.get_title() for ax in fig.axes]
    assert [t.split('\n')[0] for t in titles] == ['random [backbone]',
                                                  'trained [backbone]']
    assert [t.get_text() for t in fig.legends[0].get_texts()] == [
        'class_0', 'class_1']
    scores = silhouettes(capsys.readouterr().out)
    assert list(scores) == ['random', 'trained']
    assert all(-1 <= s <= 1 for s in scores.values())
    assert scores['random'] != scores['trained']
    assert float(titles[0].split()[-1]) == pytest.approx(
        scores['random'], abs=1e-3)


def test_never_overwrites_without_force(config, tmp_path):
    out = tmp_path / 'tsne.png'
    out.write_bytes(b'not a png')
    with pytest.raises(SystemExit, match='--force'):
        run(config, out)
    assert out.read_bytes() == b'not a png'
    run(config, out, '--force')
    assert out.read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'


def test_part_teacher(config, tmp_path, capsys):
    """The frozen teacher's features, not the student's."""
    run(config, tmp_path / 'student.png')
    run(config, tmp_path / 'teacher.png', '--part', 'teacher')
    printed = capsys.readouterr().out
    student, teacher = [silhouettes(part, parts=True)['random'] for part in
                        printed.split('Figure:')[:2]]
    assert student[0] == 'backbone' and teacher[0] == 'teacher'
    assert student[1] != teacher[1]
    with pytest.raises(SystemExit, match='no sub-model `peer`'):
        run(config, tmp_path / 'peer.png', '--part', 'peer')


def test_part_per_model(config, checkpoint, tmp_path, capsys):
    """--part takes one part per --model (it applied one part to every
    model, silently); the table and the panels say which."""
    fig = run(config, tmp_path / 'parts.png', '--model', 'trained', config,
              checkpoint, '--part', 'teacher', 'backbone')
    scores = silhouettes(capsys.readouterr().out, parts=True)
    assert [part for part, _ in scores.values()] == ['teacher', 'backbone']
    assert [ax.get_title().split('\n')[0] for ax in fig.axes] == [
        'random [teacher]', 'trained [backbone]']
    with pytest.raises(SystemExit, match='one per --model'):
        run(config, tmp_path / 'three.png', '--part', 'teacher', 'backbone')


def test_missing_umap_says_what_to_install(config, tmp_path, monkeypatch):
    find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, 'find_spec',
                        lambda name, *a: None if name == 'umap' else
                        find_spec(name, *a))
    with pytest.raises(SystemExit, match='pip install umap-learn'):
        run(config, tmp_path / 'umap.png', '--method', 'umap')
