"""A cosine learning-rate schedule whose phase does not restart at its
``begin`` (SEED's official schedule)."""
import math

from mmengine.optim import CosineAnnealingLR

from ..registry import PARAM_SCHEDULERS


@PARAM_SCHEDULERS.register_module()
class OffsetCosineAnnealingLR(CosineAnnealingLR):
    """MMEngine's ``CosineAnnealingLR`` with the cosine's step at ``begin``
    set by ``offset`` (MMEngine's starts it at 0)::

        lr(s) = eta_min + (lr_0 - eta_min) (1 + cos(pi (s - begin + offset)
                / T_max)) / 2,   begin <= s < end

    from each group's initial lr ``lr_0``.  SEED (official
    ``tools/utils.py`` ``adjust_learning_rate``): ``lr_0`` for epochs 0-4,
    then ``lr_0 (1 + cos(pi e / 200)) / 2`` from epoch 5, i.e. ``begin=5,
    offset=5, T_max=200``, stepped per epoch.  The value comes from
    ``lr_0`` in closed form, so it does not chain with another scheduler
    acting in the same steps.  ``convert_to_iter_based`` scales ``offset``
    with ``begin`` and ``T_max``.

    Args:
        offset: the cosine's step at ``begin`` (same unit as ``begin``).
        Others: as MMEngine's ``CosineAnnealingLR``.
    """

    def __init__(self, optimizer, *args, offset: int = 0, **kwargs):
        if offset < 0:
            raise ValueError(f'OffsetCosineAnnealingLR: offset must be >= 0, '
                             f'got {offset}')
        self.offset = offset
        super().__init__(optimizer, *args, **kwargs)

    @classmethod
    def build_iter_from_epoch(cls, *args, offset: int = 0,
                              epoch_length=None, **kwargs):
        """The iteration-based version; ``offset`` in iterations."""
        return super().build_iter_from_epoch(
            *args, offset=offset * (epoch_length or 0),
            epoch_length=epoch_length, **kwargs)

    def _get_value(self) -> list:
        step = self.last_step + self.offset
        values = []
        for base in self.base_values:
            eta_min = (self.eta_min if self.eta_min_ratio is None else
                       base * self.eta_min_ratio)
            values.append(eta_min + (base - eta_min) *
                          (1 + math.cos(math.pi * step / self.T_max)) / 2)
        return values
