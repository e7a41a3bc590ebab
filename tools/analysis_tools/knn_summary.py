"""Print the kNN accuracies of one or more runs.

    python tools/analysis_tools/knn_summary.py WORK_DIR [WORK_DIR ...]

For a training run, reads the ``knn/*`` scalars that ``KNNHook`` logged
(``WORK_DIR/<timestamp>/vis_data/scalars.json``, newest run) and prints one
row per evaluation (and a table per further part the hook evaluated, such
as DoGo's ``[peer]``); for a folder written by ``tools/benchmarks/knn.py
--work-dir``, reads its ``knn_results.json``. With several folders it ends
with one line per folder: its last top-1.
"""
import argparse
import json
import os.path as osp
import re
import sys
from typing import Dict, List

from mmssl_kd.cli import read_scalars


def read_knn_rows(work_dir: str) -> List[Dict[str, float]]:
    """kNN results of ``work_dir``, one dict per evaluation (with 'step')."""
    tool_result = osp.join(work_dir, 'knn_results.json')
    if osp.isfile(tool_result):
        with open(tool_result, encoding='utf-8') as f:
            return [dict(json.load(f)['results'], step='-')]
    rows = []
    for record in read_scalars(work_dir):
        knn = {k[len('knn/'):]: v for k, v in record.items()
               if k.startswith('knn/')}
        if not knn:
            continue
        if (rows and rows[-1]['step'] == record['step']
                and not knn.keys() & rows[-1].keys()):
            rows[-1].update(knn)  # another part, same evaluation
        else:
            rows.append(dict(knn, step=record['step']))
    if not rows:
        raise ValueError(f'The run in {work_dir} logged no kNN results: '
                         'the config needs a KNNHook in custom_hooks.')
    return rows


def _natural(text: str) -> list:
    """Sort key: digit runs compare as numbers."""
    return [int(t) if t.isdigit() else t for t in re.split(r'(\d+)', text)]


def summarise(name: str, rows: List[Dict[str, float]], key: str) -> float:
    """Print one run's (or one part's) table; return its last ``key``."""
    keys = sorted((k for k in rows[0] if k.startswith('top1_')),
                  key=lambda k: int(k.split('_k')[-1]))
    print(f'{name}\n  iteration ' + ' '.join(f'{k:>11}' for k in keys))
    for row in rows:
        print(f'  {row["step"]:>9} ' + ' '.join(
            f'{row.get(k, float("nan")):>11.2f}' for k in keys))
    if len(rows) > 1:
        print(f'  kNN top-1 (k={key.split("_k")[-1]}): {rows[0][key]:.2f} at '
              f'iteration {rows[0]["step"]} -> {rows[-1][key]:.2f} at '
              f'iteration {rows[-1]["step"]}')
    return rows[-1][key]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('work_dirs', nargs='+', metavar='WORK_DIR')
    parser.add_argument('--k', type=int, default=20,
                        help='k of the headline top-1 (default 20)')
    args = parser.parse_args()
    key = f'top1_k{args.k}'
    last = {}
    for work_dir in args.work_dirs:
        try:
            rows = read_knn_rows(work_dir)
        except (FileNotFoundError, ValueError) as err:
            sys.exit(str(err))
        # the trained model's keys are 'top1_k20'; a part's 'peer/top1_k20',
        # a block's 'block3/top1_k20' (natural order: block2 < block10)
        parts = [''] if any('/' not in k for k in rows[0]
                            if k.startswith('top1_')) else []
        parts += sorted({k.rsplit('/', 1)[0] + '/' for k in rows[0]
                         if '/' in k}, key=_natural)
        for part in parts:
            name = work_dir + (f" [{part[:-1].replace('/', ', ')}]"
                               if part else '')
            last[name] = summarise(name, [
                {k[len(part):]: v for k, v in row.items()
                 if k.startswith(part) and '/' not in k[len(part):]}
                | {'step': row['step']} for row in rows], key)
    if len(last) > 1:
        print(f'kNN top-1 (k={args.k}):')
        for work_dir, value in last.items():
            print(f'  {value:6.2f}  {work_dir}')


if __name__ == '__main__':
    main()
