"""Datasets and transforms."""
import mmpretrain.datasets  # noqa: F401  (parent registry entries)

from . import transforms  # noqa: F401
from .device_data import (
                          DeviceDataLoader,
                          DeviceImageDataset,
                          build_device_dataloader,
                          is_device_dataset,
)
from .image_folder import ImageFolder, balanced_subset

__all__ = ['DeviceDataLoader', 'DeviceImageDataset', 'ImageFolder',
           'balanced_subset', 'build_device_dataloader', 'is_device_dataset']
