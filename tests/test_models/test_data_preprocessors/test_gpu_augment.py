"""GPUMultiViewAugment and its batched ops: views, per-sample randomness,
seeding, the eval path, exact normalisation, each op against MMPretrain,
torchvision or cv2 on the same parameters, crop statistics, and the cost
(torch ops per call, nothing read back from the device)."""
import math

import cv2
import numpy as np
import pytest
import torch
import torch.nn.functional as F
import torchvision.transforms.v2.functional as TF
from mmengine.config import Config
from mmengine.runner import set_random_seed
from mmpretrain.datasets.transforms import RandomResizedCrop
from torch.profiler import ProfilerActivity, profile

from mmssl_kd.models.data_preprocessors import (
    GPUMultiViewAugment,
    SelfSupDataPreprocessor,
    batch_ops,
)
from mmssl_kd.registry import MODELS

EPS = torch.finfo(torch.float32).eps
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


def _recipe(name: str) -> GPUMultiViewAugment:
    """The CIFAR two-view recipe's or the DINO multi-crop's preprocessor."""
    if name == 'cifar':
        cfg = Config.fromfile('configs/_base_/datasets/cifar10_ssl.py')
        return _augment([cfg.view_pipeline1, cfg.view_pipeline2], [1, 1],
                        **NORM)
    cfg = Config.fromfile(
        'configs/global_local/'
        'dino_vit-small-p16_8xb32-coslr-300e_gpu-aug_in1k.py')
    return MODELS.build(cfg.data_preprocessor)


def test_views_per_group_shapes_and_dtype():
    local = [dict(VIEW[0], scale=16)] + VIEW[1:]
    aug = _augment([VIEW, local], num_views=[2, 3], **NORM)
    samples = [object() for _ in range(4)]
    out = aug(dict(inputs=[_images()], data_samples=samples), True)
    assert out['data_samples'] is samples
    assert [tuple(v.shape) for v in out['inputs']] == \
        [(4, 3, 32, 32)] * 2 + [(4, 3, 16, 16)] * 3
    assert all(v.dtype == torch.float32 and v.is_contiguous()
               for v in out['inputs'])
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


def test_aug_seed_decides_the_views_and_leaves_the_global_generator():
    """With ``aug_seed`` the views depend on it alone (not on calls before,
    not on the global generator), and the global generator is untouched."""
    aug = _augment([VIEW], num_views=2, **NORM)
    images = _images()
    state = torch.get_rng_state()
    first = aug(dict(inputs=images, aug_seed=7), True)['inputs']
    assert torch.equal(torch.get_rng_state(), state)
    aug(dict(inputs=images), True)  # draws from the global generator
    again = aug(dict(inputs=images, aug_seed=7), True)['inputs']
    other = aug(dict(inputs=images, aug_seed=8), True)['inputs']
    assert all(torch.equal(a, b) for a, b in zip(first, again))
    assert not torch.equal(first[0], other[0])
    for bad in ('7', torch.tensor(7), True):
        with pytest.raises(TypeError, match='aug_seed'):
            aug(dict(inputs=images, aug_seed=bad), True)


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


def _one_op(ops, images: torch.Tensor, **kwargs) -> torch.Tensor:
    """``ops`` (with prob 1) after a whole-image crop, in 0-255 (no
    mean/std), RGB out of a BGR batch."""
    ops = ops if isinstance(ops, list) else [ops]
    aug = _augment([[dict(WHOLE, scale=images.shape[-1])] + ops],
                   to_rgb=True, **kwargs)
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


def test_flips_mirror_and_compose():
    """A flip mirrors the view; two sure flips cancel (the flips are folded
    into the crop's sampling grid)."""
    images = _images(2, 8)
    rgb = images.flip(1).float()
    for direction, dim in (('horizontal', -1), ('vertical', -2)):
        flip = dict(type='RandomFlip', prob=1., direction=direction)
        out = _one_op(flip, images)
        torch.testing.assert_close(out, rgb.flip(dim), atol=1e-3, rtol=0)
        out = _one_op([flip, flip], images)
        torch.testing.assert_close(out, rgb, atol=1e-3, rtol=0)


def test_random_apply_gives_its_probability_to_the_op():
    aug = _augment([[VIEW[0], VIEW[1]]])
    assert aug.batches[0].ops[0].prob == pytest.approx(0.8)


