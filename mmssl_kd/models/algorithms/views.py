"""The view count every algorithm checks first: a pipeline that makes the
wrong number of views otherwise fails deep inside the loss (an index or
reshape error) or, worse, trains on the wrong pairs."""
from typing import Sequence, Union

import torch

Inputs = Union[torch.Tensor, Sequence[torch.Tensor]]


def check_views(algorithm: str, inputs: Inputs, expected: int, fix: str,
                at_least: bool = False) -> None:
    """Raise ``ValueError`` unless ``inputs`` holds ``expected`` views (at
    least that many with ``at_least``), each a (B, C, H, W) batch.

    Without ``MultiView`` in the pipeline the data preprocessor gives one
    3-D image per sample instead of a list of 4-D views; the message says so.

    Args:
        algorithm: the name the message starts with.
        inputs: what the data preprocessor gave the algorithm.
        expected: the number of views needed.
        fix: the pipeline setting that makes them, e.g.
            ``'MultiView(num_views=2)'``.
        at_least: accept more views (multi-crop).
    """
    single = (not isinstance(inputs, (list, tuple))
              or any(view.dim() != 4 for view in inputs))
    count = len(inputs) if isinstance(inputs, (list, tuple)) else 1
    if not single and (count >= expected if at_least else
                       count == expected):
        return
    got = ('one image per sample (the training pipeline has no MultiView)'
           if single else str(count))
    need = f"{'at least ' if at_least else ''}{expected} " \
        f"view{'s' if expected != 1 else ''}"
    raise ValueError(
        f'{algorithm} expects {need} per image, got {got}. Make the views '
        f"in the training pipeline with {fix}, before PackInputs.")


def check_multi_crop(algorithm: str, inputs: Inputs,
                     num_global_crops: int) -> None:
    """:func:`check_views` for DINO-style multi-crop: the global crops the
    teacher sees, then at least one local crop."""
    check_views(
        algorithm, inputs, num_global_crops + 1,
        f'MultiView (or MultiViewWithBoxes) giving the {num_global_crops} '
        'global crops and at least one more (local crops), e.g. '
        f'num_views=[{num_global_crops}, 6]', at_least=True)
