"""Batched image ops with per-image parameters, in pure torch.

The ops :class:`GPUMultiViewAugment` makes its views with.  Each takes
float RGB images with values in [0, 1], channels in dim 1 and pixels in
the last two dims (``(N, 3, H, W)``, or ``(B, 3, V, H, W)`` for V views
of B images), and per-image parameters as tensors that broadcast against
them (``(N, 1, 1, 1)``, ``(B, 1, V, 1, 1)``).  k parameters per image
stack in a first dim, ``(k, N, 1, 1, 1)``, so that each one is
contiguous (the CPU's broadcasting kernels are several times slower on
strided ones).  Each op runs the same few kernels whatever the values: no
loop over images, no branch on data, nothing read back to the host, so on
a GPU a batch costs a few launches per op and never waits for the device.
The formulas are MMPretrain's (crops) and torchvision's
(``transforms.v2.functional``: colours), per image, in float32.
"""
import functools
import math
from typing import Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor

# torchvision's luma weights (``rgb_to_grayscale``), which its contrast and
# saturation blend with
LUMA = (0.2989, 0.587, 0.114)
# ColorJitter's steps, in MMPretrain's (and torchvision's) numbering
JITTER_STEPS = ('brightness', 'contrast', 'saturation', 'hue')


@functools.lru_cache(maxsize=None)
def constant(values, device: torch.device,
             shape: Optional[Tuple[int, ...]] = None,
             dtype: torch.dtype = torch.float32) -> Tensor:
    """``values`` (a number or nested tuples) as a tensor of ``shape`` on
    ``device``: copied there on the first call with those arguments only,
    then reused, so the ops' constants cost no copy and no launch per
    batch."""
    tensor = torch.tensor(values, dtype=dtype)
    if shape is not None:
        tensor = tensor.view(shape)
    return tensor.to(device)


def _channel_shape(images: Tensor) -> Tuple[int, ...]:
    """Shape of a per-channel constant for ``images``: (3, 1, ..., 1)."""
    return (3, ) + (1, ) * (images.dim() - 2)


# --------------------------------------------------------------------------
# RandomResizedCrop


def crop_boxes(u: Tensor, height: int, width: int,
               crop_ratio_range: Tuple[float, float],
               aspect_ratio_range: Tuple[float, float]
               ) -> Tuple[Tensor, Tensor]:
    """MMPretrain's ``RandomResizedCrop.rand_crop_params`` for every image
    at once, from uniform draws.

    Each try draws an area uniform in ``crop_ratio_range`` times the image
    area and a log-uniform aspect ratio in ``aspect_ratio_range``, rounds
    ``w = sqrt(area * ratio)`` and ``h = sqrt(area / ratio)`` to pixels,
    and fits if ``1 <= w <= width`` and ``1 <= h <= height``; the first
    try that fits is placed uniformly (integer corner).  If none fits,
    MMPretrain's fallback: the largest centred box with the ratio clamped
    to the range.

    Args:
        u: (..., 2 * tries + 2) uniforms in [0, 1) per image: each try's
            area and aspect ratio, then the corner's x and y.
        height, width: the image size in pixels.
        crop_ratio_range, aspect_ratio_range: as ``RandomResizedCrop``.

    Returns:
        The boxes' corners (x0, y0) and sizes (w, h), (..., 2) each, whole
        pixels (as floats).
    """
    tries = u.shape[-1] // 2 - 1
    u_try, u_corner = u.unflatten(-1, (tries + 1, 2)).split((tries, 1), -2)
    u_area, u_ratio = u_try.split((1, 1), -1)
    device = u.device
    low, high = (height * width * s for s in crop_ratio_range)
    area = torch.addcmul(constant(low, device), u_area,
                         constant(high - low, device))
    low, high = (math.log(r) for r in aspect_ratio_range)
    log_ratio = torch.addcmul(constant(low, device), u_ratio,
                              constant(high - low, device))
    # (..., tries, 2): (w, h) = sqrt(area) * ratio ** (1/2, -1/2), rounded
    size = (log_ratio * constant((.5, -.5), device)).exp_()
    size = size.mul_(area.sqrt_()).round_()
    dims = constant((float(width), float(height)), device)
    fits = ((size >= constant(1., device)) & (size <= dims)).all(
        -1, keepdim=True)
    # the first try that fits scores highest; none fits: all score 0
    score = torch.where(
        fits, constant(tuple(range(tries, 0, -1)), device, (tries, 1)),
        constant(0., device))
    best, first = score.max(-2, keepdim=True)
    found = best > constant(0., device)
    size = size.gather(-2, first.expand(*first.shape[:-1], 2))
    corner = (u_corner * (dims + constant(1., device) - size)).floor_()
    fallback = _fallback_box(height, width, aspect_ratio_range)
    corner = torch.where(found, corner, constant(fallback[:2], device))
    size = torch.where(found, size, constant(fallback[2:], device))
    return corner.squeeze(-2), size.squeeze(-2)