def test_groups_with_one_crop_and_op_sequence_are_one_batch():
    """CIFAR's two views are one batch (view 2's extra Solarize has
    probability 0 in view 1), DINO's ten views two (global, local); a
    different op order stays apart."""
    assert [batch.views for batch in _recipe('cifar').batches] == [[0, 1]]
    assert [batch.views for batch in _recipe('dino').batches] == \
        [[0, 1], list(range(2, 10))]
    gray = dict(type='RandomGrayscale', prob=1., keep_channels=True)
    solar = dict(type='Solarize', thr=128, prob=1.)
    aug = _augment([[WHOLE, gray, solar], [WHOLE, solar, gray]], [1, 1])
    assert len(aug.batches) == 2
    # the merged batch: view 1 never solarized, view 2 always
    whole = dict(WHOLE, scale=8)
    aug = _augment([[whole], [whole, solar]], [1, 1], to_rgb=True)
    assert len(aug.batches) == 1
    images = _images(4, 8)
    plain, solarized = aug(dict(inputs=images), True)['inputs']
    rgb = images.flip(1).float()
    torch.testing.assert_close(plain, rgb, atol=1e-3, rtol=0)
    torch.testing.assert_close(
        solarized, torch.where(rgb < 128, rgb, 255 - rgb), atol=1e-3, rtol=0)


@pytest.mark.parametrize('bad', [
    dict(type='RandomErasing'),
    dict(type='RandomResizedCropWithBox', scale=32),
])
def test_unknown_type_names_itself_and_the_supported(bad):
    with pytest.raises(ValueError, match=bad['type'] + r".*RandomResizedCrop"):
        _augment([[bad]])


def test_wrong_arguments_and_inputs_are_refused():
    with pytest.raises(TypeError, match='ColorJitter'):
        _augment([[VIEW[0], dict(type='ColorJitter', strength=0.4)]])
    with pytest.raises(ValueError, match='view counts'):
        _augment([VIEW], num_views=[1, 1])
    aug = _augment([VIEW])
    with pytest.raises(ValueError, match='one image per sample'):
        aug(dict(inputs=[_images(), _images()]), True)
    with pytest.raises(ValueError, match='uint8'):
        aug(dict(inputs=_images().float()), True)


# --------------------------------------------------------------------------
# RandomResizedCrop


def _crop_boxes(u: torch.Tensor, height: int, width: int, **kwargs):
    """(x0, y0, w, h) per row of ``u``, as a numpy array."""
    corner, size = batch_ops.crop_boxes(u, height, width, **kwargs)
    return torch.cat([corner, size], -1).numpy()


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
    u = torch.rand(draws, 22, generator=torch.Generator().manual_seed(0))
    box = _crop_boxes(u, size, size, crop_ratio_range=(0.2, 1.),
                      aspect_ratio_range=(3. / 4., 4. / 3.))
    width, height = box[:, 2], box[:, 3]
    area = width * height / size**2
    assert area.min() > 0.19 and area.max() <= 1.
    assert abs(area.mean() - cpu_area.mean()) < 0.01
    hist, cpu_hist = (np.histogram(a, bins=8, range=(0.2, 1.))[0] / draws
                      for a in (area, cpu_area))
    assert np.abs(hist - cpu_hist).max() < 0.015, (hist, cpu_hist)
    assert 0.75 * 0.97 < (width / height).min()
    assert (width / height).max() < 4 / 3 * 1.03
    assert (box[:, :2] >= 0).all()
    assert (box[:, :2] + box[:, 2:] <= size).all()


def test_crop_boxes_are_mmpretrains_on_the_same_draws(monkeypatch):
    """MMPretrain's ``rand_crop_params`` fed the same uniforms (area and
    ratio per try, then the corner) gives the same boxes, including later
    tries and the centred fallback (a wide image, extreme ratios).  float32
    against numpy's float64 may round a box differently within ~1e-6 of a
    half pixel: allow 1 % of the boxes."""
    height, width, draws = 16, 48, 400
    kwargs = dict(crop_ratio_range=(0.5, 1.), aspect_ratio_range=(0.2, 2.))
    u = torch.rand(draws, 22, generator=torch.Generator().manual_seed(1))
    ours = _crop_boxes(u, height, width, **kwargs)
    cpu = RandomResizedCrop(scale=8, **kwargs)
    image = np.zeros((height, width, 3), np.uint8)
    theirs = []
    for row in u.double().tolist():
        tries, (x, y) = iter(row[:20]), row[20:]
        corner = iter((y, x))  # MMPretrain draws the row first
        monkeypatch.setattr(np.random, 'uniform',
                            lambda low, high: low + (high - low) * next(tries))
        monkeypatch.setattr(
            np.random, 'randint',
            lambda low, high: low + math.floor(next(corner) * (high - low)))
        y0, x0, h, w = cpu.rand_crop_params(image)
        theirs.append((x0, y0, w, h))
    monkeypatch.undo()
    same = (ours == np.array(theirs)).all(1)
    assert same.mean() >= 0.99
    # the draws reached later tries and the fallback
    fallback = (theirs == np.array([8, 0, 32, 16])).all(1)
    assert 0 < fallback.sum() < draws


