"""KNNHook inside a real Runner, and tools/benchmarks/knn.py."""
import importlib.util
import json
import re
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
import torch
from mmengine.config import Config
from mmengine.hooks import Hook
from mmengine.registry import init_default_scope
from mmengine.runner import Runner

from mmssl_kd.compat import check_config_file
from mmssl_kd.engine import Runner as ProjectRunner
from mmssl_kd.evaluation import knn_evaluate
from mmssl_kd.registry import MODELS

REPO = Path(__file__).resolve().parents[3]
TOOL = REPO / 'tools' / 'benchmarks' / 'knn.py'


def tiny_config(data_root: Path, **hook_args) -> dict:
    """SimCLR with a narrow ResNet-18 on 32 px crops, plus a KNNHook."""
    def loader(split, pipeline, batch_size, shuffle):
        return dict(
            batch_size=batch_size, num_workers=0,
            dataset=dict(type='CustomDataset', data_root=str(data_root),
                         data_prefix=split, pipeline=pipeline),
            sampler=dict(type='DefaultSampler', shuffle=shuffle),
            collate_fn=dict(type='default_collate'))

    knn_pipeline = [dict(type='LoadImageFromFile'),
                    dict(type='CenterCrop', crop_size=32),
                    dict(type='PackInputs')]
    train_pipeline = [
        dict(type='LoadImageFromFile'),
        dict(type='RandomResizedCrop', scale=32),
        dict(type='MultiView', num_views=2,
             transforms=[[dict(type='RandomFlip', prob=0.5)]]),
        dict(type='PackInputs')]
    hook = dict(type='KNNHook',
                bank_dataloader=loader('train', knn_pipeline, 3, False),
                query_dataloader=loader('test', knn_pipeline, 3, False),
                ks=(1, 3, 20), temperature=0.07)
    hook.update(hook_args)
    return dict(
        default_scope='mmssl_kd',
        model=dict(
            type='SimCLR',
            data_preprocessor=dict(type='SelfSupDataPreprocessor',
                                   mean=[128.0] * 3, std=[64.0] * 3,
                                   to_rgb=True),
            backbone=dict(type='ResNet', depth=18, stem_channels=8,
                          base_channels=8, norm_cfg=dict(type='BN')),
            neck=dict(type='NonLinearNeck', in_channels=64, hid_channels=32,
                      out_channels=16, num_layers=2, with_avg_pool=True),
            head=dict(type='ContrastiveHead',
                      loss=dict(type='CrossEntropyLoss'), temperature=0.1)),
        train_dataloader=loader('train', train_pipeline, 4, True),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.01,
                                          momentum=0.9)),
        train_cfg=dict(by_epoch=True, max_epochs=3),
        default_hooks=dict(checkpoint=None,
                           logger=dict(type='LoggerHook', interval=1)),
        custom_hooks=[hook],
        randomness=dict(seed=0))


def run(cfg: dict, work_dir: Path):
    """Train; return the kNN log lines, the kNN scalar records, the runner."""
    cfg = Config(dict(cfg, work_dir=str(work_dir),
                      experiment_name=f'knn_{uuid.uuid4().hex}'))
    runner = Runner.from_cfg(cfg)
    runner.train()
    log = Path(runner.log_dir, f'{runner.timestamp}.log').read_text()
    lines = [line[line.index('kNN (T='):] for line in log.splitlines()
             if 'kNN (T=' in line]
    scalars = [json.loads(line) for line in
               Path(runner.log_dir, 'vis_data', 'scalars.json').open()]
    return lines, [s for s in scalars if 'knn/top1_k1' in s], runner


def test_hook_every_interval_last_epoch_and_before_train(tiny_image_folder,
                                                         tmp_path):
    cfg = tiny_config(tiny_image_folder, interval=2, before_train=True)
    lines, scalars, runner = run(cfg, tmp_path)
    # 3 epochs of 2 iterations: before training, epoch 2, last epoch 3
    assert [line.split(':')[0] for line in lines] == [
        'kNN (T=0.07) before training', 'kNN (T=0.07) epoch 2',
        'kNN (T=0.07) epoch 3']
    assert re.fullmatch(r'kNN \(T=0\.07\) epoch 3: top1_k1 \d+\.\d\d  '
                        r'top1_k3 \d+\.\d\d  top1_k20 \d+\.\d\d', lines[-1])
    assert [s['step'] for s in scalars] == [0, 4, 6]
    last = runner.message_hub.get_info('knn/top1_k20')
    assert last == scalars[-1]['knn/top1_k20']
    assert f'top1_k20 {last:.2f}' in lines[-1]
    assert all(0 <= s[f'knn/top1_k{k}'] <= 100
               for s in scalars for k in (1, 3, 20))


