"""tools/analysis_tools/knn_summary.py on the scalars a KNNHook writes."""
import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
TOOL = REPO / 'tools' / 'analysis_tools' / 'knn_summary.py'


def write_run(work_dir: Path, records) -> None:
    vis = work_dir / '20261122_000000' / 'vis_data'
    vis.mkdir(parents=True)
    (vis / 'scalars.json').write_text(
        ''.join(json.dumps(r) + '\n' for r in records))


def test_one_table_per_part_and_last_values(tmp_path):
    """A KNNHook with parts=('backbone', 'peer') writes one record per part
    at the same step; the tool merges them and tables each part."""
    write_run(tmp_path / 'dogo', [
        {'knn/top1_k20': 30.0, 'knn/top1_k200': 29.0, 'step': 0},
        {'knn/peer/top1_k20': 20.5, 'knn/peer/top1_k200': 21.0, 'step': 0},
        {'loss': 6.1, 'step': 20},
        {'knn/top1_k20': 41.25, 'knn/top1_k200': 40.0, 'step': 195},
        {'knn/peer/top1_k20': 45.5, 'knn/peer/top1_k200': 44.0,
         'step': 195},
    ])
    write_run(tmp_path / 'simclr', [
        {'knn/top1_k20': 35.0, 'step': 195}])
    out = subprocess.run(
        [sys.executable, str(TOOL), str(tmp_path / 'dogo'),
         str(tmp_path / 'simclr')],
        capture_output=True, text=True, check=True).stdout
    assert 'kNN top-1 (k=20): 30.00 at iteration 0 -> 41.25 at iteration 195' \
        in out
    assert 'kNN top-1 (k=20): 20.50 at iteration 0 -> 45.50 at iteration 195' \
        in out
    assert out.splitlines()[-4:] == [
        'kNN top-1 (k=20):',
        f'   41.25  {tmp_path / "dogo"}',
        f'   45.50  {tmp_path / "dogo"} [peer]',
        f'   35.00  {tmp_path / "simclr"}',
    ]


def test_blocks_only_in_natural_order(tmp_path):
    """A run that logs only per-block results (KNNHook(blocks=...)) gets
    a table per block, block 2 before block 10."""
    write_run(tmp_path / 'sd', [
        {f'knn/block{b}/top1_k20': float(b), 'step': 5} for b in (10, 2)])
    out = subprocess.run([sys.executable, str(TOOL), str(tmp_path / 'sd')],
                         capture_output=True, text=True, check=True).stdout
    assert out.splitlines()[-3:] == [
        'kNN top-1 (k=20):',
        f'    2.00  {tmp_path / "sd"} [block2]',
        f'   10.00  {tmp_path / "sd"} [block10]',
    ]
