"""Class-folder dataset (``<data_root>/<split>/<class>/<image>``) with a
clear error when the data is missing, and deterministic subsets.

Hidden folders and files (names starting with ``.``: Jupyter's
``.ipynb_checkpoints``, macOS's ``._*``) are not data: MMPretrain's
``CustomDataset`` skipped hidden files but made a hidden folder a class
(shifting every label) or read the copies inside it as training images.
"""
import os
import os.path as osp
from collections import defaultdict
from typing import List, Optional, Sequence, Tuple

import numpy as np
from mmengine.logging import print_log
from mmpretrain.datasets import CustomDataset

from mmssl_kd.registry import DATASETS

_EXTENSIONS = ('.jpg', '.jpeg', '.png', '.ppm', '.bmp', '.pgm', '.tif')

_HOW_TO_GET_DATA = (
    'mmssl_kd reads class folders laid out as <data_root>/<split>/<class>/'
    '<image>, and its configs use data/<name> relative to the repository '
    'root. Link the project\'s data/ to the shared datasets from the '
    'repository root: `ln -s ../shared/data data` (it holds '
    'cifar10/{{train,test}} and imagenette/{{train,val}}), or put class '
    'folders under {split_dir}/<class>/. ImageNet is not shipped: get '
    'ILSVRC2012 from https://image-net.org (registration needed) and place '
    'it at data/imagenet/{{train,val}}/<wnid>/*.JPEG, with the validation '
    'images sorted into their wnid folders.')


def balanced_subset(samples: Sequence[Tuple[str, int]], seed: int,
                    num_per_class: Optional[int] = None,
                    fraction: Optional[float] = None
                    ) -> Tuple[List[Tuple[str, int]], List[Tuple[int, int]]]:
    """A deterministic class-balanced subset of ``(name, label)`` samples.

    Each class keeps ``num_per_class`` samples, or ``round(fraction * n)``
    of its n (at least 1), chosen by a generator seeded with ``(seed,
    label)``, in their original order; so a class's choice depends on
    neither the other classes nor their order.

    Returns:
        ``(chosen, short)``: the kept samples, class by class, and the
        ``(label, count)`` of classes with fewer than ``num_per_class``
        (all of which are kept).
    """
    if (num_per_class is None) == (fraction is None):
        raise ValueError('give exactly one of num_per_class and fraction')
    if fraction is not None and not 0 < fraction <= 1:
        raise ValueError(f'fraction must be in (0, 1], got {fraction}')
    by_class = defaultdict(list)
    for sample in samples:
        by_class[sample[1]].append(sample)
    chosen, short = [], []
    for label in sorted(by_class):
        items = by_class[label]
        count = (num_per_class if fraction is None else
                 max(1, round(fraction * len(items))))
        if len(items) <= count:
            if len(items) < count:
                short.append((label, len(items)))
            chosen += items
            continue
        rng = np.random.default_rng([seed, label])
        keep = np.sort(rng.choice(len(items), count, replace=False))
        chosen += [items[i] for i in keep]
    return chosen, short


def _hidden(name: str) -> bool:
    return name.startswith('.')


def class_folders(split_dir: str) -> List[str]:
    """The class folders of a split, sorted (their labels), hidden ones
    left out."""
    return sorted(e.name for e in os.scandir(split_dir)
                  if e.is_dir() and not _hidden(e.name))


def image_files(folder: str, extensions: Sequence[str]) -> List[str]:
    """The images under ``folder`` (sub-folders too, links followed), as
    sorted paths relative to it, hidden folders and files left out."""
    exts = tuple(e.lower() for e in extensions)
    found = []
    for root, dirs, files in os.walk(folder, followlinks=True):
        dirs[:] = [d for d in dirs if not _hidden(d)]
        found += [osp.relpath(osp.join(root, f), folder) for f in files
                  if not _hidden(f) and f.lower().endswith(exts)]
    return sorted(found)


