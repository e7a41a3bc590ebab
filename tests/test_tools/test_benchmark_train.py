"""tools/analysis_tools/benchmark_train.py: on tiny data, each CPU demo's
toolbox and reference steps are timed phase by phase in one run, with
memory, training FLOPs per image and the ratio; ``--part`` times one
network's forward alone."""
import importlib.util
import os.path as osp
from pathlib import Path

import pytest
import torch
from _helpers.configs import CONFIG_DIR, tiny_config
from mmengine.config import Config

from mmssl_kd.registry import MODELS

REPO = Path(__file__).resolve().parents[2]
spec = importlib.util.spec_from_file_location(
    'benchmark_train', REPO / 'tools/analysis_tools/benchmark_train.py')
benchmark_train = importlib.util.module_from_spec(spec)
spec.loader.exec_module(benchmark_train)

# each demo with other options: fresh batches from the loader in NCHW, or
# premade ones with bf16 autocast, or channels-last (the default) and a
# peak for the share of it
RUNS = {
    'SEED': ('seed/seed_resnet20-cifar_resnet56-cifar-sup_1xb256-coslr-1e_'
             'cifar10-demo.py',
             ['--cfg-options', 'speed_cfg.channels_last=False']),
    'DoGo': ('dogo/dogo_resnet20-cifar_resnet56-cifar_1xb256-adam-1e_'
             'cifar10-demo.py', ['--premade', '2', '--amp']),
    'DINO': ('selfsup/dino_vit-mini-p4_1xb256-coslr-5e_cifar10-demo.py',
             ['--premade', '2', '--channels-last', '--peak-tflops', '0.5']),
}


@pytest.mark.parametrize('algorithm', RUNS)
def test_times_toolbox_and_reference(algorithm, tiny_image_folder,
                                     tmp_path, capsys):
    recipe, options = RUNS[algorithm]
    config = tmp_path / 'tiny.py'
    tiny_config(CONFIG_DIR / recipe, tiny_image_folder, tmp_path).dump(
        str(config))
    result = benchmark_train.main(
        [str(config), '--reference', '--warmup', '1', '--iters', '2',
         '--block', '1', '--device', 'cpu'] + options)
    out = capsys.readouterr().out

    assert out.startswith(f'{algorithm} of {config}')
    assert 'batch 2' in out
    assert ('2 premade batches' in out) == ('--premade' in options)
    assert ('amp: bf16 autocast' in out) == ('--amp' in options)
    assert ('channels-last: on' in out) == (
        'speed_cfg.channels_last=False' not in options)
    # the throughput of the median toolbox iteration, as printed (3
    # decimals: 0.000 on a slow or busy machine, so compared, not signed)
    # the counter's "FLOPs" are multiply-adds; a peak counts two FLOPs each
    macs_per_step = result['batch_size'] * sum(
        p.factor * p.forward for p in result['flops'])
    achieved = 2 * macs_per_step / (
        result['timings'][0].median['total'] * 1e-3) / 1e12
    assert achieved > 0
    printed = float(out.split('achieved: ')[1].split()[0])
    assert printed == pytest.approx(achieved, abs=5e-4)
    if '--peak-tflops' in options:
        share = out.split(' % of the dense bf16 peak 0.5 TFLOP/s '
                          '(--peak-tflops)')[0].split()[-1]
        assert float(share) == pytest.approx(100 * achieved / 0.5,
                                             abs=0.051)  # printed to 0.1
    else:
        assert 'give --peak-tflops for the share of peak' in out
    for row in ('toolbox median', 'toolbox mean', 'reference median',
                'reference mean'):
        assert row in out
    header = next(line for line in out.splitlines()
                  if line.startswith('ms / iteration')).split()
    assert header[3:] == ['data', 'prep', 'forward', 'backward', 'optimizer',
                          'step', 'total', 'img/s']
    assert 'training FLOPs per image: ' in out
    assert 'MiB resident' in out and result['peak_rss_mib'] > 0
    assert 'toolbox / reference, step time' in out

    for timing in result['timings']:
        for ms in (timing.median, timing.mean):
            assert all(ms[phase] >= 0 for phase in benchmark_train.PHASES)
            assert ms['step'] > 0 and ms['total'] >= ms['step']
    assert result['ratio'][0] == pytest.approx(
        result['timings'][0].median['step'] /
        result['timings'][1].median['step'])

    flops = {p.part: p for p in result['flops']}
    if algorithm == 'SEED':  # ResNet-20 (41M) trained, ResNet-56 (125M) not
        assert flops['student'].factor == 3 and flops['teacher'].factor == 1
        assert flops['student'].forward == pytest.approx(41e6, rel=0.02)
        assert flops['teacher'].forward == pytest.approx(126e6, rel=0.02)
        assert flops['student'].views == ((32, 32, 1.0), )
    if algorithm == 'DoGo':  # both peers trained, two views each
        assert flops['student'].factor == flops['peer'].factor == 3
        assert flops['peer'].views == ((32, 32, 2.0), )
    if algorithm == 'DINO':  # the EMA teacher sees the global crops only
        assert flops['student'].views == ((32, 32, 2.0), (16, 16, 6.0))
        assert flops['teacher'].views == ((32, 32, 2.0), )
        assert flops['teacher'].factor == 1