def test_hook_with_iteration_based_loop(tiny_image_folder, tmp_path):
    cfg = tiny_config(tiny_image_folder, interval=2)
    cfg.update(train_cfg=dict(by_epoch=False, max_iters=5),
               log_processor=dict(by_epoch=False))
    # an endless sampler: mmengine pauses 2 s whenever a dataloader restarts
    cfg['train_dataloader']['sampler'] = dict(type='InfiniteSampler')
    lines, scalars, _ = run(cfg, tmp_path)
    # every 2 iterations and the last one, not again at the loop's end
    assert [line.split(':')[0] for line in lines] == [
        'kNN (T=0.07) iter 2', 'kNN (T=0.07) iter 4', 'kNN (T=0.07) iter 5']
    assert [s['step'] for s in scalars] == [2, 4, 5]


def test_hook_rejects_bad_interval():
    from mmssl_kd.engine.hooks import KNNHook
    with pytest.raises(ValueError, match='interval'):
        KNNHook(bank_dataloader={}, query_dataloader={}, interval=0)
    with pytest.raises(ValueError, match='parts'):
        KNNHook(bank_dataloader={}, query_dataloader={}, parts=())


def test_hook_evaluates_each_part(tiny_image_folder, tmp_path):
    """DoGo's peer gets its own kNN line and scalars, equal to a kNN of
    the peer's backbone features computed afterwards."""
    cfg = tiny_config(tiny_image_folder, interval=3, parts=('backbone',
                                                           'peer'))
    simclr = cfg['model']
    peer = dict(backbone=simclr['backbone'], neck=dict(
        simclr['neck'], with_bias=False, with_last_bn=False,
        with_last_bias=True, norm_cfg=dict(type='BN1d')))
    cfg['model'] = dict(type='DoGo', model1=peer,
                        model2=dict(backbone=dict(peer['backbone'],
                                                  base_channels=4),
                                    neck=dict(peer['neck'], in_channels=32)),
                        data_preprocessor=simclr['data_preprocessor'])
    cfg['train_dataloader']['dataset']['pipeline'][2]['num_views'] = 4
    cfg['optim_wrapper'] = dict(
        constructor='PartsOptimWrapperConstructor',
        model1=dict(optimizer=dict(type='Adam', lr=1e-3)),
        model2=dict(optimizer=dict(type='Adam', lr=1e-3)))
    lines, scalars, runner = run(cfg, tmp_path)
    assert [line.split(':')[0] for line in lines] == [
        'kNN (T=0.07) epoch 3', 'kNN (T=0.07) epoch 3 [peer]']
    from mmssl_kd.evaluation import part_model
    loaders = runner._hooks[-1]._dataloaders
    for part, prefix in [('backbone', 'knn/'), ('peer', 'knn/peer/')]:
        again = knn_evaluate(part_model(runner.model, part), *loaders,
                             ks=(1, 3, 20))
        for k in (1, 3, 20):
            assert runner.message_hub.get_info(f'{prefix}top1_k{k}') == \
                again[f'top1_k{k}']
    x = torch.randn(2, 3, 32, 32)
    runner.model.eval()
    assert part_model(runner.model, 'peer').extract_feat(x)[-1].shape[1] \
        == 32  # base_channels 4: the peer's 32-d features, not 64
    with pytest.raises(ValueError, match="no sub-model `teacher`"):
        part_model(runner.model, 'teacher')


def folder_config(data_root: Path, query_split: str = 'test',
                  **hook_args) -> dict:
    """:func:`tiny_config` on ``ImageFolder`` datasets, the kNN ones
    without ``data_root`` (they follow the training set's), with the
    project's Runner (:class:`ProjectRunner`) and a checkpoint after every
    epoch."""
    cfg = tiny_config(data_root, **hook_args)
    for loader, split in ((cfg['train_dataloader'], 'train'),
                          (cfg['custom_hooks'][0]['bank_dataloader'],
                           'train'),
                          (cfg['custom_hooks'][0]['query_dataloader'],
                           query_split)):
        loader['dataset'] = dict(type='ImageFolder', split=split,
                                 pipeline=loader['dataset']['pipeline'])
    cfg['train_dataloader']['dataset']['data_root'] = str(data_root)
    cfg['default_hooks']['checkpoint'] = dict(type='CheckpointHook',
                                              interval=1)
    return cfg


