"""tools/analysis_tools/layer_alignment.py and tools/visualization/
tsne_layers.py on a tiny MultiLayerCLSViT (3 blocks) and 8 tiny images."""
import importlib.util
import re
from pathlib import Path

import pytest
import torch
from mmengine.registry import init_default_scope
from mmengine.runner import set_random_seed

from mmssl_kd.cli import load_config

REPO = Path(__file__).resolve().parents[2]
PNG_HEADER = b'\x89PNG\r\n\x1a\n'
AUGMENT = [dict(type='RandomResizedCrop', scale=32, backend='pillow'),
           dict(type='RandomFlip', prob=0.5)]


def load_tool(path: str):
    spec = importlib.util.spec_from_file_location(Path(path).stem,
                                                  REPO / path)
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    return tool


alignment_tool = load_tool('tools/analysis_tools/layer_alignment.py')
tsne_tool = load_tool('tools/visualization/tsne_layers.py')


def write_config(path: Path, data_root: Path, view: list) -> str:
    """SimCLR with a 3-block MultiLayerCLSViT, two views of ``view``."""
    path.write_text(f"""
default_scope = 'mmssl_kd'
model = dict(
    type='SimCLR',
    data_preprocessor=dict(type='SelfSupDataPreprocessor', mean=[128.] * 3,
                           std=[64.] * 3, to_rgb=True),
    backbone=dict(type='MultiLayerCLSViT',
                  arch=dict(embed_dims=24, num_layers=3, num_heads=2,
                            feedforward_channels=48),
                  img_size=32, patch_size=8),
    neck=dict(type='NonLinearNeck', in_channels=24, hid_channels=24,
              out_channels=16, num_layers=2, with_avg_pool=False),
    head=dict(type='ContrastiveHead', loss=dict(type='CrossEntropyLoss'),
              temperature=0.1))
train_dataloader = dict(
    batch_size=4, num_workers=0,
    sampler=dict(type='DefaultSampler', shuffle=True),
    collate_fn=dict(type='default_collate'),
    dataset=dict(type='ImageFolder', data_root={str(data_root)!r},
                 split='train',
                 pipeline=[dict(type='LoadImageFromFile'),
                           dict(type='MultiView', num_views=2,
                                transforms=[{view!r}]),
                           dict(type='PackInputs')]))
""")
    return str(path)


@pytest.fixture
def config(tmp_path, tiny_image_folder) -> str:
    return write_config(tmp_path / 'tiny_vit.py', tiny_image_folder, AUGMENT)


@pytest.fixture
def checkpoint(tmp_path, config) -> str:
    """The weights that 'random' with seed 0 gives, saved."""
    init_default_scope('mmssl_kd')
    set_random_seed(0)
    model = alignment_tool.load_model(load_config(config), 'random')
    path = tmp_path / 'epoch_1.pth'
    torch.save(dict(state_dict=model.state_dict()), path)
    return str(path)


def alignment(config: str, seed: int = 0):
    return alignment_tool.model_alignment(
        load_config(config), 'random', split='test', num_per_class=4,
        batch_size=4, num_workers=0, seed=seed)


def table_rows(out: str):
    return [line.split() for line in out.splitlines()
            if re.match(r'\s+\d+ ', line)]


def test_alignment_per_block_in_range_and_seeded(config):
    pos, neg = alignment(config)
    assert len(pos) == len(neg) == 3
    assert all(-1 - 1e-6 <= v <= 1 + 1e-6 for v in pos + neg)
    assert min(pos) < 1 - 1e-4  # random crops and flips change the token
    # the seed fixes the views: another model run sees the same ones
    assert alignment(config) == (pos, neg)
    assert alignment(config, seed=1) != (pos, neg)


def test_identical_views_align_exactly(tmp_path, tiny_image_folder):
    config = write_config(tmp_path / 'same_views.py', tiny_image_folder, [])
    pos, neg = alignment(config)
    assert pos == pytest.approx([1.0] * 3, abs=1e-5)
    assert all(v < 1 - 1e-4 for v in neg)


def test_alignment_cli(config, checkpoint, tmp_path, capsys):
    out = tmp_path / 'alignment.png'
    results = alignment_tool.main([
        '--model', 'random', config, 'random',
        '--model', 'loaded', config, checkpoint,
        '--num-per-class', '4', '--batch-size', '4', '--num-workers', '0',
        '--out', str(out)])
    assert out.read_bytes()[:8] == PNG_HEADER
    # the checkpoint holds the seeded 'random' weights: same numbers
    for loaded, random in zip(results['loaded'], results['random']):
        assert loaded == pytest.approx(random, abs=1e-6)
    rows = table_rows(capsys.readouterr().out)
    assert [row[0] for row in rows] == ['1', '2', '3']
    assert all(len(row) == 5 for row in rows)  # block, 2 x (pos, neg)


