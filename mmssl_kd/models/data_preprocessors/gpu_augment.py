"""Multi-view augmentation on the device, batched, in pure torch.

The CPU recipes make every view in the dataloader (MMPretrain's
``MultiView`` with a pipeline per view group), which caps a 16-core host
near a thousand images/s.  Here the dataloader only decodes (and resizes
to one size, so images batch) and packs ONE uint8 image per sample;
:class:`GPUMultiViewAugment` then draws every view on the device, batched,
with per-sample random parameters.  The view pipelines are written as in
the CPU configs (same transform names and arguments) and translated by one
name table, ``GPU_OPS``, to the project's batched ops (:mod:`.batch_ops`):
a fixed few hundred torch ops per call, none of which waits for the
device (kornia's took thousands, and read values back to the host).
"""
import math
import numbers
from typing import Callable, Dict, List, Optional, Sequence, Tuple, Union

import torch
from torch import Tensor, nn

from mmssl_kd.registry import MODELS
from . import batch_ops
from .self_sup import SelfSupDataPreprocessor

Size = Union[int, Tuple[int, int]]


class _Op(nn.Module):
    """One op of a view pipeline: ``forward(images, u)`` with ``draws``
    uniforms per image; applied to each image with probability ``prob``.
    Its ``extra_repr`` is its configuration without ``prob``: ops with the
    same type and ``extra_repr`` are the same op (views merge on them)."""
    draws = 0

    def __init__(self, prob: float = 1.):
        super().__init__()
        self.prob = float(prob)

    @property
    def key(self) -> Tuple[str, str]:
        """The op's identity up to its probability."""
        return type(self).__name__, self.extra_repr()


class _RandomResizedCrop(_Op):
    """MMPretrain ``RandomResizedCrop`` (:func:`batch_ops.crop_boxes`), then
    one ``grid_sample`` per view batch (:func:`batch_ops.crop_grid`), with
    every flip of the pipeline folded into the grid."""

    def __init__(self, size: Tuple[int, int],
                 crop_ratio_range: Tuple[float, float],
                 aspect_ratio_range: Tuple[float, float], max_attempts: int,
                 interpolation: str):
        super().__init__()
        self.size = size
        self.crop_ratio_range = crop_ratio_range
        self.aspect_ratio_range = aspect_ratio_range
        self.max_attempts = max_attempts
        self.interpolation = interpolation
        self.draws = 2 * max_attempts + 2

    def forward(self, images: Tensor, u: Tensor, flip: Tensor) -> Tensor:
        """(B, 3, H, W) images, (draws, B, 1, V, 1, 1) uniforms and (2, B,
        1, V, 1, 1) flips to (B, 3, V, h, w) views."""
        batch, _, height, width = images.shape
        views = u.shape[3]
        u, flip = u.movedim(0, -1), flip.movedim(0, -1)
        corner, size = batch_ops.crop_boxes(u, height, width,
                                            self.crop_ratio_range,
                                            self.aspect_ratio_range)
        grid = batch_ops.crop_grid(corner, size, flip, height, width,
                                   self.size)
        grid = grid.view(batch, views * self.size[0], self.size[1], 2)
        out = nn.functional.grid_sample(images, grid, self.interpolation,
                                        'border', align_corners=False)
        out = out.view(batch, 3, views, *self.size)
        # bicubic overshoots; the CPU's uint8 views stay in range
        if self.interpolation == 'bicubic':
            out = out.clamp_(0., 1.)
        return out

    def extra_repr(self) -> str:
        return (f'size={self.size}, crop_ratio_range={self.crop_ratio_range}'
                f', aspect_ratio_range={self.aspect_ratio_range}, '
                f'max_attempts={self.max_attempts}, '
                f'interpolation={self.interpolation!r}')


class _RandomFlip(_Op):
    """MMCV ``RandomFlip`` with one direction; folded into the crop's grid
    (every op here commutes with a flip)."""

    def __init__(self, prob: float, direction: str):
        super().__init__(prob)
        self.direction = direction

    def extra_repr(self) -> str:
        return f'direction={self.direction!r}'