def test_compile_failure_is_reported(tiny_image_folder, tmp_path,
                                     monkeypatch):
    """A backbone that torch.compile cannot compile stops the tool with the
    reason."""
    config = tmp_path / 'tiny.py'
    tiny_config(CONFIG_DIR / RUNS['SEED'][0], tiny_image_folder,
                tmp_path).dump(str(config))

    def failing_compile(module, *args, **kwargs):
        def fail(*args, **kwargs):
            raise RuntimeError('no C++ compiler\nmore detail')
        module.forward = fail
    monkeypatch.setattr(torch.nn.Module, 'compile', failing_compile)
    with pytest.raises(SystemExit, match='--compile failed: RuntimeError: '
                       'no C\\+\\+ compiler\nRun without --compile'):
        benchmark_train.main([str(config), '--compile', '--warmup', '1',
                              '--iters', '1', '--device', 'cpu'])


def test_data_only_times_loader_and_view_making(tiny_image_folder, tmp_path,
                                                capsys):
    """``--data-only``: images/s of the dataloader and of the data
    preprocessor, here the one that makes the views (GPUMultiViewAugment)."""
    config = tmp_path / 'tiny.py'
    tiny_config(CONFIG_DIR / 'seed/seed_resnet20-cifar_resnet56-cifar-sup_'
                '1xb256-coslr-1e_gpu-aug_cifar10-demo.py', tiny_image_folder,
                tmp_path).dump(str(config))
    rates = benchmark_train.main([str(config), '--data-only', '--warmup',
                                  '1', '--iters', '2', '--device', 'cpu'])
    out = capsys.readouterr().out
    assert 'GPUMultiViewAugment on cpu' in out
    assert set(rates) == {'dataloader', 'preprocessor'}
    for part, rate in rates.items():
        assert rate > 0 and f'{part} alone: ' in out


SEED_DEMO = CONFIG_DIR / RUNS['SEED'][0]
FOUNDATION = (CONFIG_DIR / 'foundation/densedistill-dense_resnet18_vit-base-'
              'p14-dinov2_8xb32-coslr-200e_in1k.py')


def _seed_demo_net(name: str) -> torch.nn.Module:
    """The SEED demo's teacher (without its weight file) or student
    (backbone + neck), built apart from the tool."""
    model = Config.fromfile(str(SEED_DEMO)).model
    if name == 'teacher':
        return MODELS.build(dict(model.teacher, checkpoint=None))
    return torch.nn.ModuleList([MODELS.build(model.backbone),
                                MODELS.build(model.neck)])