def test_tsne_cli_grid(config, checkpoint, tmp_path, capsys):
    out = tmp_path / 'tsne.png'
    fig = tsne_tool.main([
        '--model', 'random', config, 'random',
        '--model', 'SD', config, checkpoint, '--blocks', '1', '3',
        '--num-per-class', '4', '--num-workers', '0', '--perplexity', '3',
        '--out', str(out)])
    assert out.read_bytes()[:8] == PNG_HEADER
    assert len(fig.axes) == 2 * 2
    assert [ax.get_title() for ax in fig.axes] == [
        'random, block 1', 'random, block 3', 'SD, block 1', 'SD, block 3']
    assert [t.get_text() for t in fig.legends[0].get_texts()] == [
        'class_0', 'class_1']
    rows = table_rows(capsys.readouterr().out)
    assert [row[0] for row in rows] == ['1', '3']
    assert all(len(row) == 3 for row in rows)  # block, 2 models


@pytest.mark.parametrize('tool', ['alignment', 'tsne'])
def test_never_overwrites_without_force(config, tmp_path, tool):
    """Both tools refuse an existing OUT without --force, as tsne.py does
    (they overwrote it silently)."""
    out = tmp_path / 'figure.png'
    out.write_bytes(b'keep me')
    main = alignment_tool.main if tool == 'alignment' else tsne_tool.main
    argv = ['--model', 'random', config, 'random', '--num-per-class', '4',
            '--num-workers', '0', '--out', str(out)]
    argv += ['--blocks', '1', '--perplexity', '3'] if tool == 'tsne' else []
    with pytest.raises(SystemExit, match='pass --force'):
        main(argv)
    assert out.read_bytes() == b'keep me'
    main(argv + ['--force'])
    assert out.read_bytes()[:8] == PNG_HEADER


@pytest.mark.parametrize('block', ['0', '4'])
def test_tsne_bad_block_names_the_depth(config, block):
    with pytest.raises(SystemExit, match=r'depth 3.*from 1 to 3'):
        tsne_tool.main(['--model', 'random', config, 'random', '--blocks',
                        '1', block, '--num-per-class', '4',
                        '--num-workers', '0'])


@pytest.mark.parametrize('method,module,package', [
    ('tsne', 'sklearn', 'scikit-learn'), ('umap', 'umap', 'umap-learn')])
def test_tsne_missing_package_says_what_to_install(config, monkeypatch,
                                                   method, module, package):
    find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, 'find_spec',
                        lambda name, *a: None if name == module else
                        find_spec(name, *a))
    with pytest.raises(SystemExit, match=f'pip install {package}'):
        tsne_tool.main(['--model', 'random', config, 'random', '--blocks',
                        '1', '--method', method])


@pytest.fixture
def other_checkpoint(tmp_path, checkpoint) -> str:
    """The checkpoint without its neck, as another config's would be."""
    state = torch.load(checkpoint, weights_only=True)['state_dict']
    path = tmp_path / 'no_neck.pth'
    torch.save(dict(state_dict={key: value for key, value in state.items()
                                if not key.startswith('neck.')}), path)
    return str(path)


@pytest.mark.parametrize('tool,extra', [
    (alignment_tool, ['--batch-size', '4']),
    (tsne_tool, ['--blocks', '1', '3', '--perplexity', '3'])],
    ids=['layer_alignment', 'tsne_layers'])
def test_checkpoint_of_another_model_stops_unless_allow_missing(
        tool, extra, config, other_checkpoint, tmp_path):
    out = tmp_path / 'out.png'
    args = ['--model', 'other', config, other_checkpoint, '--num-per-class',
            '4', '--num-workers', '0', '--out', str(out), *extra]
    with pytest.raises(SystemExit, match=r"(?s)does not fit the config's "
                       r'model:.*missing keys.*neck\..*--allow-missing'):
        tool.main(args)
    assert not out.exists()
    with pytest.warns(UserWarning, match=r'(?s)--allow-missing: .*neck\.'):
        tool.main(args + ['--allow-missing'])
    assert out.read_bytes()[:8] == PNG_HEADER