class _ColorJitter(_Op):
    """MMPretrain ``ColorJitter``: per image, a factor per step and a random
    order of the steps (:func:`batch_ops.color_jitter`)."""

    def __init__(self, ranges: Dict[str, Tuple[float, float]]):
        super().__init__()
        self.steps = [step for step in batch_ops.JITTER_STEPS
                      if step in ranges]
        self.low = tuple(ranges[step][0] for step in self.steps)
        self.span = tuple(ranges[step][1] - ranges[step][0]
                          for step in self.steps)
        self.draws = 2 * len(self.steps)

    def forward(self, images: Tensor, u: Tensor) -> Tensor:
        u_factor, u_order = u.split([len(self.steps)] * 2)
        device, shape = images.device, (-1, ) + (1, ) * (u.dim() - 1)
        factors = torch.addcmul(batch_ops.constant(self.low, device, shape),
                                u_factor,
                                batch_ops.constant(self.span, device, shape))
        # uniform draws' ranks: a uniformly random permutation per image
        return batch_ops.color_jitter(images, factors, u_order.argsort(0),
                                      self.steps)

    def extra_repr(self) -> str:
        return ', '.join(f'{step}=({low}, {low + span})' for step, low, span
                         in zip(self.steps, self.low, self.span))


class _RandomGrayscale(_Op):
    """MMCV ``RandomGrayscale`` with ``keep_channels``: RGB weights."""

    def __init__(self, prob: float, weights: Tuple[float, float, float]):
        super().__init__(prob)
        self.weights = weights

    def forward(self, images: Tensor, u: Tensor) -> Tensor:
        return batch_ops.grayscale(images, self.weights).expand_as(images)

    def extra_repr(self) -> str:
        return f'weights={self.weights}'


class _GaussianBlur(_Op):
    """MMPretrain ``GaussianBlur``: sigma uniform in [low, high] per image
    (:func:`batch_ops.gaussian_blur`), 2 * ceil(3 * high) + 1 taps."""
    draws = 1

    def __init__(self, prob: float, low: float, high: float):
        super().__init__(prob)
        self.low, self.high = low, high
        self.taps = 2 * math.ceil(3 * high) + 1

    def forward(self, images: Tensor, u: Tensor) -> Tensor:
        device = images.device
        sigma = torch.addcmul(batch_ops.constant(self.low, device), u[0],
                              batch_ops.constant(self.high - self.low,
                                                 device))
        return batch_ops.gaussian_blur(images, sigma, self.taps)

    def extra_repr(self) -> str:
        return f'sigma=({self.low}, {self.high}), taps={self.taps}'


class _Solarize(_Op):
    """MMPretrain ``Solarize`` with the threshold in [0, 1]."""

    def __init__(self, prob: float, threshold: float):
        super().__init__(prob)
        self.threshold = threshold

    def forward(self, images: Tensor, u: Tensor) -> Tensor:
        return batch_ops.solarize(images, self.threshold)

    def extra_repr(self) -> str:
        return f'threshold={self.threshold}'


# --------------------------------------------------------------------------
# One builder per CPU transform, with the CPU transform's own arguments.


def _random_resized_crop(scale: Size,
                         crop_ratio_range: Tuple[float, float] = (0.08, 1.),
                         aspect_ratio_range: Tuple[float, float] = (3. / 4.,
                                                                    4. / 3.),
                         max_attempts: int = 10,
                         interpolation: str = 'bilinear',
                         backend: str = 'cv2') -> _Op:
    """MMPretrain ``RandomResizedCrop``.  ``scale`` is ``(h, w)`` or an int;
    ``backend`` is unused (one batched ``grid_sample``, see the class
    notes)."""
    if interpolation not in ('nearest', 'bilinear', 'bicubic'):
        raise ValueError('RandomResizedCrop on the GPU interpolates nearest, '
                         f'bilinear or bicubic, not {interpolation!r}')
    if max_attempts < 1:
        raise ValueError('RandomResizedCrop needs max_attempts >= 1, got '
                         f'{max_attempts}')
    size = (scale, scale) if isinstance(scale, int) else tuple(scale)
    return _RandomResizedCrop(size, tuple(crop_ratio_range),
                              tuple(aspect_ratio_range), max_attempts,
                              interpolation)


