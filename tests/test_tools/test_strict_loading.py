"""The evaluation tools load a checkpoint strictly: one whose keys are not
those of the config's model stops tools/test.py, tools/benchmarks/knn.py
and tools/visualization/tsne.py with the keys named, unless
--allow-missing, which loads what fits and warns.  (layer_alignment.py and
tsne_layers.py: tests/test_tools/test_layer_tools.py.)"""
import importlib.util
import re
from pathlib import Path

import pytest
import torch
from mmengine.registry import init_default_scope

from mmssl_kd.cli import build_model, load_config, load_model

REPO = Path(__file__).resolve().parents[2]


def load_tool(path: str):
    spec = importlib.util.spec_from_file_location(Path(path).stem,
                                                  REPO / path)
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    return tool


knn_tool = load_tool('tools/benchmarks/knn.py')
test_tool = load_tool('tools/test.py')
tsne_tool = load_tool('tools/visualization/tsne.py')


@pytest.fixture(scope='module')
def config(tmp_path_factory, tiny_image_folder) -> str:
    """A tiny classifier with a test set and a KNNHook: every tool here
    takes it."""
    path = tmp_path_factory.mktemp('strict') / 'classifier.py'
    path.write_text(f"""
default_scope = 'mmssl_kd'
pipeline = [dict(type='LoadImageFromFile'), dict(type='Resize', scale=32),
            dict(type='PackInputs')]
loader = dict(batch_size=4, num_workers=0,
              sampler=dict(type='DefaultSampler', shuffle=False),
              collate_fn=dict(type='default_collate'),
              dataset=dict(type='CustomDataset',
                            data_root={str(tiny_image_folder)!r},
                            data_prefix='test', pipeline=pipeline))
train_dataloader = dict(loader, dataset=dict(loader['dataset'],
                                             data_prefix='train'))
train_cfg = dict(max_epochs=1)
optim_wrapper = dict(optimizer=dict(type='SGD', lr=0.1))
test_dataloader = loader
test_evaluator = dict(type='Accuracy', topk=(1, ))
test_cfg = dict()
custom_hooks = [dict(type='KNNHook', bank_dataloader=train_dataloader,
                     query_dataloader=loader, ks=(1, 3))]
model = dict(
    type='ImageClassifier',
    data_preprocessor=dict(type='ClsDataPreprocessor', num_classes=2,
                           mean=[128.] * 3, std=[64.] * 3, to_rgb=True),
    backbone=dict(type='CIFARResNet', depth=20),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(type='LinearClsHead', num_classes=2, in_channels=64,
              loss=dict(type='CrossEntropyLoss')))
""")
    return str(path)


@pytest.fixture(scope='module')
def checkpoints(config, tmp_path_factory) -> dict:
    """'fits': the model's own weights; 'other': the same without the head
    and with a key the model does not have (another config's)."""
    init_default_scope('mmssl_kd')
    torch.manual_seed(1)
    state = build_model(load_config(config)).state_dict()
    folder = tmp_path_factory.mktemp('checkpoints')
    torch.save(dict(state_dict=state), folder / 'fits.pth')
    other = {key: value for key, value in state.items()
             if not key.startswith('head.')}
    other['neck.fc.weight'] = torch.zeros(8, 64)
    torch.save(dict(state_dict=other), folder / 'other.pth')
    return dict(fits=str(folder / 'fits.pth'),
                other=str(folder / 'other.pth'), state=state)


NAMES_THE_KEYS = (r"(?s)does not fit the config's model:.*missing keys.*"
                  r'head\.fc\.weight.*unexpected keys.*neck\.fc\.weight.*'
                  r'--allow-missing')


def test_load_model_refuses_a_checkpoint_of_another_model(config,
                                                          checkpoints,
                                                          recwarn):
    cfg = load_config(config)
    with pytest.raises(ValueError, match=NAMES_THE_KEYS):
        load_model(cfg, checkpoints['other'])
    with pytest.warns(UserWarning, match=r'(?s)--allow-missing: .*'
                      r'head\.fc\.bias'):
        model = load_model(cfg, checkpoints['other'], allow_missing=True)
    loaded = model.state_dict()
    assert torch.equal(loaded['backbone.conv1.weight'],
                       checkpoints['state']['backbone.conv1.weight'])
    assert not torch.equal(loaded['head.fc.weight'],
                           checkpoints['state']['head.fc.weight'])
    recwarn.clear()
    model = load_model(cfg, checkpoints['fits'])
    assert not [w for w in recwarn if '--allow-missing' in str(w.message)]
    for key, value in checkpoints['state'].items():
        assert torch.equal(model.state_dict()[key], value), key


def test_knn_stops_unless_allow_missing(config, checkpoints, capsys):
    with pytest.raises(ValueError, match=NAMES_THE_KEYS):
        knn_tool.main([config, checkpoints['other']])
    assert 'kNN top-1' not in capsys.readouterr().out
    with pytest.warns(UserWarning, match='--allow-missing'):
        results = knn_tool.main([config, checkpoints['other'],
                                 '--allow-missing'])
    assert set(results) >= {'top1_k1', 'top1_k3'}
    assert 'kNN top-1 (k=3)' in capsys.readouterr().out


def run_test_tool(monkeypatch, tmp_path, name: str, *args: str) -> None:
    """tools/test.py as run by a user, in the runner ``name`` (two
    runners in one second would share MMEngine's instances)."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr('sys.argv', [
        'test.py', *args, '--work-dir', str(tmp_path / name),
        '--cfg-options', f'experiment_name={name}'])
    test_tool.main()


def test_test_tool_stops_unless_allow_missing(config, checkpoints, tmp_path,
                                              monkeypatch, capsys):
    with pytest.raises(ValueError, match=NAMES_THE_KEYS):
        run_test_tool(monkeypatch, tmp_path, 'strict', config,
                      checkpoints['other'])
    assert 'accuracy/top1' not in capsys.readouterr().out
    with pytest.warns(UserWarning, match='--allow-missing'):
        run_test_tool(monkeypatch, tmp_path, 'allow', config,
                      checkpoints['other'], '--allow-missing')
    assert re.search(r'^accuracy/top1: ', capsys.readouterr().out,
                     re.MULTILINE)


def test_tsne_stops_unless_allow_missing(config, checkpoints, tmp_path,
                                         capsys):
    args = ['--model', 'other', config, checkpoints['other'],
            '--num-per-class', '4', '--num-workers', '0', '--perplexity',
            '3', '--out', str(tmp_path / 'tsne.png')]
    with pytest.raises(SystemExit, match=NAMES_THE_KEYS):
        tsne_tool.main(args)
    assert not (tmp_path / 'tsne.png').exists()
    with pytest.warns(UserWarning, match='--allow-missing'):
        tsne_tool.main(args + ['--allow-missing'])
    assert (tmp_path / 'tsne.png').is_file()


def test_test_tool_points_a_pretraining_config_to_knn(tmp_path,
                                                      monkeypatch):
    """A self-supervised config has no test loop: the tool says to use
    knn.py (MMEngine raised 'self._test_loop should not be None')."""
    ckpt = tmp_path / 'epoch_1.pth'
    ckpt.write_bytes(b'')  # never read: the config is refused first
    config = str(REPO / 'configs' / 'selfsup' /
                 'mocov3_resnet20-cifar_1xb256-coslr-1e_cifar10-demo.py')
    with pytest.raises(SystemExit, match=r'(?s)no test_dataloader.*'
                       r'tools/benchmarks/knn\.py'):
        run_test_tool(monkeypatch, tmp_path, 'selfsup', config, str(ckpt))