@pytest.mark.parametrize('interpolation', ['nearest', 'bilinear', 'bicubic'])
def test_whole_image_crop_at_its_size_is_the_identity(interpolation):
    """Float32 grid coordinates are off by ~2 eps in [-1, 1], ~W eps
    pixels: the interpolation weights stray from 0/1 by that much."""
    images = torch.rand(3, 3, 24, 40)
    corner, size = torch.zeros(3, 2), torch.tensor([[40., 24.]] * 3)
    flip = torch.zeros(3, 2, dtype=torch.bool)
    grid = batch_ops.crop_grid(corner, size, flip, 24, 40, (24, 40))
    out = F.grid_sample(images, grid, interpolation, 'border',
                        align_corners=False)
    torch.testing.assert_close(out, images, atol=4 * 40 * EPS, rtol=0)


@pytest.mark.parametrize('box,out_size', [
    ((3, 2, 7, 9), (16, 16)),  # upscaled, inside the image
    ((5, 4, 17, 13), (8, 6)),  # downscaled (cv2 does not antialias either)
    ((0, 0, 24, 20), (10, 30)),
])
def test_crop_resizes_as_cv2_does(box, out_size):
    """The box, bilinear, as cv2 resizes the cropped image (half-pixel grid,
    the crop's edges replicated), flipped or not."""
    images = torch.rand(1, 3, 20, 24)
    x0, y0, w, h = box
    crop = images[0, :, y0:y0 + h, x0:x0 + w].permute(1, 2, 0).numpy()
    expected = torch.from_numpy(cv2.resize(
        crop, out_size[::-1], interpolation=cv2.INTER_LINEAR)).permute(2, 0, 1)
    for flip, dims in (((False, False), []), ((True, False), [-1]),
                       ((False, True), [-2])):
        grid = batch_ops.crop_grid(
            torch.tensor([[x0, y0]], dtype=torch.float32),
            torch.tensor([[w, h]], dtype=torch.float32),
            torch.tensor([flip]), 20, 24, out_size)
        out = F.grid_sample(images, grid, 'bilinear', 'border',
                            align_corners=False)[0]
        torch.testing.assert_close(out, expected.flip(dims), atol=1e-5,
                                   rtol=0)


# --------------------------------------------------------------------------
# ColorJitter, GaussianBlur


def _jitter_images() -> torch.Tensor:
    """Random colours with grey pixels, clipped ones and a flat image."""
    images = torch.rand(12, 3, 10, 10,
                        generator=torch.Generator().manual_seed(0))
    images[0] = images[0, :1]
    images[1, :, :4] = 1.
    images[2] = 0.5
    return images


@pytest.mark.parametrize('step,low,high,atol', [
    ('brightness', 0., 2., 1e-5),
    ('contrast', 0., 2., 1e-5),
    ('saturation', 0., 2., 1e-5),
    ('hue', -0.5, 0.5, 1e-4),
])
def test_each_jitter_step_is_torchvisions(step, low, high, atol):
    """Each step, with its own factor per image, against torchvision's on
    that factor.  Brightness, contrast, saturation take the same few float32
    roundings (~1e-7); hue recomputes the HSV hue on another path (sextants
    mod 6 from channel differences, not torchvision's mod 1), a few roundings
    of 6 eps each, times the chroma (<= 1): some 1e-6."""
    images = _jitter_images()
    factors = torch.empty(1, len(images), 1, 1, 1).uniform_(low, high)
    ranks = torch.zeros_like(factors, dtype=torch.long)
    out = batch_ops.color_jitter(images, factors, ranks, [step])
    adjust = getattr(TF, f'adjust_{step}')
    expected = torch.stack([adjust(image, float(f))
                            for image, f in zip(images, factors.flatten())])
    torch.testing.assert_close(out, expected, atol=atol, rtol=0)