def _random_flip(prob: float, direction: str = 'horizontal') -> _Op:
    """MMCV ``RandomFlip`` with one direction."""
    if direction not in ('horizontal', 'vertical'):
        raise ValueError('RandomFlip on the GPU flips horizontal or vertical '
                         f'(one direction), not {direction!r}')
    return _RandomFlip(prob, direction)


def _random_apply(transforms: Sequence[dict], prob: float = 0.5) -> _Op:
    """MMCV ``RandomApply`` around one transform: that op, applied to each
    sample with probability ``prob`` times its own."""
    if len(transforms) != 1:
        raise ValueError('RandomApply on the GPU wraps exactly one transform, '
                         f'got {len(transforms)}')
    op = build_op(transforms[0])
    op.prob = prob * op.prob
    return op


def _jitter_range(value: Union[float, Sequence[float]], name: str,
                  center: float, bound: Tuple[float, float]
                  ) -> Optional[Tuple[float, float]]:
    """MMPretrain ``ColorJitter``'s factor range: ``center -+ value`` or a
    (min, max), clipped to ``bound``; None for a step that does nothing."""
    if isinstance(value, numbers.Number):
        if value < 0:
            raise ValueError(f'ColorJitter {name} must be non-negative, got '
                             f'{value}')
        value = (center - value, center + value)
    if len(value) != 2:
        raise TypeError(f'ColorJitter {name} is a number or a (min, max), '
                        f'got {value!r}')
    low, high = (min(max(float(v), bound[0]), bound[1]) for v in value)
    return None if low == high == center else (low, high)


def _color_jitter(brightness: Union[float, Sequence[float]] = 0.,
                  contrast: Union[float, Sequence[float]] = 0.,
                  saturation: Union[float, Sequence[float]] = 0.,
                  hue: Union[float, Sequence[float]] = 0.,
                  backend: str = 'pillow') -> _Op:
    """MMPretrain ``ColorJitter`` (torchvision's formulas), ``backend``
    unused."""
    ranges = dict(
        brightness=_jitter_range(brightness, 'brightness', 1., (0, math.inf)),
        contrast=_jitter_range(contrast, 'contrast', 1., (0, math.inf)),
        saturation=_jitter_range(saturation, 'saturation', 1.,
                                 (0, math.inf)),
        hue=_jitter_range(hue, 'hue', 0., (-.5, .5)))
    return _ColorJitter({step: r for step, r in ranges.items() if r})


def _random_grayscale(prob: float = 0.1, keep_channels: bool = False,
                      channel_weights: Sequence[float] = (1., 1., 1.),
                      color_format: str = 'bgr') -> _Op:
    """MMCV ``RandomGrayscale``: the weights, given in ``color_format``'s
    channel order, are normalised to sum 1 (as MMCV does) and applied to
    the RGB views."""
    if not keep_channels:
        raise ValueError('RandomGrayscale on the GPU needs keep_channels=True '
                         '(every view keeps 3 channels)')
    if color_format not in ('bgr', 'rgb'):
        raise ValueError('RandomGrayscale on the GPU takes weights in bgr or '
                         f'rgb order, not {color_format!r}')
    weights = [w / sum(channel_weights) for w in channel_weights]
    if color_format == 'bgr':
        weights = weights[::-1]
    return _RandomGrayscale(prob, tuple(weights))


