"""Small datasets held on the device: decoded once, batched by indexing.

For data that fits in accelerator memory decoded (CIFAR-10/100: 150 MB,
STL-10 at 96 px, Tiny-ImageNet, any class folder of small images), a
training step needs no dataloader workers and no host-to-device copy:
:class:`DeviceImageDataset` decodes every image once into one uint8
``(N, 3, H, W)`` tensor on the device, and :class:`DeviceDataLoader` cuts
each batch out of it with one ``index_select`` in the order of an MMEngine
sampler (``DefaultSampler``: per-epoch shuffling from the seed, one shard
per rank, ``drop_last``).  The views are made on the device too, by the
model's :class:`~mmssl_kd.models.data_preprocessors.GPUMultiViewAugment`.

Configs name the dataset; the project's Runner
(:meth:`mmssl_kd.engine.Runner.build_dataloader`) builds the loader for it,
for training and for the kNN monitor alike::

    train_dataloader = dict(
        batch_size=256, drop_last=True,
        sampler=dict(type='DefaultSampler', shuffle=True),
        dataset=dict(type='DeviceImageDataset',
                     source=dict(type='ImageFolder', data_root='data/cifar10',
                                 split='train')))

Each training batch carries ``aug_seed``, a pure function of the seed, the
epoch, the rank and the batch's position in the epoch, from which the
augmentation draws all its random numbers: a resumed run makes the same
views as an uninterrupted one, whatever the devices' generator states.
"""
import os
import os.path as osp
from concurrent.futures import ThreadPoolExecutor
from typing import Dict, Iterator, List, Optional, Sequence, Tuple, Union

import cv2
import numpy as np
import torch
from mmengine.dist import get_dist_info
from mmengine.logging import print_log
from mmpretrain.structures import DataSample
from torch.utils.data import Dataset

from mmssl_kd.registry import DATASETS

Size = Union[int, Tuple[int, int]]

#: Decoded splits, shared by every dataset that reads the same files at the
#: same size on the same device (the training set and the kNN bank): key
#: ``(device, size, paths)``, value the uint8 tensor in ``paths`` order.
_DECODED: Dict[tuple, torch.Tensor] = {}

#: DataLoader settings that a device-resident loader has no use for.
IGNORED_LOADER_KEYS = ('num_workers', 'persistent_workers', 'pin_memory',
                       'prefetch_factor', 'collate_fn', 'worker_init_fn',
                       'pin_memory_device')


def default_device() -> torch.device:
    """The current CUDA device if there is one, else the CPU."""
    if torch.cuda.is_available():
        return torch.device('cuda', torch.cuda.current_device())
    return torch.device('cpu')


def _read(path: str, size: Optional[Tuple[int, int]]) -> np.ndarray:
    """One image as MMCV's ``LoadImageFromFile`` reads it (cv2, BGR,
    ``(H, W, 3)`` uint8), resized to ``size`` (h, w) with area
    interpolation if given."""
    with open(path, 'rb') as f:
        buffer = np.frombuffer(f.read(), np.uint8)
    image = cv2.imdecode(buffer, cv2.IMREAD_COLOR)
    if image is None:
        raise ValueError(f'{path}: not an image cv2 can decode')
    if size is not None and image.shape[:2] != size:
        image = cv2.resize(image, size[::-1], interpolation=cv2.INTER_AREA)
    return image


def decode_images(paths: Sequence[str], size: Optional[Tuple[int, int]],
                  num_threads: int) -> torch.Tensor:
    """``(N, 3, H, W)`` uint8 BGR tensor of ``paths`` (on the CPU), decoded
    by ``num_threads`` threads (cv2 releases the GIL).  Without ``size``,
    every image must have the first one's."""
    first = _read(paths[0], size)
    shape = first.shape[:2]
    out = np.empty((len(paths), *shape, 3), np.uint8)

    def fill(i: int) -> None:
        image = first if i == 0 else _read(paths[i], size)
        if image.shape[:2] != shape:
            raise ValueError(
                f'{paths[i]} is {image.shape[1]}x{image.shape[0]} px, '
                f'{paths[0]} is {shape[1]}x{shape[0]}: give '
                'DeviceImageDataset a `size` to resize every image to')
        out[i] = image

    with ThreadPoolExecutor(max(1, num_threads)) as pool:
        list(pool.map(fill, range(len(paths))))
    return torch.from_numpy(out).permute(0, 3, 1, 2).contiguous()


