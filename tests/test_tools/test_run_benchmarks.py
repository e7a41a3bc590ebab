"""tools/benchmarks/run_benchmarks.py: checkpoint -> export -> linear probe
and fine-tuning -> summary, on a tiny image folder."""
import importlib.util
import json
from pathlib import Path

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope

from mmssl_kd.cli import build_model

REPO = Path(__file__).resolve().parents[2]
TOOL = REPO / 'tools' / 'benchmarks' / 'run_benchmarks.py'
PRETRAIN = (REPO / 'configs/selfsup'
            / 'mocov3_resnet20-cifar_1xb256-coslr-1e_cifar10-demo.py')
BENCH = REPO / 'configs/benchmarks/classification/cifar10'
LINEAR = BENCH / 'resnet20-cifar_linear-probe_1xb256-coslr-100e_cifar10.py'
FINE_TUNE = BENCH / 'resnet20-cifar_fine-tune_1xb256-coslr-100e_cifar10.py'

spec = importlib.util.spec_from_file_location('run_benchmarks', TOOL)
run_benchmarks = importlib.util.module_from_spec(spec)
spec.loader.exec_module(run_benchmarks)


@pytest.fixture(scope='module')
def checkpoint(tmp_path_factory) -> Path:
    """A MoCo v3 ResNet-20 'pre-training' checkpoint (random weights)."""
    init_default_scope('mmssl_kd')
    torch.manual_seed(0)
    model = build_model(Config.fromfile(str(PRETRAIN)))
    model.init_weights()
    path = tmp_path_factory.mktemp('pretrain') / 'epoch_1.pth'
    torch.save({'state_dict': model.state_dict()}, path)
    return path


def tiny_data(root: Path) -> list:
    opts = [f'train_dataloader.dataset.data_root={root}',
            f'val_dataloader.dataset.data_root={root}',
            f'test_dataloader.dataset.data_root={root}',
            'train_dataloader.batch_size=4', 'val_dataloader.batch_size=4',
            'test_dataloader.batch_size=4']
    for loader in ('train', 'val', 'test'):
        opts += [f'{loader}_dataloader.num_workers=0',
                 f'{loader}_dataloader.persistent_workers=False']
    return opts


def test_shorten_schedule():
    """Every scheduler keeps its shape on the shorter run."""
    cfg = Config(dict(
        train_cfg=dict(max_epochs=100),
        param_scheduler=[
            dict(type='LinearLR', by_epoch=True, begin=0, end=5),
            dict(type='CosineAnnealingLR', T_max=95, begin=5, end=100),
            dict(type='MultiStepLR', milestones=[60, 80])]))
    run_benchmarks.shorten_schedule(cfg, 2)
    warm, cos, step = cfg.param_scheduler
    assert cfg.train_cfg.max_epochs == 2
    assert (warm.begin, warm.end) == pytest.approx((0, 0.1))
    assert (cos.T_max, cos.begin, cos.end) == pytest.approx((1.9, 0.1, 2))
    assert step.milestones == pytest.approx([1.2, 1.6])
    assert all(s.convert_to_iter_based for s in cfg.param_scheduler)
    cfg.param_scheduler = dict(type='LinearLR', by_epoch=False)
    with pytest.raises(ValueError, match='iteration-based LinearLR'):
        run_benchmarks.shorten_schedule(cfg, 1)


def test_linear_and_fine_tune(checkpoint, tiny_image_folder, tmp_path,
                              capsys):
    work = tmp_path / 'bench'
    summary = run_benchmarks.main([
        str(PRETRAIN), str(checkpoint), '--work-dir', str(work), '--no-knn',
        '--linear', str(LINEAR), '--fine-tune', str(FINE_TUNE),
        '--epochs', '1', '--cfg-options'] + tiny_data(tiny_image_folder))
    assert set(summary) == {'linear', 'fine-tune'}
    for res in summary.values():
        assert 0 <= res['top1'] <= 100 and 0 <= res['top5'] <= 100
    saved = json.loads((work / 'summary.json').read_text())
    assert saved['results']['linear']['top1'] == summary['linear']['top1']
    assert 'linear' in capsys.readouterr().out

    # the linear probe started from the exported student and kept it frozen
    exported = torch.load(work / 'backbone.pth', weights_only=True)
    pretrained = torch.load(checkpoint, weights_only=True)['state_dict']
    key = 'layer1.0.conv1.weight'
    assert torch.equal(exported['state_dict'][key],
                       pretrained['backbone.' + key])
    probe = torch.load(work / 'linear' / 'epoch_1.pth', weights_only=False)
    assert torch.equal(probe['state_dict']['backbone.' + key],
                       pretrained['backbone.' + key])
    tuned = torch.load(work / 'fine-tune' / 'epoch_1.pth', weights_only=False)
    assert not torch.equal(tuned['state_dict']['backbone.' + key],
                           pretrained['backbone.' + key])
    # the pre-training config's normalisation (CIFAR-10 mean) was carried
    cfg = Config.fromfile(str(work / 'linear' / 'config.py'))
    pre = Config.fromfile(str(PRETRAIN))
    assert cfg.model.data_preprocessor.mean == list(
        (pre.model.get('data_preprocessor') or pre.data_preprocessor).mean)


def test_mismatched_backbone_fails_before_training(checkpoint, tmp_path):
    work = tmp_path / 'bench'
    with pytest.raises(ValueError, match='does not fit the backbone'):
        run_benchmarks.main([
            str(PRETRAIN), str(checkpoint), '--work-dir', str(work),
            '--no-knn', '--linear',
            str(BENCH / 'resnet18-cifar_linear-probe_1xb256-coslr-100e_'
                'cifar10.py')])
    assert not (work / 'linear').exists()


def test_refuses_a_used_work_dir(checkpoint, tmp_path):
    (tmp_path / 'old.txt').write_text('keep me')
    with pytest.raises(SystemExit, match='not empty'):
        run_benchmarks.main([str(PRETRAIN), str(checkpoint), '--work-dir',
                             str(tmp_path), '--linear', str(LINEAR)])
    assert (tmp_path / 'old.txt').read_text() == 'keep me'


def test_printed_commands_run_as_pasted(tmp_path, capsys):
    """Each step is echoed as a shell command that re-runs it: ``python``
    first (it was missing) and arguments with spaces quoted."""
    import shlex
    script = tmp_path / 'echo args.py'
    script.write_text('import sys; print(sys.argv[1:])')
    run_benchmarks.run([str(script), 'a b', 'c'])
    line = [ln for ln in capsys.readouterr().out.splitlines()
            if ln.startswith('+ ')][0]
    argv = shlex.split(line[2:])
    assert argv[0] == 'python' and argv[1:] == [str(script), 'a b', 'c']