def _gaussian_blur(radius: Optional[float] = None, prob: float = 0.5,
                   magnitude_level: float = 10,
                   magnitude_range: Optional[Tuple[float, float]] = None,
                   magnitude_std: Union[str, float] = 0.,
                   total_level: float = 10) -> _Op:
    """MMPretrain ``GaussianBlur``: Pillow's blur with standard deviation
    ``radius``, or one drawn uniformly from ``magnitude_range`` (with
    ``magnitude_std='inf'``), per sample.  The kernel spans +-3 sigma of
    the largest sigma, and the border replicates edge pixels, as Pillow's
    does."""
    if (radius is None) == (magnitude_range is None):
        raise ValueError('GaussianBlur needs one of radius and '
                         'magnitude_range')
    if radius is not None:
        low = high = float(radius)
    else:
        if magnitude_std not in ('inf', 0):
            raise ValueError("GaussianBlur on the GPU takes magnitude_std "
                             f"'inf' or 0, not {magnitude_std!r}")
        start, stop = magnitude_range
        high = start + magnitude_level / total_level * (stop - start)
        low = start if magnitude_std == 'inf' else high
    if min(low, high) <= 0:
        raise ValueError('GaussianBlur on the GPU needs a positive sigma, got '
                         f'the range ({low}, {high})')
    return _GaussianBlur(prob, low, high)


def _solarize(thr: float, prob: float = 0.5) -> _Op:
    """MMPretrain ``Solarize``: a pixel at or above ``thr`` (0-255) becomes
    ``255 - pixel``.  The CPU compares rounded uint8 values, so in [0, 1]
    the threshold is ``(thr - 0.5) / 255``: the same pixels for integer
    inputs, and the rounding's boundary for jittered ones."""
    return _Solarize(prob, (thr - 0.5) / 255.)


# The CPU transform names a view pipeline may use, and their GPU builders.
GPU_OPS: Dict[str, Callable[..., _Op]] = {
    'RandomResizedCrop': _random_resized_crop,
    'RandomFlip': _random_flip,
    'RandomApply': _random_apply,
    'ColorJitter': _color_jitter,
    'RandomGrayscale': _random_grayscale,
    'GaussianBlur': _gaussian_blur,
    'Solarize': _solarize,
}


def build_op(cfg: dict) -> _Op:
    """The GPU op for one CPU transform config (``dict(type=..., ...)``)."""
    args = dict(cfg)
    name = args.pop('type')
    if name not in GPU_OPS:
        raise ValueError(
            f'GPUMultiViewAugment has no GPU version of transform {name!r}; '
            f'supported: {", ".join(GPU_OPS)}')
    try:
        return GPU_OPS[name](**args)
    except TypeError as err:
        raise TypeError(f'{name} on the GPU: {err}') from err


def _compile(pipeline: Sequence[dict]
             ) -> Tuple[_RandomResizedCrop, Tuple[float, float], List[_Op]]:
    """One view pipeline's crop, the probabilities that the view is flipped
    horizontally and vertically (its flips, composed), and its other ops."""
    crop, *rest = (build_op(cfg) for cfg in pipeline)
    if not isinstance(crop, _RandomResizedCrop) or crop.prob != 1:
        raise ValueError(
            'GPUMultiViewAugment: every view pipeline starts with '
            'RandomResizedCrop (each view is cut from the one image, and the '
            f"crop sets its size), not {pipeline[0]['type']!r}: put "
            'RandomResizedCrop first')
    flips = dict(horizontal=0., vertical=0.)
    ops = []
    for op in rest:
        if isinstance(op, _RandomResizedCrop):
            raise ValueError('a view pipeline has one RandomResizedCrop, '
                             'its first transform')
        if isinstance(op, _RandomFlip):
            # two independent flips: flipped if exactly one happens
            p = flips[op.direction]
            flips[op.direction] = p + op.prob - 2 * p * op.prob
        else:
            ops.append(op)
    return crop, (flips['horizontal'], flips['vertical']), ops


def _embedding(short: Sequence, long: Sequence) -> Optional[List[int]]:
    """Where ``short``'s items sit in ``long``, if it is a sub-sequence."""
    positions: List[int] = []
    for item in short:
        start = positions[-1] + 1 if positions else 0
        if item not in long[start:]:
            return None
        positions.append(long.index(item, start))
    return positions