@DATASETS.register_module()
class DeviceImageDataset(Dataset):
    """Every image of a labelled dataset in one uint8 tensor on the device.

    ``images`` is ``(N, 3, H, W)`` uint8 in BGR order (as MMCV loads
    images, so the data preprocessor's ``to_rgb`` and mean/std stay those
    of the folder recipe), ``labels`` is ``(N,)`` int64, both on
    ``device``.  ``dataset[i]`` gives one sample as a packed pipeline would
    (``inputs`` (3, H, W), ``data_samples`` with ``gt_label``), so a plain
    DataLoader works too; the Runner gives it a :class:`DeviceDataLoader`.

    Args:
        source: config of the dataset that lists the images and labels
            (anything with ``img_path``/``gt_label`` data infos, e.g.
            ``ImageFolder`` with its subset arguments); its pipeline is
            not used.
        size: decode-time resize to ``(h, w)`` (an int: square), for
            folders of images of different sizes.  None: every image must
            have the same size, kept as it is.
        device: ``'auto'`` (the current CUDA device, else the CPU) or a
            torch device.
        num_threads: decoding threads (default: the CPU count, at most 16).
    """

    def __init__(self,
                 source: dict,
                 size: Optional[Size] = None,
                 device: str = 'auto',
                 num_threads: Optional[int] = None):
        if isinstance(size, int):
            size = (size, size)
        self.size = None if size is None else tuple(size)
        self.device = default_device() if device == 'auto' \
            else torch.device(device)
        listing = DATASETS.build(dict(source, pipeline=[]))
        infos = [listing.get_data_info(i) for i in range(len(listing))]
        self.metainfo = dict(listing.metainfo)
        self.img_paths: List[str] = [info['img_path'] for info in infos]
        self.labels = torch.as_tensor([int(info['gt_label'])
                                       for info in infos]).to(self.device)
        threads = num_threads or min(16, os.cpu_count() or 1)
        self.images = self._decoded(threads)

    def _decoded(self, num_threads: int) -> torch.Tensor:
        """The images, decoded now or taken from another dataset on the
        same files (an index into a decoded superset, e.g. a kNN bank
        drawn from the training split)."""
        paths = tuple(osp.realpath(p) for p in self.img_paths)
        for (device, size, cached), images in _DECODED.items():
            if device != self.device or size != self.size:
                continue
            if cached == paths:
                return images
            rows = dict(zip(cached, range(len(cached))))
            if all(p in rows for p in paths):
                index = torch.as_tensor([rows[p] for p in paths],
                                        device=images.device)
                return images.index_select(0, index)
        images = decode_images(self.img_paths, self.size, num_threads)
        images = images.to(self.device)
        _DECODED[(self.device, self.size, paths)] = images
        print_log(f'DeviceImageDataset: {len(paths)} images decoded to '
                  f'{tuple(images.shape)} uint8 on {self.device} '
                  f'({images.numel() / 2**20:.0f} MiB)', logger='current')
        return images

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> dict:
        sample = DataSample().set_gt_label(int(self.labels[index]))
        return dict(inputs=self.images[index], data_samples=sample)


def is_device_dataset(cfg) -> bool:
    """Whether ``cfg`` is, or configures, a device-resident dataset."""
    if isinstance(cfg, DeviceImageDataset):
        return True
    if not isinstance(cfg, dict) or 'type' not in cfg:
        return False
    kind = cfg['type']
    kind = DATASETS.get(kind) if isinstance(kind, str) else kind
    return isinstance(kind, type) and issubclass(kind, DeviceImageDataset)


def aug_seed(seed: int, epoch: int, rank: int, batch: int) -> int:
    """The augmentation seed of one batch: a 63-bit hash of its
    coordinates (numpy's ``SeedSequence``), different for every epoch,
    rank and position, the same on every run."""
    state = np.random.SeedSequence([seed, epoch, rank, batch])
    return int(state.generate_state(1, np.uint64)[0] >> np.uint64(1))


class DeviceDataLoader:
    """Batches of a :class:`DeviceImageDataset`, cut on its device.

    Iterating gives ``len(self)`` batches of the sampler's indices (one
    ``index_select`` each), as a DataLoader over the same sampler would
    (``drop_last`` as there), each a dict::

        inputs:       [(B, 3, H, W) uint8 images], one view, on the device
        data_samples: None (the algorithms' losses read the views only)
        gt_label:     (B,) int64 labels, on the device (the kNN monitor)
        aug_seed:     int, see :func:`aug_seed`

    Args:
        dataset: the images.
        sampler: an MMEngine sampler (``DefaultSampler``: ``seed``,
            ``epoch``, ``set_epoch``, one shard per rank).
        batch_size: images per batch on this rank.
        drop_last: drop the last incomplete batch.
    """

    num_workers = 0  # no worker processes: the batches are cut here

    def __init__(self, dataset: DeviceImageDataset, sampler,
                 batch_size: int, drop_last: bool = False):
        if batch_size < 1:
            raise ValueError(f'batch_size must be >= 1, got {batch_size}')
        self.dataset = dataset
        self.sampler = sampler
        self.batch_size = batch_size
        self.drop_last = drop_last
        self.rank = get_dist_info()[0]

    def __len__(self) -> int:
        count = len(self.sampler)
        if self.drop_last:
            return count // self.batch_size
        return -(-count // self.batch_size)

    def __iter__(self) -> Iterator[dict]:
        order = torch.as_tensor(list(self.sampler), dtype=torch.long)
        order = order.to(self.dataset.device)
        seed = getattr(self.sampler, 'seed', 0)
        epoch = getattr(self.sampler, 'epoch', 0)
        for batch in range(len(self)):
            index = order[batch * self.batch_size:
                          (batch + 1) * self.batch_size]
            yield dict(inputs=[self.dataset.images.index_select(0, index)],
                       data_samples=None,
                       gt_label=self.dataset.labels.index_select(0, index),
                       aug_seed=aug_seed(seed, epoch, self.rank, batch))


def build_device_dataloader(cfg: dict, dataset: DeviceImageDataset,
                            sampler) -> DeviceDataLoader:
    """The loader for a dataloader config whose dataset is device-resident
    (``dataset`` and ``sampler`` built from it as MMEngine builds them):
    ``batch_size`` and ``drop_last`` are used, the worker settings
    (:data:`IGNORED_LOADER_KEYS`) have nothing to do, anything else is
    refused."""
    cfg = dict(cfg)
    for key in ('dataset', 'sampler') + IGNORED_LOADER_KEYS:
        cfg.pop(key, None)
    batch_size = cfg.pop('batch_size', 1)
    drop_last = cfg.pop('drop_last', False)
    if cfg:
        raise TypeError(
            f'A dataloader over {type(dataset).__name__} takes batch_size, '
            f'drop_last, sampler and dataset; {sorted(cfg)} have no meaning '
            'for it (the batches are cut on the device: no workers, no '
            'batch sampler, no collate function).')
    return DeviceDataLoader(dataset, sampler, batch_size, drop_last)
