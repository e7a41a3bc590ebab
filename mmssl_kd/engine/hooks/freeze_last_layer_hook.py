"""DINO's frozen last layer during the first epoch(s)."""
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper

from ...registry import HOOKS


@HOOKS.register_module()
class FreezeLastLayerHook(Hook):
    """No update of the student head's last layer (``neck.last_layer``)
    during the first ``epochs`` epochs (DINO's ``freeze_last_layer``: its
    gradients are dropped, so the optimizer, weight decay included, skips
    it).  Its parameters get ``requires_grad=False`` for those epochs; a
    multi-GPU run then needs ``find_unused_parameters = True``.

    Args:
        epochs: epochs with a frozen last layer (DINO: 1).
        module: the attribute path of the layer in the model.
    """

    def __init__(self, epochs: int = 1, module: str = 'neck.last_layer'):
        self.epochs = epochs
        self.module = module
        self._params = None  # the layer's trainable parameters

    def before_train_epoch(self, runner) -> None:
        if self._params is None:
            model = runner.model.module if is_model_wrapper(
                runner.model) else runner.model
            self._params = [p for p in model.get_submodule(
                self.module).parameters() if p.requires_grad]
        for param in self._params:
            param.requires_grad = runner.epoch >= self.epochs