def test_knn_datasets_follow_the_training_data_root():
    from mmssl_kd.engine.hooks import KNNHook
    source = dict(type='ImageFolder', split='test')
    hook = KNNHook(
        bank_dataloader=dict(dataset=dict(type='ImageFolder', split='train')),
        query_dataloader=dict(dataset=dict(type='DeviceImageDataset',
                                           source=source)))
    train = dict(type='DeviceImageDataset',
                 source=dict(type='ImageFolder', data_root='data/x'))
    bank, query = hook.dataloader_cfgs(train)
    assert bank['dataset'] == dict(type='ImageFolder', split='train',
                                   data_root='data/x')
    assert query['dataset']['source'] == dict(source, data_root='data/x')
    assert 'data_root' not in source  # the hook's own config is untouched
    hook.query_cfg['dataset']['source']['data_root'] = 'data/own'
    assert hook.dataloader_cfgs(train)[1]['dataset']['source'][
        'data_root'] == 'data/own'  # a config's own root stays
    with pytest.raises(ValueError, match='bank_dataloader.dataset has no '
                       'data_root, and the training dataset has none'):
        hook.dataloader_cfgs(None)


def test_missing_knn_folder_stops_the_run_before_training(tiny_image_folder,
                                                          tmp_path):
    """The kNN query split does not exist: the run stops before its first
    iteration (it used to train an epoch, then fail in the kNN hook before
    the checkpoint)."""
    cfg = Config(dict(folder_config(tiny_image_folder, query_split='val'),
                      work_dir=str(tmp_path)))
    runner = ProjectRunner.from_cfg(cfg)
    trained = []

    class Count(Hook):
        def after_train_iter(self, *args, **kwargs):
            trained.append(1)

    runner.register_hook(Count())
    with pytest.raises(FileNotFoundError, match=r"/val\) \(split 'val'\) "
                       'does not exist'):
        runner.train()
    assert not trained
    assert not list(tmp_path.glob('*.pth'))


def test_failing_evaluation_keeps_the_checkpoint(tiny_image_folder,
                                                 tmp_path):
    """The kNN hook fails after epoch 1 (a part the model lacks): the error
    reaches the caller, epoch_1.pth is written all the same, and a fixed
    config resumes from it."""
    cfg = folder_config(tiny_image_folder, parts=('backbone', 'teacher'))
    cfg['train_cfg']['max_epochs'] = 2
    runner = ProjectRunner.from_cfg(Config(dict(cfg,
                                                 work_dir=str(tmp_path))))
    with pytest.raises(ValueError, match='no sub-model `teacher`'):
        runner.train()
    assert runner.iter == 2 and (tmp_path / 'epoch_1.pth').is_file()
    cfg['custom_hooks'][0]['parts'] = ('backbone', )
    resumed = ProjectRunner.from_cfg(Config(dict(
        cfg, work_dir=str(tmp_path), resume=True,
        load_from=str(tmp_path / 'epoch_1.pth'),
        experiment_name=f'resumed_{uuid.uuid4().hex}')))
    resumed.train()
    assert resumed.epoch == 2 and (tmp_path / 'epoch_2.pth').is_file()
    assert resumed.message_hub.get_info('knn/top1_k1') is not None


def sdssl_config(data_root: Path, **hook_args) -> dict:
    """SD-SimCLR on a 3-block ViT: every block's [CLS] token."""
    cfg = tiny_config(data_root, **hook_args)
    neck = dict(type='NonLinearNeck', in_channels=24, hid_channels=32,
                out_channels=16, num_layers=2, with_avg_pool=False,
                norm_cfg=dict(type='BN1d'))
    cfg['model'] = dict(
        type='SDSSL', base='simclr',
        data_preprocessor=cfg['model']['data_preprocessor'],
        backbone=dict(type='MultiLayerCLSViT',
                      arch=dict(embed_dims=24, num_layers=3, num_heads=2,
                                feedforward_channels=48),
                      img_size=32, patch_size=8),
        neck=neck)
    return cfg


def test_hook_evaluates_each_block(tiny_image_folder, tmp_path):
    """blocks=(1, 3): one line and scalars per block, equal to a kNN of
    that block's features; block 3 (the last) is the default feature."""
    cfg = sdssl_config(tiny_image_folder, interval=3, blocks=(1, 3))
    lines, _, runner = run(cfg, tmp_path)
    assert [line.split(':')[0] for line in lines] == [
        'kNN (T=0.07) epoch 3 [block 1]', 'kNN (T=0.07) epoch 3 [block 3]']
    from mmssl_kd.evaluation import part_model
    loaders = runner._hooks[-1]._dataloaders
    for block in (1, 3):
        again = knn_evaluate(part_model(runner.model, 'backbone', block),
                             *loaders, ks=(1, 3, 20))
        assert runner.message_hub.get_info(f'knn/block{block}/top1_k3') == \
            again['top1_k3']
    default = knn_evaluate(runner.model, *loaders, ks=(1, 3, 20))
    assert default['top1_k3'] == runner.message_hub.get_info(
        'knn/block3/top1_k3')
    x = torch.randn(2, 3, 32, 32)
    runner.model.eval()
    first = part_model(runner.model, 'backbone', 1).extract_feat(x)[0]
    assert not torch.allclose(first, runner.model.extract_feat(x)[-1])
    with pytest.raises(ValueError, match='block 4: the backbone gives 3'):
        part_model(runner.model, 'backbone', 4).extract_feat(x)


