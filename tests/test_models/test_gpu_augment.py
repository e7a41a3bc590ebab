"""GPUMultiViewAugment: views, per-sample randomness, seeding, the eval path,
exact normalisation, each op on a hand-made image, and crop statistics."""
import numpy as np
import pytest
import torch
from mmengine.runner import set_random_seed
from mmpretrain.datasets.transforms import RandomResizedCrop

from mmssl_kd.models.data_preprocessors import (GPUMultiViewAugment,
                                                SelfSupDataPreprocessor)
from mmssl_kd.registry import MODELS

pytestmark = pytest.mark.usefixtures('one_thread')

NORM = dict(mean=[125.307, 122.950, 113.865], std=[62.993, 62.089, 66.705],
            to_rgb=True)
# the CPU recipes' view (configs/_base_/datasets/cifar10_ssl.py, with blur)
VIEW = [
    dict(type='RandomResizedCrop', scale=32, crop_ratio_range=(0.08, 1.),
         backend='pillow'),
    dict(type='RandomApply', prob=0.8, transforms=[
        dict(type='ColorJitter', brightness=0.4, contrast=0.4,
             saturation=0.2, hue=0.1)]),
    dict(type='RandomGrayscale', prob=0.2, keep_channels=True,
         channel_weights=(0.114, 0.587, 0.2989)),
    dict(type='GaussianBlur', magnitude_range=(0.1, 2.0),
         magnitude_std='inf', prob=0.5),
    dict(type='Solarize', thr=128, prob=0.2),
    dict(type='RandomFlip', prob=0.5),
]
WHOLE = dict(type='RandomResizedCrop', scale=16, crop_ratio_range=(1., 1.),
             aspect_ratio_range=(1., 1.))


def _images(batch: int = 4, size: int = 32, seed: int = 0) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (batch, 3, size, size), dtype=torch.uint8,
                         generator=gen)


def _augment(transforms, num_views=1, **kwargs) -> GPUMultiViewAugment:
    return MODELS.build(dict(type='GPUMultiViewAugment', num_views=num_views,
                             transforms=transforms, **kwargs))


def test_views_per_group_shapes_and_dtype():
    local = [dict(VIEW[0], scale=16)] + VIEW[1:]
    aug = _augment([VIEW, local], num_views=[2, 3], **NORM)
    samples = [object() for _ in range(4)]
    out = aug(dict(inputs=[_images()], data_samples=samples), True)
    assert out['data_samples'] is samples
    assert [tuple(v.shape) for v in out['inputs']] == \
        [(4, 3, 32, 32)] * 2 + [(4, 3, 16, 16)] * 3
    assert all(v.dtype == torch.float32 for v in out['inputs'])
    # a bare tensor (PackInputs of one image) works as a one-element list
    set_random_seed(1)
    from_tensor = aug(dict(inputs=_images()), True)['inputs']
    set_random_seed(1)
    from_list = aug(dict(inputs=[_images()]), True)['inputs']
    assert all(torch.equal(a, b) for a, b in zip(from_tensor, from_list))


def test_parameters_differ_within_a_batch():
    aug = _augment([VIEW], num_views=2, **NORM)
    image = _images(1)
    views = aug(dict(inputs=image.expand(2, -1, -1, -1).contiguous()),
                True)['inputs']
    for view in views:
        assert not torch.allclose(view[0], view[1])
    assert not torch.allclose(views[0], views[1])


def test_same_seed_same_views():
    aug = _augment([VIEW], num_views=2, **NORM)
    runs = []
    for seed in (0, 0, 1):
        set_random_seed(seed)
        runs.append(aug(dict(inputs=_images()), True)['inputs'])
    assert all(torch.equal(a, b) for a, b in zip(runs[0], runs[1]))
    assert not torch.equal(runs[0][0], runs[2][0])


def test_eval_is_the_parent():
    aug = _augment([VIEW], **NORM)
    parent = SelfSupDataPreprocessor(**NORM)
    for inputs in (_images(), [_images()]):
        ours = aug(dict(inputs=inputs), False)['inputs']
        theirs = parent(dict(inputs=inputs), False)['inputs']
        ours = ours if isinstance(ours, list) else [ours]
        theirs = theirs if isinstance(theirs, list) else [theirs]
        assert all(torch.equal(a, b) for a, b in zip(ours, theirs))


@pytest.mark.parametrize('to_rgb', [True, False])
def test_whole_crop_is_the_normalised_image(to_rgb):
    """Crop scale (1, 1), nothing else: the parent's normalised image (the
    colour ops' RGB round trip and the 0-255 scale of mean/std cancel)."""
    norm = dict(NORM, to_rgb=to_rgb)
    images = _images(size=16)
    out = _augment([[WHOLE]], **norm)(dict(inputs=images), True)['inputs']
    expected = SelfSupDataPreprocessor(**norm)(dict(inputs=images))['inputs']
    torch.testing.assert_close(out[0], expected, atol=1e-5, rtol=0)


