"""Multi-view augmentation on the device, batched, with kornia.

The CPU recipes make every view in the dataloader (MMPretrain's
``MultiView`` with a pipeline per view group), which caps a 16-core host
near a thousand images/s.  Here the dataloader only decodes (and resizes
to one size, so images batch) and packs ONE uint8 image per sample;
:class:`GPUMultiViewAugment` then draws every view on the device, batched,
with per-sample random parameters.  The view pipelines are written as in
the CPU configs (same transform names and arguments) and translated to
``kornia.augmentation`` ops by one name table, ``KORNIA_OPS``.

Needs kornia (``requirements/optional.txt``); it is imported only when a
``GPUMultiViewAugment`` is built.
"""
import math
from typing import Callable, Dict, List, Optional, Sequence, Tuple, Union

import torch
from torch import nn

from mmssl_kd.registry import MODELS
from .self_sup import SelfSupDataPreprocessor

Size = Union[int, Tuple[int, int]]


def _kornia_augmentation():
    """``kornia.augmentation``, or an ImportError that says what to install."""
    try:
        import kornia.augmentation
    except ImportError as err:
        raise ImportError(
            'GPUMultiViewAugment needs kornia: pip install kornia '
            '(requirements/optional.txt pins the tested version)') from err
    return kornia.augmentation


# --------------------------------------------------------------------------
# One builder per CPU transform, with the CPU transform's own arguments.


def _random_resized_crop(scale: Size,
                         crop_ratio_range: Tuple[float, float] = (0.08, 1.),
                         aspect_ratio_range: Tuple[float, float] = (3. / 4.,
                                                                    4. / 3.),
                         max_attempts: int = 10,
                         interpolation: str = 'bilinear',
                         backend: str = 'cv2') -> nn.Module:
    """MMPretrain ``RandomResizedCrop``: area fraction uniform in
    ``crop_ratio_range``, log-uniform aspect ratio, ten tries per image,
    then a fallback crop (kornia places it at a random position, MMPretrain
    centres it).  ``scale`` is ``(h, w)`` or an int; ``backend`` is unused
    (one batched ``grid_sample`` on the device, see the class notes)."""
    if max_attempts != 10:
        raise ValueError('RandomResizedCrop on the GPU always makes 10 '
                         f'attempts (kornia), got max_attempts={max_attempts}')
    if interpolation not in ('nearest', 'bilinear', 'bicubic'):
        raise ValueError('RandomResizedCrop on the GPU interpolates nearest, '
                         f'bilinear or bicubic, not {interpolation!r}')
    size = (scale, scale) if isinstance(scale, int) else tuple(scale)
    return _kornia_augmentation().RandomResizedCrop(
        size, scale=tuple(crop_ratio_range), ratio=tuple(aspect_ratio_range),
        resample=interpolation, align_corners=False,
        cropping_mode='resample')


def _random_flip(prob: float, direction: str = 'horizontal') -> nn.Module:
    """MMCV ``RandomFlip`` with one direction."""
    K = _kornia_augmentation()
    flips = dict(horizontal=K.RandomHorizontalFlip,
                 vertical=K.RandomVerticalFlip)
    if direction not in flips:
        raise ValueError('RandomFlip on the GPU flips horizontal or vertical '
                         f'(one direction), not {direction!r}')
    return flips[direction](p=prob)


def _random_apply(transforms: Sequence[dict], prob: float = 0.5
                  ) -> nn.Module:
    """MMCV ``RandomApply`` around one transform: that op, applied to each
    sample with probability ``prob`` times its own."""
    if len(transforms) != 1:
        raise ValueError('RandomApply on the GPU wraps exactly one transform, '
                         f'got {len(transforms)}')
    op = build_kornia_op(transforms[0])
    op.p = prob * op.p
    return op


def _color_jitter(brightness: float = 0., contrast: float = 0.,
                  saturation: float = 0., hue: float = 0.,
                  backend: str = 'pillow') -> nn.Module:
    """MMPretrain ``ColorJitter`` (torchvision's formulas): kornia's
    ``ColorJitter``, which draws one order of the four steps per call."""
    return _kornia_augmentation().ColorJitter(
        brightness=brightness, contrast=contrast, saturation=saturation,
        hue=hue, p=1.)


def _random_grayscale(prob: float = 0.1, keep_channels: bool = False,
                      channel_weights: Sequence[float] = (1., 1., 1.),
                      color_format: str = 'bgr') -> nn.Module:
    """MMCV ``RandomGrayscale``: the weights, given in ``color_format``'s
    channel order, are normalised to sum 1 (as MMCV does) and applied to
    the RGB views."""
    if not keep_channels:
        raise ValueError('RandomGrayscale on the GPU needs keep_channels=True '
                         '(every view keeps 3 channels)')
    if color_format not in ('bgr', 'rgb'):
        raise ValueError('RandomGrayscale on the GPU takes weights in bgr or '
                         f'rgb order, not {color_format!r}')
    weights = torch.tensor(channel_weights, dtype=torch.float32)
    weights = weights / weights.sum()
    if color_format == 'bgr':
        weights = weights.flip(0)
    return _kornia_augmentation().RandomGrayscale(rgb_weights=weights,
                                                  p=prob)


def _gaussian_blur(radius: Optional[float] = None, prob: float = 0.5,
                   magnitude_level: float = 10,
                   magnitude_range: Optional[Tuple[float, float]] = None,
                   magnitude_std: Union[str, float] = 0.,
                   total_level: float = 10) -> nn.Module:
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
    kernel = 2 * math.ceil(3 * high) + 1
    return _kornia_augmentation().RandomGaussianBlur(
        (kernel, kernel), (low, high), border_type='replicate', p=prob)