@pytest.mark.parametrize('part', ['teacher', 'backbone'])
def test_part_times_one_network(part, tiny_image_folder, tmp_path, capsys):
    """``--part``: one declared network's forward alone, with its size,
    weight memory and multiply-adds; the teacher on synthetic images, the
    student on the dataloader's."""
    if part == 'teacher':
        config, data = SEED_DEMO, ['--synthetic', '32', '--batch-size', '4']
        checkpoint = Config.fromfile(str(SEED_DEMO)).model.teacher.checkpoint
        if not osp.isfile(checkpoint):  # a checkout without shared/weights
            data += ['--cfg-options', 'model.teacher.checkpoint=None']
    else:
        config = tmp_path / 'tiny.py'
        tiny_config(SEED_DEMO, tiny_image_folder, tmp_path).dump(str(config))
        data = []
    result = benchmark_train.main(
        [str(config), '--part', part, '--warmup', '1', '--iters', '2',
         '--device', 'cpu'] + data)
    out = capsys.readouterr().out

    net = _seed_demo_net(part)
    assert result['params'] == sum(p.numel() for p in net.parameters())
    assert result['weight_mib'] == sum(
        t.numel() * t.element_size()
        for t in net.state_dict().values()) / 2**20
    assert result['images_per_s'] > 0 and result['median_ms'] > 0
    assert result['peak_rss_mib'] > 0 and result['peak_cuda_mib'] is None
    assert result['input_size'] == (32, 32)
    assert result['batch_size'] == (4 if part == 'teacher' else 2)
    assert result['timing'].name == part
    # (after the log line of a loaded teacher file)
    assert f'\n{part} of {config}: ' in '\n' + out
    if part == 'teacher':  # as the training FLOPs of the SEED run above
        assert 'FrozenTeacher (backbone CIFARResNet, neck LinearNeck); ' \
            'timed: forward_features + forward_head' in out
        assert result['macs'] == pytest.approx(126e6, rel=0.02)
        assert '1 synthetic 32x32 batch' in out
    else:
        assert 'timed: backbone + neck' in out
        assert result['macs'] == pytest.approx(41e6, rel=0.02)
        assert 'the first batch of the dataloader' in out
    assert f"{result['images_per_s']:.1f} images/s" in out
    assert 'MiB resident (the whole process' in out


def test_part_unknown_or_without_weights(tmp_path):
    """A name the model does not declare stops the tool with the names it
    does; a teacher weight file that is not there, with the teacher's own
    message and the way to time random weights."""
    with pytest.raises(SystemExit, match="--part 'nope': SEED declares the "
                       "networks 'backbone', 'teacher'"):
        benchmark_train.main([str(SEED_DEMO), '--part', 'nope',
                              '--synthetic', '32', '--device', 'cpu'])
    absent = tmp_path / 'absent.th'
    with pytest.raises(SystemExit) as exit_info:
        benchmark_train.main([str(SEED_DEMO), '--part', 'teacher',
                              '--synthetic', '32', '--device', 'cpu',
                              '--cfg-options',
                              f'model.teacher.checkpoint={absent}'])
    message = str(exit_info.value.code)
    assert message.startswith(
        f"benchmark_train.py: FrozenTeacher: checkpoint file '{absent}'")
    assert 'model.teacher.checkpoint=None' in message
    with pytest.raises(SystemExit):  # argparse: not with --reference
        benchmark_train.parse_args([str(SEED_DEMO), '--part', 'teacher',
                                    '--reference'])


def test_part_foundation_vit_teacher(capsys):
    """The DINOv2 ViT-B/14 teacher of a DenseDistill recipe, random
    weights (``checkpoint=None``), at the recipe's 224 px crop: bf16
    weights take half the memory of fp32 ones."""
    results = {}
    for dtype in ('float32', 'bfloat16'):
        results[dtype] = benchmark_train.main(
            [str(FOUNDATION), '--part', 'teacher', '--synthetic', '56',
             '--batch-size', '1', '--warmup', '1', '--iters', '1',
             '--device', 'cpu', '--cfg-options',
             'model.teacher.checkpoint=None',
             f'model.teacher.backbone.weights_dtype={dtype}'])
    out = capsys.readouterr().out
    fp32, bf16 = results['float32'], results['bfloat16']
    assert fp32['kind'] == 'FrozenTeacher'
    assert fp32['backbone'] == 'FoundationViT'
    assert fp32['model_name'] == 'vit_base_patch14_dinov2'
    assert 'FrozenTeacher (backbone FoundationViT vit_base_patch14_dinov2)' \
        in out
    assert fp32['params'] == bf16['params'] == pytest.approx(86.6e6,
                                                             rel=0.01)
    assert fp32['weight_mib'] == 4 * fp32['params'] / 2**20
    assert bf16['weight_mib'] == fp32['weight_mib'] / 2
    assert bf16['weight_dtypes'] == 'bfloat16'
    assert fp32['input_size'] == (224, 224)  # the recipe's crop
    # 257 tokens through 12 blocks of width 768 (and the patch embedding)
    assert fp32['macs'] == pytest.approx(23.2e9, rel=0.01)
    assert bf16['images_per_s'] > 0
