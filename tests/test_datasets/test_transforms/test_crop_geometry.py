"""Crops that record their box and flip: the box is the region the image
came from, and MultiViewWithBoxes packs one box and flip per view."""
import numpy as np
import pytest
import torch
from mmengine.registry import DefaultScope

from mmssl_kd.models.utils import token_centres
from mmssl_kd.registry import TRANSFORMS


def build(cfg):
    with DefaultScope.overwrite_default_scope('mmssl_kd'):
        return TRANSFORMS.build(cfg)


def coordinate_image(height=60, width=80):
    """Channel 0 = x + 0.5, channel 1 = y + 0.5 (pixel centres), float."""
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32) + 0.5
    return np.stack([xs, ys, np.zeros_like(xs)], axis=-1)


def test_box_is_where_the_crop_came_from():
    """The output's pixel values (original coordinates) lie in the box, and
    the cell means of a 2x2 grid match token_centres."""
    crop = build(dict(type='RandomResizedCropWithBox', scale=16,
                      crop_ratio_range=(0.2, 0.6), interpolation='bilinear'))
    np.random.seed(0)
    out = crop(dict(img=coordinate_image()))
    x0, y0, x1, y1 = out['crop_box']
    img = out['img']
    assert img.shape[:2] == (16, 16)
    assert x0 <= img[..., 0].min() and img[..., 0].max() <= x1
    assert y0 <= img[..., 1].min() and img[..., 1].max() <= y1
    cells = img[..., :2].reshape(2, 8, 2, 8, 2).mean(axis=(1, 3))
    expected, _ = token_centres(torch.from_numpy(out['crop_box'][None]),
                                torch.tensor([False]), (2, 2))
    np.testing.assert_allclose(cells.reshape(4, 2), expected[0].numpy(),
                               atol=0.5)


def test_multiview_packs_one_box_and_flip_per_view():
    view = [dict(type='RandomResizedCropWithBox', scale=8),
            dict(type='RandomFlip', prob=0.5)]
    multi = build(dict(type='MultiViewWithBoxes', num_views=[2, 3],
                       transforms=[view, view]))
    np.random.seed(2)  # flips views 0, 1 and 3
    out = multi(dict(img=coordinate_image()))
    assert len(out['img']) == 5
    assert out['crop_boxes'].shape == (5, 4)
    assert out['crop_flips'].shape == (5, )
    assert out['crop_flips'].any() and not out['crop_flips'].all()
    for img, box, flip in zip(out['img'], out['crop_boxes'],
                              out['crop_flips']):
        left, right = img[:, 0, 0].mean(), img[:, -1, 0].mean()
        assert (left > right) == flip  # a flipped view runs right to left
        assert box[0] <= min(left, right) and max(left, right) <= box[2]
    packed = build(dict(type='PackInputs',
                        algorithm_keys=('crop_boxes', 'crop_flips')))(out)
    sample = packed['data_samples']
    assert np.array_equal(sample.crop_boxes, out['crop_boxes'])


def test_view_without_box_is_an_error():
    multi = build(dict(type='MultiViewWithBoxes', num_views=1,
                       transforms=[[dict(type='RandomResizedCrop',
                                         scale=8)]]))
    with pytest.raises(KeyError, match='RandomResizedCropWithBox'):
        multi(dict(img=coordinate_image()))
