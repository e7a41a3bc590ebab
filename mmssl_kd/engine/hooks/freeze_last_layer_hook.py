"""DINO's frozen last layer during the first epoch(s)."""
from typing import Optional, Sequence, Union

from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper

from ...registry import HOOKS


@HOOKS.register_module()
class FreezeLastLayerHook(Hook):
    """No update of the heads' last layers during the first ``epochs``
    epochs (DINO's ``freeze_last_layer``: its gradients are dropped, so the
    optimizer, weight decay included, skips it).  Their trainable
    parameters get ``requires_grad=False`` for those epochs; a multi-GPU
    run then needs ``find_unused_parameters = True``.

    Args:
        epochs: epochs with frozen last layers (DINO: 1).
        module: the attribute path(s) of the layer(s) in the model; None
            (default): every submodule called ``last_layer``, as DINO's
            ``cancel_gradients_last_layer`` matches parameter names (the
            DINO head's, GLSD's dense head's, MOKD's T-Heads'; frozen EMA
            teachers have no trainable parameters to touch).
    """

    def __init__(self, epochs: int = 1,
                 module: Optional[Union[str, Sequence[str]]] = None):
        self.epochs = epochs
        self.modules = [module] if isinstance(module, str) else module
        self._params = None  # the layers' trainable parameters

    def _find(self, model) -> list:
        names = self.modules or [
            name for name, _ in model.named_modules()
            if name.rsplit('.', 1)[-1] == 'last_layer']
        if not names:
            raise ValueError(
                f'FreezeLastLayerHook: {type(model).__name__} has no '
                'module called `last_layer`; set `module` to the path of '
                'the layer to freeze, or remove the hook.')
        return [p for name in names
                for p in model.get_submodule(name).parameters()
                if p.requires_grad]

    def before_train_epoch(self, runner) -> None:
        if self._params is None:
            model = runner.model.module if is_model_wrapper(
                runner.model) else runner.model
            self._params = self._find(model)
        for param in self._params:
            param.requires_grad = runner.epoch >= self.epochs