class _ViewBatch(nn.Module):
    """Views made together, as one batch of (images x views) samples: one
    crop, one op sequence, each op applied to each view with that view's
    probability (0 for an op its pipeline lacks).

    Args:
        crop: the views' crop.
        ops: the op sequence.
        probs: per view, each op's probability.
        flips: per view, its (horizontal, vertical) flip probabilities.
        views: the views' positions in the preprocessor's output.
    """

    def __init__(self, crop: _RandomResizedCrop, ops: Sequence[_Op],
                 probs: Sequence[Sequence[float]],
                 flips: Sequence[Tuple[float, float]], views: Sequence[int]):
        super().__init__()
        self.crop = crop
        self.ops = nn.ModuleList(ops)
        self.views = list(views)
        self._table = dict(probs=[list(p) for p in probs], flips=list(flips))
        self.masked = [any(p[i] < 1 for p in probs) for i in range(len(ops))]
        # (k, 1, 1, V, 1, 1): k probabilities per view
        masked = [[p for p, m in zip(view, self.masked) if m]
                  for view in probs]
        for name, table in (('probs', masked), ('flip_probs', flips)):
            table = torch.tensor(table).view(len(self.views), -1).T
            self.register_buffer(
                name, table.reshape(len(table), 1, 1, len(self.views), 1, 1),
                False)
        self.splits = [crop.draws, 2] + [op.draws for op in ops] + \
            [sum(self.masked)]
        self.draws = sum(self.splits)

    def forward(self, images: Tensor,
                generator: Optional[torch.Generator]) -> Tensor:
        """(B, 3, H, W) images in [0, 1] to their (B, 3, V, h, w) views."""
        # every uniform of the batch: (draws, B, 1, V, 1, 1)
        u = torch.rand(self.draws, images.shape[0], 1, len(self.views), 1,
                       1, generator=generator, device=images.device)
        u_crop, u_flip, *u_ops, u_mask = u.split(self.splits)
        masks = iter(batch_ops.unstack(u_mask < self.probs))
        views = self.crop(images, u_crop, u_flip < self.flip_probs)
        for op, u_op, masked in zip(self.ops, u_ops, self.masked):
            out = op(views, u_op)
            views = torch.where(next(masks), out, views) if masked else out
        return views

    def extra_repr(self) -> str:
        return (f'views={self.views}, probs={self._table["probs"]}, '
                f'flips={self._table["flips"]}')


class _Plan:
    """A view batch being planned: its crop and op sequence, and per view
    the ops' probabilities and the flips."""

    def __init__(self, crop: _RandomResizedCrop):
        self.crop = crop
        self.ops: List[_Op] = []
        self.probs: List[List[float]] = []
        self.flips: List[Tuple[float, float]] = []
        self.views: List[int] = []

    def add(self, crop: _RandomResizedCrop, flips: Tuple[float, float],
            ops: List[_Op], views: List[int]) -> bool:
        """Take the views of one pipeline if they fit: the same crop, and
        either op sequence a sub-sequence of the other (the ops the shorter
        lacks get probability 0)."""
        if crop.key != self.crop.key:
            return False
        keys, own = [op.key for op in ops], [op.prob for op in ops]
        planned = [op.key for op in self.ops]
        inside, around = _embedding(keys, planned), _embedding(planned, keys)
        if inside is not None:
            probs = _spread(own, inside, len(planned))
        elif around is not None:
            self.probs = [_spread(p, around, len(keys)) for p in self.probs]
            self.ops, probs = ops, own
        else:
            return False
        self.probs += [probs] * len(views)
        self.flips += [flips] * len(views)
        self.views += views
        return True

    def build(self) -> _ViewBatch:
        return _ViewBatch(self.crop, self.ops, self.probs, self.flips,
                          self.views)


def _spread(probs: List[float], positions: List[int],
            length: int) -> List[float]:
    """``probs`` at ``positions`` of a list of ``length``, 0 elsewhere."""
    spread = [0.] * length
    for position, prob in zip(positions, probs):
        spread[position] = prob
    return spread