def _fallback_box(height: int, width: int,
                  aspect_ratio_range: Tuple[float, float]
                  ) -> Tuple[float, float, float, float]:
    """MMPretrain's box when no try fits: (x0, y0, w, h), the whole image
    with its aspect ratio clamped to the range, centred."""
    low, high = min(aspect_ratio_range), max(aspect_ratio_range)
    w, h = width, height
    if width / height < low:
        h = int(round(width / low))
    elif width / height > high:
        w = int(round(height * high))
    return float((width - w) // 2), float((height - h) // 2), float(w), \
        float(h)


@functools.lru_cache(maxsize=None)
def _pixel_centres(height: int, width: int, device: torch.device) -> Tensor:
    """(height, width, 2): each output pixel's centre (x + 0.5, y + 0.5)."""
    y, x = torch.meshgrid(torch.arange(height, device=device) + .5,
                          torch.arange(width, device=device) + .5,
                          indexing='ij')
    return torch.stack((x, y), -1)


def crop_grid(corner: Tensor, size: Tensor, flip: Tensor, height: int,
              width: int, out_size: Tuple[int, int]) -> Tensor:
    """The ``grid_sample`` grid (``align_corners=False``) that resizes each
    box to ``out_size`` (h, w) as cv2 and Pillow do: on the half-pixel grid
    (output pixel centre u samples the input at ``x0 + (u + 0.5) * w /
    w_out - 0.5``, so a whole-image box at the image's size is the
    identity), and within the box (samples clamped to its outer pixel
    centres, as resizing the cropped image replicates its edges).

    Args:
        corner, size: (..., 2) boxes, from :func:`crop_boxes`.
        flip: (..., 2) bool, mirror the box horizontally / vertically.
        height, width: the input images' size.
        out_size: the output's (h, w).

    Returns:
        (..., h_out, w_out, 2) grid, x then y, in [-1, 1].
    """
    device = corner.device
    to_unit = constant((2. / width, 2. / height), device)
    half_pixel = constant((1. / width, 1. / height), device)
    start = torch.addcmul(constant(-1., device), corner, to_unit)
    extent = size * to_unit
    end = start + extent
    low, high = start + half_pixel, end - half_pixel
    step = extent * constant((1. / out_size[1], 1. / out_size[0]), device)
    start = torch.where(flip, end, start)
    step = torch.where(flip, -step, step)
    lead = (*corner.shape[:-1], 1, 1, 2)
    grid = corner.new_empty((*corner.shape[:-1], *out_size, 2))
    torch.addcmul(start.view(lead), _pixel_centres(*out_size, device),
                  step.view(lead), out=grid)
    return grid.clamp_(low.view(lead), high.view(lead))


# --------------------------------------------------------------------------
# ColorJitter


def grayscale(images: Tensor, weights: Sequence[float] = LUMA) -> Tensor:
    """The weighted sum of the RGB channels, one channel kept (dim 1)."""
    weights = constant(tuple(weights), images.device, _channel_shape(images))
    return (images * weights).sum(1, keepdim=True)


def unstack(params: Tensor) -> Tuple[Tensor, ...]:
    """(k, N, ...) stacked per-image parameters to k contiguous (N, ...)."""
    # split_with_sizes: one view per piece (split(n) makes three)
    return params.flatten(0, 1).split([params.shape[1]] * len(params))


def color_jitter(images: Tensor, factors: Tensor, ranks: Tensor,
                 steps: Sequence[str]) -> Tensor:
    """torchvision's ``ColorJitter`` steps, each image with its own factors
    and its own order of the steps, each step clamped to [0, 1].

    Brightness ``f * x``, contrast ``f * x + (1 - f) * mean(gray(x))`` and
    saturation ``f * x + (1 - f) * gray(x)`` (gray: :data:`LUMA`) are one
    blend ``a * x + b * gray(x) + c * mean(gray(x))`` with per-image
    coefficients; hue turns each pixel's HSV hue by its image's factor
    (:func:`adjust_hue`).  With a hue step, the hue runs once, at a fixed
    point, for every image: an image's blends before its hue run in the
    blend slots just before that point, the ones after it just after,
    and its other slots are identity blends (``a = 1, b = c = 0``, exact),
    so m blends and a hue cost 2 m blend slots and one hue.

    Args:
        images: (N, 3, ..., H, W) in [0, 1].
        factors: (len(steps), N, 1, ..., 1): each image's factor per step
            (hue: its shift in turns).
        ranks: (len(steps), N, 1, ..., 1) long: each image's position of
            each step, a permutation of ``range(len(steps))``.
        steps: the steps, a sub-sequence of :data:`JITTER_STEPS`.

    Returns:
        The jittered images, same shape.
    """
    blends = [step for step in steps if step != 'hue']
    count, device = len(blends), images.device
    if count == 0:
        return adjust_hue(images, factors[0]) if steps else images
    shift = None
    if count < len(steps):
        factors, shift = factors.split((count, 1))
        ranks, hue_rank = ranks.split((count, 1))
        # the blends before the hue end at slot count - 1, the ones after
        # it start at slot count
        ranks = torch.where(
            ranks > hue_rank,
            ranks + constant(count - 1, device, dtype=torch.long),
            ranks + constant(count, device, dtype=torch.long)) - hue_rank
    slots = count if shift is None else 2 * count
    shape = (1, ) * (factors.dim() - 1)
    # each blend step's (a, b, c) = e0 + factor * e1
    rows = {'brightness': ((0., 0., 0.), (1., 0., 0.)),
            'contrast': ((0., 0., 1.), (1., 0., -1.)),
            'saturation': ((0., 1., 0.), (1., -1., 0.))}
    e0, e1 = (constant(tuple(rows[step][i] for step in blends), device,
                       (count, 3) + shape) for i in (0, 1))
    coefficients = torch.addcmul(e0, factors.unsqueeze(1), e1)
    identity = constant(((1., 0., 0.), ) * slots, device, (slots, 3) + shape)
    coefficients = identity.expand(slots, 3, *factors.shape[1:]).scatter(
        0, ranks.unsqueeze(1).expand(coefficients.shape), coefficients)
    coefficients = unstack(coefficients.flatten(0, 1))
    for index in range(slots):
        if index == count and shift is not None:
            images = adjust_hue(images, shift[0])
        scale, gray, mean = coefficients[3 * index:3 * index + 3]
        images = _blend(images, scale, gray, mean, blends)
    return images


def _blend(images: Tensor, scale: Tensor, gray: Tensor, mean: Tensor,
           steps: Sequence[str]) -> Tensor:
    """``scale * x + gray * gray(x) + mean * mean(gray(x))``, clamped to
    [0, 1]; the gray terms only where ``steps`` can use them."""
    if 'saturation' not in steps and 'contrast' not in steps:
        return (images * scale).clamp_(0., 1.)
    luma = grayscale(images)
    if 'saturation' in steps:
        target = luma * gray
    else:
        target = constant(0., images.device)
    if 'contrast' in steps:
        pixels = images.shape[-1] * images.shape[-2]
        target = torch.addcmul(target, mean,
                               luma.sum((-2, -1), keepdim=True),
                               value=1. / pixels)
    return torch.addcmul(target, scale, images).clamp_(0., 1.)


def adjust_hue(images: Tensor, shift: Tensor) -> Tensor:
    """torchvision's ``adjust_hue`` per image: each pixel's HSV hue turned
    by ``shift`` turns, its value and saturation kept.

    Written in RGB: with value ``v`` (largest channel), chroma ``C``
    (largest - smallest) and hue ``h`` in sextants (the hexcone's:
    ``2 i + (x[i+1] - x[i+2]) / C`` for the largest channel ``i``), channel
    ``c`` becomes ``v - C * clamp(min(k, 4 - k), 0, 1)`` with
    ``k = (h + 6 shift + (5, 3, 1)[c]) mod 6``: torchvision's HSV -> RGB
    without the HSV image.
    """
    device, shape = images.device, _channel_shape(images)
    value, largest = images.max(1, keepdim=True)
    chroma = value - images.min(1, keepdim=True)[0]
    # (x[c+1] - x[c+2]) for each channel c
    ahead = images.index_select(
        1, constant((1, 2, 0), device, dtype=torch.long)) - \
        images.index_select(1, constant((2, 0, 1), device, dtype=torch.long))
    # a grey pixel (C = 0) has ahead = 0: any hue, the value stays
    hue = torch.addcdiv(constant((0., 2., 4.), device, shape), ahead,
                        chroma.clamp_min(1e-12)).gather(1, largest)
    phase = hue + torch.add(constant((5., 3., 1.), device, shape), shift,
                            alpha=6.)
    phase = phase.remainder_(constant(6., device))
    ramp = torch.minimum(phase, constant(4., device) - phase).clamp_(0., 1.)
    return torch.addcmul(value, chroma, ramp, value=-1.)


# --------------------------------------------------------------------------
# GaussianBlur, Solarize


def gaussian_blur(images: Tensor, sigma: Tensor, size: int) -> Tensor:
    """A Gaussian blur per image (standard deviation ``sigma``, one per
    image, broadcasting like the images), ``size`` taps (odd), separable,
    edge pixels replicated: two depthwise convolutions."""
    radius = size // 2
    device = images.device
    taps = constant(tuple(-t * t / 2. for t in range(-radius, radius + 1)),
                    device)
    kernel = torch.exp(taps / (sigma * sigma))
    kernel = kernel / kernel.sum(-1, keepdim=True)
    height, width = images.shape[-2:]
    channels = images.numel() // (height * width)
    kernel = kernel.expand(*images.shape[:-2], 1, size).reshape(
        channels, 1, 1, size)
    flat = F.pad(images.reshape(1, channels, height, width), (radius, ) * 4,
                 mode='replicate')
    flat = F.conv2d(flat, kernel, groups=channels)
    flat = F.conv2d(flat, kernel.view(channels, 1, size, 1), groups=channels)
    return flat.view(images.shape)


def solarize(images: Tensor, threshold: float) -> Tensor:
    """Values at or above ``threshold`` become ``1 - value``."""
    device = images.device
    return torch.where(images >= constant(threshold, device),
                       constant(1., device) - images, images)
