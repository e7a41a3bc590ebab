"""The per-iteration schedules of the methods, as plain functions of the
progress (DINO's ``main_dino.py`` computes them as arrays indexed by the
iteration; these give the same values one at a time)."""
import math


def cosine_schedule(step: int, max_steps: int, start: float,
                    end: float) -> float:
    """``end - (end - start) (cos(pi step / max_steps) + 1) / 2``: ``start``
    at step 0, ``end`` from ``max_steps`` on (DINO's ``cosine_scheduler``
    without warm-up; MMPretrain's ``CosineEMA`` momentum; SDSSL's
    lambda(t) from 0)."""
    annealing = (math.cos(math.pi * min(step / max_steps, 1.)) + 1) / 2
    return end - (end - start) * annealing


def linear_warmup(epoch: int, start: float, end: float,
                  warmup_epochs: int) -> float:
    """DINO's teacher temperature: ``np.linspace(start, end,
    warmup_epochs)`` for the first epochs (so ``end`` is reached at epoch
    ``warmup_epochs - 1``), then ``end``."""
    if epoch >= warmup_epochs:
        return end
    if warmup_epochs == 1:
        return start
    return start + (end - start) * epoch / (warmup_epochs - 1)
