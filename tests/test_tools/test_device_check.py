"""tools/benchmarks/device_check.py --tiny: the one command of the GPU check
runs every check on the CPU and writes its table (rows and columns), the
JSON and the curve; the schedule scaling it relies on."""
import importlib.util
import json
from pathlib import Path

import pytest
from mmengine.config import Config

REPO = Path(__file__).resolve().parents[2]
spec = importlib.util.spec_from_file_location(
    'device_check', REPO / 'tools/benchmarks/device_check.py')
device_check = importlib.util.module_from_spec(spec)
spec.loader.exec_module(device_check)


def test_tiny_run_writes_the_whole_table(tiny_image_folder, tmp_path):
    out = tmp_path / 'out'
    # a budget no loaded CI machine should reach (about 3 minutes of work)
    report = device_check.main(['--tiny', '--minutes', '20', '--out',
                                str(out), '--data-root',
                                str(tiny_image_folder)])
    markdown = (out / 'device_check.md').read_text()
    header = '| ' + ' | '.join(device_check.COLUMNS) + ' |'
    assert header in markdown.splitlines()
    rows = report['rows']
    settings = [r['setting'] for r in rows]
    for label, *_ in device_check.TINY_THROUGHPUT:
        assert f'{label}, fp32' in settings and f'{label}, bf16' in settings
    speed = 2 * len(device_check.TINY_THROUGHPUT)  # fp32 and bf16 each
    assert [r['check'] for r in rows] == ['throughput 32 px'] * speed + \
        ['time to accuracy'] * 2 + ['launcher']
    assert all(r['status'] == 'ok' for r in rows), rows
    for r in rows[:speed]:
        assert r['images_s'] > 0 and r['tflops'] >= 0 and r['batch'] > 0
        assert set(r['phases_ms']) >= {'data', 'prep', 'forward', 'backward',
                                       'optimizer', 'total'}
    for r in rows[speed:speed + 2]:
        assert r['epochs'] == 2 and r['seconds'] > 0
        assert 0 <= r['knn'] <= 100
    saved = json.loads((out / 'device_check.json').read_text())
    assert saved['rows'] == rows and saved['tiny'] is True
    for curve in saved['curves'].values():
        assert [p['epoch'] for p in curve] == [1, 2]
        assert curve[0]['seconds'] < curve[1]['seconds']
    assert (out / 'time_to_accuracy.png').stat().st_size > 0
    assert (out / 'dist_train.log').read_text().count('[1][2/2]') == 1


def test_a_check_past_its_share_is_stopped_and_reported(
        tiny_image_folder, tmp_path):
    report = device_check.main(['--tiny', '--minutes', '0.05', '--out',
                                str(tmp_path), '--data-root',
                                str(tiny_image_folder),
                                '--checks', 'dist'])
    (row, ) = report['rows']
    assert row['check'] == 'launcher'
    assert row['status'].startswith('stopped after')


@pytest.mark.parametrize('epochs', [2, 7, 60, 400])
def test_schedule_is_scaled_to_the_epochs(epochs):
    cfg = Config.fromfile(str(REPO / device_check.TTA['tta-seed'][1]))
    device_check.scale_schedule(cfg, epochs)
    warmup, cosine = cfg.param_scheduler
    assert cfg.train_cfg.max_epochs == epochs
    assert warmup.begin == 0 and 1 <= warmup.end == cosine.begin < epochs
    assert cosine.end == epochs and cosine.T_max == epochs - cosine.begin
    if epochs >= 20:  # the recipe's 10 of 200 warm-up epochs, scaled
        assert warmup.end == round(10 * epochs / 200)
