"""How a test gives a loss its teacher temperature.

The one place that knows how a schedule value reaches a loss: today
:class:`DINOLoss` (and :class:`LocalDINOLoss`) read the epoch from the
current MessageHub and map it through their warm-up
(``teacher_temp_at``); when the temperature is passed in as an argument,
only :func:`loss_at_epoch` changes, and the tests that call it do not.
"""
from mmengine.logging import MessageHub

from mmssl_kd.models.losses import teacher_temp_at


def teacher_temp_of(loss_fn, epoch: int) -> float:
    """The teacher temperature ``loss_fn``'s schedule gives at ``epoch``
    (DINO's warm-up: ``np.linspace`` then constant)."""
    return teacher_temp_at(epoch, loss_fn.warmup_teacher_temp,
                           loss_fn.teacher_temp, loss_fn.warmup_epochs)


def loss_at_epoch(loss_fn, epoch: int, *inputs):
    """``loss_fn(*inputs)`` as the Runner calls it at ``epoch``: the loss
    uses the temperature :func:`teacher_temp_of` gives."""
    MessageHub.get_current_instance().update_info('epoch', epoch)
    return loss_fn(*inputs)