def _one_op(op: dict, images: torch.Tensor, **kwargs) -> torch.Tensor:
    """``op`` with prob 1 after a whole-image crop, in 0-255 (no mean/std),
    RGB out of a BGR batch."""
    aug = _augment([[dict(WHOLE, scale=images.shape[-1]), op]], to_rgb=True,
                   **kwargs)
    return aug(dict(inputs=images), True)['inputs'][0]


def test_solarize_inverts_from_the_threshold():
    values = torch.tensor([0, 100, 127, 128, 200, 255], dtype=torch.uint8)
    images = values.view(1, 1, 1, 6).expand(2, 3, 6, 6).contiguous()
    out = _one_op(dict(type='Solarize', thr=128, prob=1.), images)
    expected = torch.where(values < 128, values, 255 - values).float()
    torch.testing.assert_close(out, expected.expand_as(out), atol=1e-3,
                               rtol=0)


def test_grayscale_uses_the_configured_weights():
    """The weights are read in ``color_format``'s order (MMCV's BGR by
    default) and normalised to sum 1."""
    bgr = torch.tensor([10, 100, 200], dtype=torch.uint8)
    images = bgr.view(1, 3, 1, 1).expand(2, 3, 4, 4).contiguous()
    weights = [0.114, 0.587, 0.2989]
    normalised = torch.tensor(weights) / sum(weights)
    for color_format, pixel in (('bgr', bgr), ('rgb', bgr.flip(0))):
        out = _one_op(dict(type='RandomGrayscale', prob=1.,
                           keep_channels=True, channel_weights=weights,
                           color_format=color_format), images)
        gray = float(normalised @ pixel.float())
        torch.testing.assert_close(out, torch.full_like(out, gray),
                                   atol=1e-3, rtol=0)


def test_flip_mirrors():
    images = _images(2, 8)
    rgb = images.flip(1).float()
    for direction, dim in (('horizontal', -1), ('vertical', -2)):
        out = _one_op(dict(type='RandomFlip', prob=1., direction=direction),
                      images)
        torch.testing.assert_close(out, rgb.flip(dim), atol=1e-3, rtol=0)


def test_random_apply_gives_its_probability_to_the_op():
    aug = _augment([[VIEW[0], VIEW[1]]])
    assert aug.pipelines[0][1].p == pytest.approx(0.8)


@pytest.mark.parametrize('bad', [
    dict(type='RandomErasing'),
    dict(type='RandomResizedCropWithBox', scale=32),
])
def test_unknown_type_names_itself_and_the_supported(bad):
    with pytest.raises(ValueError, match=bad['type'] + r".*RandomResizedCrop"):
        _augment([[bad]])


def test_wrong_arguments_and_inputs_are_refused():
    with pytest.raises(TypeError, match='ColorJitter'):
        _augment([[dict(type='ColorJitter', strength=0.4)]])
    with pytest.raises(ValueError, match='view counts'):
        _augment([VIEW], num_views=[1, 1])
    aug = _augment([VIEW])
    with pytest.raises(ValueError, match='one image per sample'):
        aug(dict(inputs=[_images(), _images()]), True)
    with pytest.raises(ValueError, match='uint8'):
        aug(dict(inputs=_images().float()), True)


def test_crop_areas_follow_the_scale_range():
    """Crop areas in crop_ratio_range, distributed as MMPretrain's crop
    draws them (uniform areas, minus the tries that do not fit), and aspect
    ratios inside aspect_ratio_range up to pixel rounding."""
    size, draws = 64, 20000
    set_random_seed(0)
    cpu = RandomResizedCrop(scale=32, crop_ratio_range=(0.2, 1.))
    image = np.zeros((size, size, 3), np.uint8)
    params = np.array([cpu.rand_crop_params(image) for _ in range(draws)])
    cpu_area = params[:, 2] * params[:, 3] / size**2
    crop = _augment([[dict(VIEW[0], crop_ratio_range=(0.2, 1.))]])
    box = crop.pipelines[0][0].forward_parameters(
        torch.Size((draws, 3, size, size)))['src'].numpy()
    width = box[:, 1, 0] - box[:, 0, 0] + 1
    height = box[:, 2, 1] - box[:, 1, 1] + 1
    area = width * height / size**2
    assert area.min() > 0.19 and area.max() <= 1.
    assert abs(area.mean() - cpu_area.mean()) < 0.01
    hist, cpu_hist = (np.histogram(a, bins=8, range=(0.2, 1.))[0] / draws
                      for a in (area, cpu_area))
    assert np.abs(hist - cpu_hist).max() < 0.015, (hist, cpu_hist)
    assert 0.75 * 0.97 < (width / height).min()
    assert (width / height).max() < 4 / 3 * 1.03