def _solarize(thr: float, prob: float = 0.5) -> nn.Module:
    """MMPretrain ``Solarize``: a pixel at or above ``thr`` (0-255) becomes
    ``255 - pixel``.  The CPU compares rounded uint8 values, so in [0, 1]
    the threshold is ``(thr - 0.5) / 255``: the same pixels for integer
    inputs, and the rounding's boundary for jittered ones."""
    threshold = (thr - 0.5) / 255.
    return _kornia_augmentation().RandomSolarize(
        thresholds=(threshold, threshold), additions=(0., 0.), p=prob)


# The CPU transform names a view pipeline may use, and their GPU builders.
KORNIA_OPS: Dict[str, Callable[..., nn.Module]] = {
    'RandomResizedCrop': _random_resized_crop,
    'RandomFlip': _random_flip,
    'RandomApply': _random_apply,
    'ColorJitter': _color_jitter,
    'RandomGrayscale': _random_grayscale,
    'GaussianBlur': _gaussian_blur,
    'Solarize': _solarize,
}


def build_kornia_op(cfg: dict) -> nn.Module:
    """The kornia op for one CPU transform config (``dict(type=..., ...)``)."""
    args = dict(cfg)
    name = args.pop('type')
    if name not in KORNIA_OPS:
        raise ValueError(
            f'GPUMultiViewAugment has no GPU version of transform {name!r}; '
            f'supported: {", ".join(KORNIA_OPS)}')
    try:
        return KORNIA_OPS[name](**args)
    except TypeError as err:
        raise TypeError(f'{name} on the GPU: {err}') from err


@MODELS.register_module()
class GPUMultiViewAugment(SelfSupDataPreprocessor):
    """:class:`SelfSupDataPreprocessor` that makes the views itself, on the
    device: MMPretrain's ``MultiView(num_views, transforms)`` moved from
    the dataloader into the model.

    Training input: ONE uint8 (B, 3, H, W) image batch (``data['inputs']``
    a tensor or a one-element list; train pipeline ``LoadImageFromFile``
    [+ a fixed-size ``Resize``] + ``PackInputs``).  For each view group,
    ``num_views[g]`` views, each with its own per-sample random parameters,
    drawn from torch's global generator on the device (so
    ``set_random_seed`` repeats them).  Output as the parent's for a
    ``MultiView`` batch: ``inputs`` is the list of (B, 3, h, w) normalised
    float views, groups in order, ``data_samples`` untouched.  Not training
    (the kNN monitor's single images): exactly the parent.

    The ops run on RGB values in [0, 1]: the batch is taken to be BGR
    (MMCV's loading order, the order MMCV's colour transforms assume)
    unless ``rgb_to_bgr`` is set, and is normalised at the end with the
    parent's ``normalize`` (0-255 mean and std, channel conversion).

    Differences from the CPU pipeline:

    - float all the way; the CPU goes back to uint8 after every op, and
      its Pillow colour blends and its grayscale truncate, so its views
      are about half a grey level darker per colour step;
    - ``RandomResizedCrop``: kornia's crop resamples (one batched
      ``grid_sample``) mapping the crop's corner pixel centres onto the
      output's, where Pillow/OpenCV resize on the half-pixel grid (a w-px
      crop to W px is magnified w(W-1)/((w-1)W) times more: 1.08 for 10 to
      32 px); it does not antialias when shrinking, and its bicubic is
      torch's (a = -0.75, Pillow's a = -0.5); the fallback crop (no try
      fits) is placed at random, not centred; ``backend`` is ignored;
    - ``ColorJitter``: one order of the four steps per view group and
      batch (kornia draws it per call, on the host generator), where the
      CPU draws one per image; hue is shifted exactly, not on OpenCV's
      256-step hue circle;
    - ``GaussianBlur``: a true Gaussian (kernel 2 * ceil(3 sigma_max) + 1,
      replicated border) where Pillow approximates one with box blurs;
    - every op after a group's first one runs once on all the group's
      views together (one kornia call per op and group), which changes only
      the colour-jitter order sharing above;
    - no crop boxes: an algorithm that needs them (GLSD with
      ``matching='geometric'``) cannot use this path.

    Args:
        num_views: views per group, as ``MultiView``'s (an int: one group).
        transforms: one pipeline (list of transform configs) per group,
            written with the CPU names and arguments; each starts with the
            op that sets the view's size (in practice ``RandomResizedCrop``)
            and may use the types in ``KORNIA_OPS``.
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
        self.pipelines = nn.ModuleList(
            nn.ModuleList(build_kornia_op(cfg) for cfg in pipeline)
            for pipeline in transforms)
        self._bgr_input = not rgb_to_bgr

    def _swap_rb(self, images: torch.Tensor) -> torch.Tensor:
        """BGR <-> RGB if the batch is BGR."""
        return images.flip(1) if self._bgr_input else images

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
        rgb = self._swap_rb(self.cast_data(images)).float().div_(255.)
        views: List[torch.Tensor] = []
        for count, pipeline in zip(self.num_views, self.pipelines):
            first, *rest = pipeline
            # values stay in [0, 1], as the CPU's uint8 (bicubic overshoots)
            group = torch.cat([first(rgb).clamp_(0., 1.)
                               for _ in range(count)])
            for op in rest:
                group = op(group)
            group = self.normalize(self._swap_rb(group).mul_(255.))
            views.extend(group.chunk(count))
        return dict(inputs=views, data_samples=data.get('data_samples'))
