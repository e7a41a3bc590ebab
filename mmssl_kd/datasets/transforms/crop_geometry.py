"""Crops that remember where they came from (Global-Local Self-Distillation,
Lebailly and Tuytelaars, WACV 2023): each view's box in the original image
and its horizontal flip, so every output token's position is known."""
import copy
from typing import Tuple

import numpy as np
from mmpretrain.datasets.transforms import MultiView, RandomResizedCrop

from mmssl_kd.registry import TRANSFORMS


@TRANSFORMS.register_module()
class RandomResizedCropWithBox(RandomResizedCrop):
    """MMPretrain's ``RandomResizedCrop`` that also stores the crop's box in
    original-image pixels as ``results['crop_box']``: ``(x0, y0, x1, y1)``
    float32, ``x1 = x0 + width`` (pixel edges, not centres)."""

    def rand_crop_params(self, img: np.ndarray) -> Tuple[int, int, int, int]:
        """The parent's random ``(offset_h, offset_w, h, w)``, remembered."""
        self._params = super().rand_crop_params(img)
        return self._params

    def transform(self, results: dict) -> dict:
        results = super().transform(results)
        top, left, height, width = self._params
        results['crop_box'] = np.array(
            [left, top, left + width, top + height], dtype=np.float32)
        return results


@TRANSFORMS.register_module()
class MultiViewWithBoxes(MultiView):
    """``MultiView`` that also collects, per view, ``crop_box`` (from
    :class:`RandomResizedCropWithBox`) as ``results['crop_boxes']`` (V, 4)
    and the horizontal flip (``flip`` of ``RandomFlip``) as
    ``results['crop_flips']`` (V,); pack them with
    ``PackInputs(algorithm_keys=('crop_boxes', 'crop_flips'))``.

    Every view's pipeline must crop with :class:`RandomResizedCropWithBox`;
    a vertical flip is refused (the token positions assume horizontal).
    """

    def transform(self, results: dict) -> dict:
        views, boxes, flips = [], [], []
        for trans in self.transforms:
            out = trans(copy.deepcopy(results))
            if 'crop_box' not in out:
                raise KeyError(
                    'MultiViewWithBoxes: a view pipeline has no '
                    'RandomResizedCropWithBox, so its box is unknown.')
            flipped = bool(out.get('flip', False))
            if flipped and out.get('flip_direction') != 'horizontal':
                raise ValueError(
                    'MultiViewWithBoxes supports horizontal flips only, got '
                    f"{out.get('flip_direction')!r}.")
            views.append(out['img'])
            boxes.append(out['crop_box'])
            flips.append(flipped)
        results.update(img=views, crop_boxes=np.stack(boxes),
                       crop_flips=np.array(flips))
        return results