def _view_batches(pipelines: Sequence[Sequence[dict]],
                  num_views: Sequence[int]) -> List[_ViewBatch]:
    """Every group's views, in batches: a group joins the first planned
    batch it fits (:meth:`_Plan.add`), or starts one."""
    plans: List[_Plan] = []
    first = 0
    for pipeline, count in zip(pipelines, num_views):
        crop, flips, ops = _compile(pipeline)
        views = list(range(first, first + count))
        first += count
        if not any(plan.add(crop, flips, ops, views) for plan in plans):
            plans.append(_Plan(crop))
            plans[-1].add(crop, flips, ops, views)
    return [plan.build() for plan in plans]


def _swap_rb(images: Tensor, dim: int) -> Tensor:
    """BGR <-> RGB along ``dim`` (a gather: ``flip`` costs twice the ops)."""
    return images.index_select(
        dim, batch_ops.constant((2, 1, 0), images.device, dtype=torch.long))


@MODELS.register_module()
class GPUMultiViewAugment(SelfSupDataPreprocessor):
    """:class:`SelfSupDataPreprocessor` that makes the views itself, on the
    device: MMPretrain's ``MultiView(num_views, transforms)`` moved from
    the dataloader into the model.

    Training input: ONE uint8 (B, 3, H, W) image batch (``data['inputs']``
    a tensor or a one-element list; train pipeline ``LoadImageFromFile``
    [+ a fixed-size ``Resize``] + ``PackInputs``).  For each view group,
    ``num_views[g]`` views, each with its own per-sample random parameters.
    Output as the parent's for a ``MultiView`` batch: ``inputs`` is the
    list of (B, 3, h, w) normalised float views, groups in order,
    ``data_samples`` untouched.  Not training (the kNN monitor's single
    images): exactly the parent.

    Randomness: every random number is drawn on the batch's device.  If the
    batch holds an integer ``data['aug_seed']``, from this module's own
    generator seeded with it (the same seed gives the same views, and
    torch's global generators are not touched); else from torch's default
    generator for the device (so ``set_random_seed`` repeats them).

    The ops run on RGB values in [0, 1]: the batch is taken to be BGR
    (MMCV's loading order, the order MMCV's colour transforms assume)
    unless ``rgb_to_bgr`` is set, and is normalised at the end as the
    parent's ``normalize`` does (0-255 mean and std, channel conversion).

    Differences from the CPU pipeline (each op follows MMPretrain's or
    torchvision's formulas per sample, :mod:`.batch_ops`):

    - float all the way; the CPU goes back to uint8 after every op, and
      its Pillow colour blends and its grayscale truncate, so its views
      are about half a grey level darker per colour step;
    - ``RandomResizedCrop``: MMPretrain's boxes, resized by one
      ``grid_sample`` on the half-pixel grid and within the box, as cv2 and
      Pillow resize the cropped image, but without antialiasing when a crop
      shrinks (only ImageNet crops larger than the view), and with torch's
      bicubic (a = -0.75, Pillow's -0.5; its outer taps read the pixels
      beyond the box, which the CPU's crop replaces by its edge);
      ``backend`` is ignored; flips are folded into the crop's grid (every
      op here commutes with a flip: the same views);
    - ``ColorJitter``: torchvision's tensor formulas, where the CPU's
      Pillow enhancers and Pillow's 8-bit HSV round; per-image factors and
      a per-image order of the steps, as on the CPU;
    - ``GaussianBlur``: a true Gaussian (2 * ceil(3 sigma_max) + 1 taps,
      replicated border) where Pillow approximates one with box blurs;
    - no crop boxes: an algorithm that needs them (GLSD with
      ``matching='geometric'``) cannot use this path.

    Views whose pipelines share the crop and the op sequence run as one
    batch (``batches``: CIFAR's two views one, DINO's ten two), every
    random number drawn in one ``torch.rand`` per batch: a few hundred
    torch ops per call whatever the batch size, none reading a value back.

    Args:
        num_views: views per group, as ``MultiView``'s (an int: one group).
        transforms: one pipeline (list of transform configs) per group,
            written with the CPU names and arguments; each starts with
            ``RandomResizedCrop`` (it sets the view's size) and may use the
            types in ``GPU_OPS``.
        mean, std, to_rgb, bgr_to_rgb, rgb_to_bgr, non_blocking: as
            :class:`SelfSupDataPreprocessor`.
    """

    def __init__(self,
                 num_views: Union[int, Sequence[int]],
                 transforms: Sequence[Sequence[dict]],
                 mean: Optional[Sequence[Union[float, int]]] = None,
                 std: Optional[Sequence[Union[float, int]]] = None,
                 to_rgb: bool = False,
                 bgr_to_rgb: bool = False,
                 rgb_to_bgr: bool = False,
                 non_blocking: bool = True):
        super().__init__(mean=mean, std=std, to_rgb=to_rgb,
                         bgr_to_rgb=bgr_to_rgb, rgb_to_bgr=rgb_to_bgr,
                         non_blocking=non_blocking)
        num_views = [num_views] if isinstance(num_views, int) else num_views
        if len(num_views) != len(transforms):
            raise ValueError(f'{len(num_views)} view counts for '
                             f'{len(transforms)} view pipelines')
        if not all(transforms):
            raise ValueError('every view pipeline needs at least one '
                             'transform (its first sets the view size)')
        self.num_views: List[int] = list(num_views)
        self.batches = nn.ModuleList(_view_batches(transforms, num_views))
        self._bgr_input = not rgb_to_bgr
        # the views are RGB; the parent's output order is the input's,
        # swapped by its channel conversion
        self._flip_output = self._bgr_input != self._channel_conversion
        if self._enable_normalize:
            scale, shift = 255. / self.std, -self.mean / self.std
        else:
            scale, shift = torch.full((3, 1, 1), 255.), torch.zeros(3, 1, 1)
        self.register_buffer('_scale', scale, False)
        self.register_buffer('_shift', shift, False)
        self._generators: Dict[torch.device, torch.Generator] = {}

    def _generator(self, seed: object,
                   device: torch.device) -> Optional[torch.Generator]:
        """This module's generator on ``device`` seeded with ``seed``, or
        None (torch's default generator) if there is no seed."""
        if seed is None:
            return None
        if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
            raise TypeError('GPUMultiViewAugment takes an int aug_seed, got '
                            f'{type(seed).__name__} {seed!r}')
        if device not in self._generators:
            self._generators[device] = torch.Generator(device)
        return self._generators[device].manual_seed(int(seed))

    def _normalize(self, views: Tensor) -> Tensor:
        """(B, 3, V, h, w) RGB views in [0, 1] to the parent's normalised
        float views, (V, B, 3, h, w) and contiguous."""
        views = views.permute(2, 0, 1, 3, 4)
        if self._flip_output:
            views = _swap_rb(views, 2)
        return torch.addcmul(self._shift, views, self._scale,
                             out=views.new_empty(views.shape))

    def forward(self, data: dict, training: bool = False) -> dict:
        """Training: every group's views from the one image batch."""
        if not training:
            return super().forward(data, training)
        images = data['inputs']
        if isinstance(images, (list, tuple)):
            if len(images) != 1:
                raise ValueError(
                    f'GPUMultiViewAugment takes one image per sample, got '
                    f'{len(images)} views: drop MultiView from the train '
                    'pipeline (the views are made here)')
            images = images[0]
        if images.dtype != torch.uint8 or images.dim() != 4 or \
                images.shape[1] != 3:
            raise ValueError('GPUMultiViewAugment takes a uint8 (B, 3, H, W) '
                             f'batch, got {images.dtype} '
                             f'{tuple(images.shape)}')
        images = self.cast_data(images)
        generator = self._generator(data.get('aug_seed'), images.device)
        if self._bgr_input:
            images = _swap_rb(images, 1)
        rgb = images * batch_ops.constant(1. / 255., images.device)
        views: List[Optional[Tensor]] = [None] * sum(self.num_views)
        for batch in self.batches:
            made = self._normalize(batch(rgb, generator)).unbind(0)
            for index, view in zip(batch.views, made):
                views[index] = view
        return dict(inputs=views, data_samples=data.get('data_samples'))