def test_jitter_applies_each_images_order():
    """All four steps, per-image factors and per-image orders: each image as
    torchvision's steps in its order (tolerance: the hue's, carried on)."""
    images = _jitter_images()
    gen = torch.Generator().manual_seed(2)
    factors = torch.rand(4, len(images), 1, 1, 1, generator=gen)
    factors = factors * torch.tensor([1.6, 1.6, 1.6, 0.4]).view(4, 1, 1, 1, 1)
    factors += torch.tensor([0.2, 0.2, 0.2, -0.2]).view(4, 1, 1, 1, 1)
    ranks = torch.rand(factors.shape, generator=gen).argsort(0)
    out = batch_ops.color_jitter(images, factors, ranks,
                                 batch_ops.JITTER_STEPS)
    for image, result, f, rank in zip(images, out, factors.unbind(1),
                                      ranks.unbind(1)):
        for step in rank.flatten().argsort().tolist():
            adjust = getattr(TF, f'adjust_{batch_ops.JITTER_STEPS[step]}')
            image = adjust(image, float(f[step]))
        torch.testing.assert_close(result, image, atol=1e-4, rtol=0)
    assert len({tuple(r.flatten().tolist()) for r in ranks.unbind(1)}) > 1


def test_jitter_order_is_drawn_per_image():
    """One image repeated, brightness x2 and contrast 0: contrast then
    brightness gives 2 x the mean gray, the other order the mean gray of the
    brightened image.  Both occur in one batch."""
    images = torch.tensor([40, 90, 200], dtype=torch.uint8).view(1, 3, 1, 1)
    images = images.expand(32, 3, 4, 4).contiguous()
    images[:, :, 0, 0] = 250
    jitter = dict(type='ColorJitter', brightness=(2., 2.),
                  contrast=(0., 0.))
    out = _one_op(jitter, images, mean=[0.] * 3, std=[255.] * 3)  # in [0, 1]
    rgb = images[0].flip(0).float() / 255.
    orders = [TF.adjust_contrast(TF.adjust_brightness(rgb, 2.), 0.),
              TF.adjust_brightness(TF.adjust_contrast(rgb, 0.), 2.)]
    which = [min(range(2), key=lambda i: (view - orders[i]).abs().max())
             for view in out]
    assert set(which) == {0, 1}
    for view, i in zip(out, which):
        torch.testing.assert_close(view, orders[i], atol=1e-5, rtol=0)


def test_blur_is_a_per_image_gaussian_with_replicated_edges():
    """Against a direct 2-D convolution per image in float64 (kernel
    exp(-t^2 / 2 sigma^2), normalised, edges replicated)."""
    images = torch.rand(3, 3, 9, 11)
    sigma = torch.tensor([0.3, 1., 2.]).view(3, 1, 1, 1)
    taps = 2 * math.ceil(3 * 2.) + 1
    out = batch_ops.gaussian_blur(images, sigma, taps)
    t = torch.arange(taps, dtype=torch.float64) - taps // 2
    for image, s, result in zip(images, sigma.flatten().tolist(), out):
        kernel = torch.exp(-t**2 / (2 * s * s))
        kernel = torch.outer(kernel, kernel) / kernel.sum()**2
        padded = F.pad(image.double()[None], (taps // 2, ) * 4,
                       mode='replicate')
        expected = F.conv2d(padded, kernel.expand(3, 1, taps, taps),
                            groups=3)[0]
        torch.testing.assert_close(result.double(), expected, atol=1e-6,
                                   rtol=0)


# --------------------------------------------------------------------------
# Cost


def _torch_ops(aug: GPUMultiViewAugment, images: torch.Tensor) -> int:
    """Torch ops (profiler events, nested ones included) of one call."""
    aug(dict(inputs=images), True)
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        aug(dict(inputs=images), True)
    return len(prof.events())


def test_views_cost_a_few_hundred_torch_ops():
    """The CIFAR two-view recipe and DINO's 2 + 8 crops in a fixed number
    of torch ops whatever the batch (here 268 and 624; the kornia version
    took 3,687 and 13,829)."""
    cifar = _torch_ops(_recipe('cifar'), _images(8))
    assert cifar < 400
    assert _torch_ops(_recipe('cifar'), _images(16)) == cifar
    assert _torch_ops(_recipe('dino'), _images(2, 64)) < 1000


def test_views_read_nothing_back_from_the_device():
    """On the meta device (shapes, no values) any read of a value on the
    host (``.item()``, ``.tolist()``, a branch on a tensor) raises: the
    views need none, so on a GPU they never wait for it."""
    for name in ('cifar', 'dino'):
        aug = _recipe(name).to('meta')
        views = aug(dict(inputs=_images(2, 64)), True)['inputs']
        assert all(view.device.type == 'meta' for view in views)