# ---------------------------------------------------------------------------
# tools/benchmarks/knn.py


def write_config(cfg: dict, path: Path) -> str:
    path.write_text(''.join(f'{key} = {value!r}\n'
                            for key, value in cfg.items()))
    check_config_file(str(path))  # plain, import-free config
    return str(path)


def load_tool():
    spec = importlib.util.spec_from_file_location('knn_tool', TOOL)
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    return tool


def test_tool_prints_knn_line(tiny_image_folder, tmp_path):
    config = write_config(tiny_config(tiny_image_folder), tmp_path / 'c.py')
    proc = subprocess.run(
        [sys.executable, str(TOOL), config, 'random', '--ks', '1', '3',
         '--work-dir', str(tmp_path / 'out')],
        cwd=REPO, capture_output=True, text=True,
        timeout=600)  # a hang guard, not a speed check
    assert proc.returncode == 0, proc.stderr
    last = proc.stdout.strip().splitlines()[-1]
    match = re.fullmatch(r'kNN top-1 \(k=3\): (\d+\.\d\d)', last)
    assert match, proc.stdout
    saved = json.loads((tmp_path / 'out' / 'knn_results.json').read_text())
    assert saved['ks'] == [1, 3]
    assert f"{saved['results']['top1_k3']:.2f}" == match.group(1)


def test_tool_per_block(tiny_image_folder, tmp_path):
    """--blocks: a table per block; the last block is the default feature."""
    tool = load_tool()
    config = write_config(sdssl_config(tiny_image_folder),
                          tmp_path / 'sd.py')
    torch.manual_seed(0)  # the same random network in both runs
    per_block = tool.main([config, 'random', '--ks', '3', '--blocks', '1',
                           '3'])
    torch.manual_seed(0)
    plain = tool.main([config, 'random', '--ks', '3'])
    assert set(per_block) >= {'block1/top1_k3', 'block3/top1_k3'}
    assert per_block['block3/top1_k3'] == plain['top1_k3']


def test_tool_loads_checkpoint_and_uses_hook_settings(tiny_image_folder,
                                                      tmp_path, capsys):
    tool = load_tool()
    cfg = tiny_config(tiny_image_folder, ks=(1, 2), temperature=0.5)
    config = write_config(cfg, tmp_path / 'c.py')
    init_default_scope('mmssl_kd')
    model = MODELS.build(cfg['model'])
    with torch.no_grad():
        for param in model.parameters():
            param.add_(torch.randn_like(param))
    torch.save(dict(state_dict=model.state_dict()), tmp_path / 'ckpt.pth')

    loaded = tool.load_model(Config.fromfile(config),
                             str(tmp_path / 'ckpt.pth'))
    for name, value in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[name], value), name

    results = tool.main([config, str(tmp_path / 'ckpt.pth')])
    hook = cfg['custom_hooks'][0]
    expected = knn_evaluate(model,
                            Runner.build_dataloader(hook['bank_dataloader']),
                            Runner.build_dataloader(hook['query_dataloader']),
                            ks=(1, 2), temperature=0.5)
    assert results == expected
    out = capsys.readouterr().out.strip().splitlines()
    assert f"kNN, T=0.5, {tmp_path / 'ckpt.pth'}, backbone" in out
    # a part the model does not have is named in the error
    with pytest.raises(ValueError, match='no sub-model `teacher`'):
        tool.main([config, str(tmp_path / 'ckpt.pth'), '--part', 'teacher'])
    assert out[-1] == f"kNN top-1 (k=2): {expected['top1_k2']:.2f}"


def test_tool_needs_a_knn_hook(tiny_image_folder, tmp_path):
    cfg = tiny_config(tiny_image_folder)
    cfg['custom_hooks'] = []
    config = write_config(cfg, tmp_path / 'no_hook.py')
    with pytest.raises(ValueError, match=r'no_hook\.py has no KNNHook'):
        load_tool().main([config, 'random'])
