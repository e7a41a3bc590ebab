"""Plot the training curves of one or more runs from their logs.

    python tools/visualization/plot_curves.py WORK_DIR [WORK_DIR ...] \\
        --out curves.png [--keys loss teacher_temp lr knn/top1_k20]

Reads the scalars ``tools/train.py`` logged (``WORK_DIR/<timestamp>/
vis_data/scalars.json``, newest run) and draws one panel per key against
the iteration, one line per run. A key selects every logged scalar whose
name equals it or ends with ``.<key>`` or ``/<key>`` (``lr`` also finds
``cnn.lr`` and ``vit.lr``; ``knn/top1_k20`` also finds
``knn/peer/top1_k20`` through ``top1_k20``). By default: every loss
term, the teacher temperatures, the learning rates and kNN top-1 at k=20.
"""
import argparse
import os.path as osp
import re
from typing import Dict, List, Sequence

import matplotlib

matplotlib.use('Agg')
import matplotlib.pyplot as plt  # noqa: E402

from mmssl_kd.cli import read_scalars  # noqa: E402

DEFAULT_KEYS = ('loss', 'teacher_temp', 'lr', 'top1_k20')


def matching_names(names: Sequence[str], key: str) -> List[str]:
    """The logged scalar names that ``key`` selects, in natural order.

    ``loss`` selects every loss term, ``teacher_temp`` every temperature
    (``teacher_temp_1``, ...); other keys select names equal to them or
    ending with ``.key`` or ``/key``.
    """
    if key in ('loss', 'teacher_temp'):
        pattern = re.compile(rf'^{key}(_\w+)?$')
        found = [n for n in names if pattern.match(n)]
    else:
        found = [n for n in names if n == key or n.endswith(f'.{key}')
                 or n.endswith(f'/{key}')]
    return sorted(found)


def curves(records: List[Dict[str, float]],
           name: str) -> List[List[float]]:
    """``[steps, values]`` of one scalar."""
    points = [(r['step'], r[name]) for r in records if name in r]
    return [list(p) for p in zip(*points)] if points else [[], []]


def plot(runs: Dict[str, List[Dict[str, float]]], keys: Sequence[str],
         out: str) -> List[str]:
    """Draw one panel per key that any run logged; return the keys drawn."""
    panels = []
    for key in keys:
        names = sorted({n for records in runs.values() for r in records
                        for n in matching_names(list(r), key)})
        if names:
            panels.append((key, names))
    if not panels:
        raise ValueError(f'None of the keys {list(keys)} was logged by '
                         f'{list(runs)}')
    fig, axes = plt.subplots(len(panels), 1, squeeze=False,
                             figsize=(8, 2.6 * len(panels)))
    for ax, (key, names) in zip(axes[:, 0], panels):
        for run, records in runs.items():
            for name in names:
                steps, values = curves(records, name)
                if steps:
                    label = name if len(runs) == 1 else f'{run}: {name}'
                    ax.plot(steps, values, marker='.' if len(steps) < 20
                            else None, label=label)
        ax.set_ylabel(key)
        if key == 'lr':  # learning rates of several optimizers differ 1000x
            ax.set_yscale('log')
        ax.grid(alpha=.3)
        ax.legend(fontsize=7, loc='best')
    axes[-1, 0].set_xlabel('iteration')
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return [key for key, _ in panels]


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('work_dirs', nargs='+', help='tools/train.py runs')
    parser.add_argument('--keys', nargs='+', default=list(DEFAULT_KEYS),
                        help='scalars to draw, a panel each (default: '
                        f'{" ".join(DEFAULT_KEYS)})')
    parser.add_argument('--out', required=True, help='the PNG to write')
    parser.add_argument('--force', action='store_true',
                        help='overwrite OUT if it exists')
    args = parser.parse_args(argv)
    if osp.exists(args.out) and not args.force:
        parser.error(f'{args.out} exists; pass --force to overwrite it')
    runs = {osp.basename(osp.normpath(d)): read_scalars(d)
            for d in args.work_dirs}
    drawn = plot(runs, args.keys, args.out)
    print(f'{args.out}: {", ".join(drawn)} of {", ".join(runs)}')


if __name__ == '__main__':
    main()
