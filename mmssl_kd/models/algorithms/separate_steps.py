"""Training steps for models made of separately optimised parts (DoGo's
peers, MOKD's CNN and ViT)."""
import contextlib
from typing import Dict, List, Optional, Union

import torch
from mmengine.optim import OptimWrapperDict
from mmpretrain.structures import DataSample


class SeparateStepsMixin:
    """``train_step`` with one optimizer per part, and the ``forward`` of
    such models (``'tensor'``: ``extract_feat``; ``'loss'``: ``loss``).

    The model names its parts in ``optim_parts`` (optimizer key -> child
    module, see :class:`PartsOptimWrapperConstructor`); part m (counted
    from 1 in that order) owns the losses whose names end in ``_m``. One
    forward gives every loss; each optimizer then steps on its own part's
    total. The parts' losses must not send gradients to each other (their
    targets are detached), so the order of the steps does not matter.
    Multi-GPU runs wrap the model with ``MMSeparateDistributedDataParallel``
    (one DDP per child, one backward each).
    """

    def train_step(self, data: Union[dict, tuple, list],
                   optim_wrapper: OptimWrapperDict
                   ) -> Dict[str, torch.Tensor]:
        """One forward, then each optimizer steps on its own part's loss.

        Returns:
            The log variables: ``loss_m`` (part m's total), ``loss`` (their
            sum, for logs only) and every term of :meth:`loss`.
        """
        wrappers = [optim_wrapper[key] for key in self.optim_parts]
        with contextlib.ExitStack() as stack:
            for wrapper in wrappers:
                stack.enter_context(wrapper.optim_context(self))
            data = self.data_preprocessor(data, True)
            losses = self._run_forward(data, mode='loss')
        log_vars = {'loss': 0.}
        for m, wrapper in enumerate(wrappers, start=1):
            total, part_vars = self.parse_losses(
                {k: v for k, v in losses.items() if k.endswith(f'_{m}')})
            part_vars[f'loss_{m}'] = part_vars.pop('loss')
            log_vars.update(part_vars)
            log_vars['loss'] = log_vars['loss'] + part_vars[f'loss_{m}']
            wrapper.update_params(total)
        return log_vars

    def forward(self, inputs: Union[torch.Tensor, List[torch.Tensor]],
                data_samples: Optional[List[DataSample]] = None,
                mode: str = 'tensor'):
        """``'tensor'``: :meth:`extract_feat`; ``'loss'``: :meth:`loss`."""
        if mode == 'tensor':
            return self.extract_feat(inputs)
        if mode == 'loss':
            return self.loss(inputs, data_samples)
        raise RuntimeError(f'{type(self).__name__} has no mode {mode!r}')
