"""Print the kNN accuracies of one or more runs.

    python tools/analysis_tools/knn_summary.py WORK_DIR [WORK_DIR ...]

For a training run, reads the ``knn/*`` scalars that ``KNNHook`` logged
(``WORK_DIR/<timestamp>/vis_data/scalars.json``, newest run) and prints one
row per evaluation; for a folder written by ``tools/benchmarks/knn.py
--work-dir``, reads its ``knn_results.json``. With several folders it ends
with one line per folder: its last top-1.
"""
import argparse
import glob
import json
import os.path as osp
import sys
from typing import Dict, List


def read_knn_rows(work_dir: str) -> List[Dict[str, float]]:
    """kNN results of ``work_dir``, one dict per evaluation (with 'step')."""
    tool_result = osp.join(work_dir, 'knn_results.json')
    if osp.isfile(tool_result):
        with open(tool_result, encoding='utf-8') as f:
            return [dict(json.load(f)['results'], step='-')]
    files = sorted(glob.glob(osp.join(work_dir, '*', 'vis_data',
                                      'scalars.json')))
    if not files:
        raise FileNotFoundError(
            f'No knn_results.json and no */vis_data/scalars.json under '
            f'{work_dir!r}: is it the --work-dir of a finished tools/'
            'train.py or tools/benchmarks/knn.py run?')
    rows = []
    with open(files[-1], encoding='utf-8') as f:
        for line in f:
            record = json.loads(line)
            knn = {k[len('knn/'):]: v for k, v in record.items()
                   if k.startswith('knn/')}
            if knn:
                rows.append(dict(knn, step=record['step']))
    if not rows:
        raise ValueError(f'{files[-1]} holds no kNN results: the config '
                         'needs a KNNHook in custom_hooks.')
    return rows


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
        keys = sorted((k for k in rows[0] if k.startswith('top1_')),
                      key=lambda k: int(k.split('_k')[-1]))
        print(f'{work_dir}\n  iteration ' +
              ' '.join(f'{k:>11}' for k in keys))
        for row in rows:
            print(f'  {row["step"]:>9} ' + ' '.join(
                f'{row.get(k, float("nan")):>11.2f}' for k in keys))
        last[work_dir] = rows[-1][key]
        if len(rows) > 1:
            print(f'  kNN top-1 (k={args.k}): {rows[0][key]:.2f} at '
                  f'iteration {rows[0]["step"]} -> {rows[-1][key]:.2f} at '
                  f'iteration {rows[-1]["step"]}')
    if len(last) > 1:
        print(f'kNN top-1 (k={args.k}):')
        for work_dir, value in last.items():
            print(f'  {value:6.2f}  {work_dir}')


if __name__ == '__main__':
    main()
