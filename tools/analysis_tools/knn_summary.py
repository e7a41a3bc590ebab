"""Print the kNN accuracies that ``KNNHook`` logged during a training run.

    python tools/analysis_tools/knn_summary.py WORK_DIR

Reads ``WORK_DIR/<timestamp>/vis_data/scalars.json`` (the newest run in the
folder) and prints one row per evaluation, then the first and last top-1.
"""
import argparse
import glob
import json
import os.path as osp
import sys
from typing import Dict, List


def read_knn_rows(work_dir: str) -> List[Dict[str, float]]:
    """The ``knn/*`` scalars of the newest run under ``work_dir``."""
    files = sorted(glob.glob(osp.join(work_dir, '*', 'vis_data',
                                      'scalars.json')))
    if not files:
        raise FileNotFoundError(
            f'No */vis_data/scalars.json under {work_dir!r}: is it the '
            '--work-dir of a finished tools/train.py run?')
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
    parser.add_argument('work_dir')
    parser.add_argument('--k', type=int, default=20,
                        help='k of the headline top-1 (default 20)')
    args = parser.parse_args()
    try:
        rows = read_knn_rows(args.work_dir)
    except (FileNotFoundError, ValueError) as err:
        sys.exit(str(err))
    keys = sorted((k for k in rows[0] if k.startswith('top1_')),
                  key=lambda k: int(k.split('_k')[-1]))
    print('iteration ' + ' '.join(f'{k:>11}' for k in keys))
    for row in rows:
        print(f'{row["step"]:>9} ' +
              ' '.join(f'{row.get(k, float("nan")):>11.2f}' for k in keys))
    key = f'top1_k{args.k}'
    print(f'kNN top-1 (k={args.k}): {rows[0][key]:.2f} at iteration '
          f'{rows[0]["step"]} -> {rows[-1][key]:.2f} at iteration '
          f'{rows[-1]["step"]}')


if __name__ == '__main__':
    main()
