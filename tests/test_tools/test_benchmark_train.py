"""tools/analysis_tools/benchmark_train.py: on tiny data, each CPU demo's
toolbox and reference steps are timed phase by phase in one run, with
memory, training FLOPs per image and the ratio."""
import importlib.util
from pathlib import Path

import pytest
import torch
from _helpers.configs import CONFIG_DIR, tiny_config

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
