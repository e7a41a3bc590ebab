"""Which teacher token each student token distils from (Global-Local
Self-Distillation, Lebailly and Tuytelaars, WACV 2023, Sec. 3).

Geometric matching: every token of a crop covers a cell of the original
image; a student token takes the teacher token whose cell centre is
nearest to its own, and is masked out when that distance (squared) is not
below the larger of the two cells' squared half-diagonals (the official
``hinge``).  The official code finds the centres by average-pooling a
resized per-pixel coordinate map; here they are computed exactly from the
crop box and flip (the pooled map equals them up to interpolation).
Similarity matching (EsViT) takes the most cosine-similar teacher token,
without a mask.
"""
from typing import Tuple

import torch
import torch.nn.functional as F


def token_centres(boxes: torch.Tensor, flips: torch.Tensor,
                  grid: Tuple[int, int]
                  ) -> Tuple[torch.Tensor, torch.Tensor]:
    """Original-image centres of the tokens of a ``grid`` over each crop.

    Args:
        boxes: (B, 4) crop boxes ``(x0, y0, x1, y1)`` in original pixels.
        flips: (B,) whether the crop was flipped horizontally.
        grid: ``(rows, cols)`` of the output tokens, row-major.

    Returns:
        ``(centres, half_diag_sq)``: (B, rows * cols, 2) ``(x, y)`` centres
        and (B,) squared half-diagonals of one cell.
    """
    rows, cols = grid
    boxes = boxes.float()
    width = (boxes[:, 2] - boxes[:, 0])[:, None]
    height = (boxes[:, 3] - boxes[:, 1])[:, None]
    u = (torch.arange(cols, device=boxes.device) + 0.5) / cols  # (cols,)
    v = (torch.arange(rows, device=boxes.device) + 0.5) / rows
    u = torch.where(flips.bool()[:, None], 1 - u, u)  # (B, cols)
    x = boxes[:, 0:1] + u * width  # (B, cols)
    y = boxes[:, 1:2] + v * height  # (B, rows)
    centres = torch.stack(torch.broadcast_tensors(
        x[:, None, :], y[:, :, None]), dim=-1)  # (B, rows, cols, 2)
    half_diag_sq = ((width / cols) ** 2 + (height / rows) ** 2)[:, 0] / 4
    return centres.flatten(1, 2), half_diag_sq


def geometric_match(student: Tuple[torch.Tensor, torch.Tensor],
                    teacher: Tuple[torch.Tensor, torch.Tensor]
                    ) -> Tuple[torch.Tensor, torch.Tensor]:
    """Nearest teacher token per student token, and the hinge mask.

    Args:
        student: :func:`token_centres` of the student view, (B, Ts, 2) and
            (B,).
        teacher: the same for the teacher view, (B, Tt, 2) and (B,).

    Returns:
        ``(index, mask)``: (B, Ts) indices into the teacher tokens and
        (B, Ts) booleans, True where the pair is close enough to count.
    """
    (pos_s, delta_s), (pos_t, delta_t) = student, teacher
    dist_sq = torch.cdist(pos_s, pos_t) ** 2  # (B, Ts, Tt)
    best, index = dist_sq.min(dim=2)
    mask = best < torch.maximum(delta_s, delta_t)[:, None]
    return index, mask


def similarity_match(student_tokens: torch.Tensor,
                     teacher_tokens: torch.Tensor) -> torch.Tensor:
    """EsViT's matching: the most cosine-similar teacher token.

    Args:
        student_tokens: (B, Ts, C) backbone tokens of the student view.
        teacher_tokens: (B, Tt, C) those of the teacher view.

    Returns:
        (B, Ts) indices into the teacher tokens (no mask).
    """
    sim = F.normalize(student_tokens.float(), dim=-1) @ F.normalize(
        teacher_tokens.float(), dim=-1).transpose(1, 2)
    return sim.argmax(dim=2)