def _missing(path: str, problem: str, split_dir: str) -> FileNotFoundError:
    return FileNotFoundError(
        f'Dataset folder {path!r} ({osp.abspath(path)}) {problem}. ' +
        _HOW_TO_GET_DATA.format(split_dir=split_dir))


@DATASETS.register_module()
class ImageFolder(CustomDataset):
    """MMPretrain's :class:`CustomDataset` for ``<data_root>/<split>/
    <class>/<image>`` folders, labels taken from the sorted class folders.

    The folder is checked first: a missing or empty folder, or a split
    without images, raises :class:`FileNotFoundError` that names the path and
    says where the data goes.  Hidden folders and files are skipped; a
    class folder without images is refused (it would still take a label,
    and the class count would include a class the model never sees).

    Args:
        data_root (str): Dataset folder, e.g. ``'data/cifar10'``.
        split (str): Sub-folder holding the class folders (``'train'``,
            ``'val'``, ...); ``''`` reads class folders directly under
            ``data_root``. Defaults to ``'train'``.
        num_per_class (int, optional): Keep this many images per class,
            chosen with a generator seeded by ``(subset_seed, class index)``
            (all of a class if it has fewer). Defaults to None (all).
        subset_seed (int): Seed of the per-class choice. Defaults to 0.
        subset_file (str, optional): Text file listing the images to use,
            one path per line relative to the split folder
            (``<class>/<image>``); blank lines and ``#`` comments are
            skipped. A relative path is looked up from the working directory,
            then under ``data_root``. Applied before ``num_per_class``.
            Defaults to None.
        extensions (Sequence[str]): Image file extensions.
        **kwargs: Other arguments of :class:`mmengine.dataset.BaseDataset`
            (``pipeline``, ``test_mode``, ``lazy_init``, ``metainfo``, ...).
    """

    def __init__(self,
                 data_root: str = '',
                 split: str = 'train',
                 num_per_class: Optional[int] = None,
                 subset_seed: int = 0,
                 subset_file: Optional[str] = None,
                 extensions: Sequence[str] = _EXTENSIONS,
                 **kwargs):
        for key in ('data_prefix', 'ann_file', 'with_label'):
            if key in kwargs:
                raise TypeError(
                    f'ImageFolder does not take `{key}`: give `data_root` '
                    'and `split`, and `subset_file` for a list of images.')
        if num_per_class is not None and (not isinstance(num_per_class, int)
                                          or num_per_class < 1):
            raise ValueError('num_per_class must be a positive int or None, '
                             f'got {num_per_class!r}')
        self.split = split
        self.num_per_class = num_per_class
        self.subset_seed = subset_seed
        self.subset_file = subset_file
        self._check_folder(data_root, split, extensions)
        super().__init__(
            data_root=data_root,
            data_prefix=split,
            extensions=extensions,
            with_label=True,
            **kwargs)

    @staticmethod
    def _check_folder(data_root: str, split: str,
                      extensions: Sequence[str]) -> None:
        """Fail early, and helpfully, when the data is not there."""
        split_dir = osp.join(data_root, split) if split else data_root
        if not data_root or not osp.isdir(data_root):
            raise _missing(data_root, 'does not exist (or is a broken link)',
                           split_dir)
        if not os.listdir(data_root):
            raise _missing(data_root, 'is empty', split_dir)
        if not osp.isdir(split_dir):
            found = sorted(os.listdir(data_root))[:10]
            raise _missing(split_dir,
                           f'(split {split!r}) does not exist; '
                           f'{data_root!r} holds {found}', split_dir)
        classes = class_folders(split_dir)
        if not classes:
            raise _missing(split_dir, 'has no class folders', split_dir)
        if not any(image_files(osp.join(split_dir, cls), extensions)
                   for cls in classes):
            raise _missing(
                split_dir, 'has class folders but no images '
                f'({", ".join(e.lower() for e in extensions)})', split_dir)

    def _classes(self) -> List[str]:
        """The class folders of the split; sets ``folder_to_idx`` and,
        unless the metainfo names them, the classes."""
        classes = class_folders(self.img_prefix)
        if self.CLASSES is not None and len(self.CLASSES) != len(classes):
            raise ValueError(
                f'{self.img_prefix!r} has {len(classes)} class folders, but '
                f'the metainfo names {len(self.CLASSES)} classes.')
        self.folder_to_idx = {cls: i for i, cls in enumerate(classes)}
        if self.CLASSES is None:
            self._metainfo['classes'] = tuple(classes)
        return classes

    def _find_samples(self) -> List[Tuple[str, int]]:
        """``(class/image, label)`` for every image of every class folder,
        in MMPretrain's order; refuses class folders without images."""
        samples, empty = [], []
        for label, cls in enumerate(self._classes()):
            names = image_files(osp.join(self.img_prefix, cls),
                                self.extensions)
            if not names:
                empty.append(osp.join(self.img_prefix, cls))
            samples += [(osp.join(cls, name), label) for name in names]
        if empty:
            raise FileNotFoundError(
                f'{len(empty)} class folder(s) hold no images '
                f'({", ".join(sorted(self.extensions))}): {empty[:5]}. An '
                'empty class folder still takes a label (its place among '
                'the sorted folders), so the labels stop matching a split '
                'without it. Delete the folder, or put its images in.')
        return samples

    def _subset_file_path(self) -> str:
        tried = [self.subset_file]
        if not osp.isabs(self.subset_file) and self.data_root:
            tried.append(osp.join(self.data_root, self.subset_file))
        for path in tried:
            if osp.isfile(path):
                return path
        raise FileNotFoundError(
            f'subset_file {self.subset_file!r} not found (looked at '
            f'{[osp.abspath(p) for p in tried]}). It should list image paths '
            'relative to the split folder, one per line, e.g. '
            '"class_a/img_001.jpg".')

    def _samples_from_file(self) -> List[tuple]:
        classes = self._classes()
        folder_to_idx = self.folder_to_idx
        path = self._subset_file_path()
        with open(path, encoding='utf-8') as f:
            lines = [ln.strip() for ln in f]
        names = [ln for ln in lines if ln and not ln.startswith('#')]
        samples, missing = [], []
        for name in names:
            name = name.replace('\\', '/')
            cls = name.split('/', 1)[0]
            if cls not in folder_to_idx or '/' not in name:
                raise ValueError(
                    f'{path}: {name!r} is not <class>/<image> with a class '
                    f'folder of {self.img_prefix!r} ({len(classes)} classes)')
            if not osp.isfile(osp.join(self.img_prefix, name)):
                missing.append(name)
            samples.append((name, folder_to_idx[cls]))
        if missing:
            raise FileNotFoundError(
                f'{len(missing)} image(s) listed in {path} are not under '
                f'{self.img_prefix!r}, e.g. {missing[:5]}')
        if not samples:
            raise ValueError(f'subset_file {path} lists no images')
        return samples

    def _balanced_subset(self, samples: List[tuple]) -> List[tuple]:
        chosen, short = balanced_subset(samples, self.subset_seed,
                                        num_per_class=self.num_per_class)
        if short:
            print_log(f'ImageFolder: {len(short)} class(es) of '
                      f'{self.img_prefix} have fewer than num_per_class='
                      f'{self.num_per_class} images (label, count): '
                      f'{short[:5]}; all of theirs are used.',
                      logger='current')
        return chosen

    def load_data_list(self) -> List[dict]:
        if self.subset_file is not None:
            samples = self._samples_from_file()
        else:
            samples = self._find_samples()
        if self.num_per_class is not None:
            samples = self._balanced_subset(samples)
        return [
            dict(img_path=osp.join(self.img_prefix, name), gt_label=int(label))
            for name, label in samples
        ]
