"""How a test gives a loss its teacher temperature.

The one place that knows how a schedule value reaches a loss: the
algorithm computes this step's value from the loss's warm-up
(``DINOLoss.teacher_temp_at``) and passes it to the loss as an argument,
as :func:`loss_at_epoch` does.
"""


def teacher_temp_of(loss_fn, epoch: int) -> float:
    """The teacher temperature ``loss_fn``'s schedule gives at ``epoch``
    (DINO's warm-up: ``np.linspace`` then constant)."""
    return loss_fn.teacher_temp_at(epoch)


def loss_at_epoch(loss_fn, epoch: int, *inputs):
    """``loss_fn(*inputs)`` as an algorithm calls it at ``epoch``: with the
    temperature :func:`teacher_temp_of` gives."""
    return loss_fn(*inputs, teacher_temp_of(loss_fn, epoch))
