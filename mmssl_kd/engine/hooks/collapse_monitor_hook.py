"""Collapse monitor: are the embeddings, and the teacher's outputs, still
different for different images?"""
import math
from typing import Dict, List, Optional, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from torch.utils.hooks import RemovableHandle

from ...models.losses import SimilarityDistillationLoss
from ...registry import HOOKS


def embedding_std(z: torch.Tensor) -> float:
    """SimSiam's collapse measure (Chen and He, CVPR 2021, Sec. 4.1): the
    per-dimension standard deviation over the batch of the L2-normalised
    (N, d) embeddings, averaged over the d dimensions.  0 when every image
    gets the same embedding; about ``1 / sqrt(d)`` when the directions are
    spread out like isotropic Gaussian ones."""
    return F.normalize(z.float(), dim=1).std(dim=0).mean().item()


def entropies(probs: torch.Tensor) -> Tuple[float, float]:
    """``(mean entropy, entropy of the mean)`` of (N, K) distributions, in
    nats: the mean over rows of each row's entropy, and the entropy of the
    mean row (DINO, Caron et al., ICCV 2021, Sec. 5.3 and Fig. 7).

    A collapse to the uniform distribution gives ``log K`` for both, a
    collapse to one output (the same one-hot row for every image) 0 for
    both; a healthy teacher is sharp per image (low mean entropy) and
    picks different outputs for different images (high entropy of the
    mean).
    """
    probs = probs.float()
    mean_entropy = torch.special.entr(probs).sum(dim=-1).mean()
    entropy_of_mean = torch.special.entr(probs.mean(dim=0)).sum()
    return mean_entropy.item(), entropy_of_mean.item()


@HOOKS.register_module()
class CollapseMonitorHook(Hook):
    """Log collapse measures every ``interval`` iterations, and warn (at most
    once per ``warn_interval`` iterations per measure) when they show one.

    Enable it in a config with::

        custom_hooks = [..., dict(type='CollapseMonitorHook')]

    Logged beside the losses (``train/collapse/...`` in the message hub, so
    in the log lines and ``vis_data/scalars.json``), from the first forward
    of each monitored iteration on this process's batch:

    - ``collapse/std``: :func:`embedding_std` of the output of ``module``
      (the student's projection; its last dimension is the embedding).
      Warns when below ``std_threshold / sqrt(d)``.  0.1 sits an order of
      magnitude under the healthy value and well above the ~1e-4 of a
      collapsed network (SimSiam, Fig. 2), and the recipes' randomly
      initialised heads start above it.
    - ``collapse/teacher_entropy`` and ``collapse/teacher_entropy_of_mean``
      (:func:`entropies`): the target distribution of the model's
      :class:`SimilarityDistillationLoss` (``distribution``), i.e.
      ``softmax((t - c) / tau_T)`` of the teacher logits ``t`` it is given:
      DINO's, GLSD's and MOKD's teacher outputs over the prototypes, SEED's
      teacher similarities over ``[itself, queue]``, DoGo's peer
      similarities.  When the loss is given a centre (the prototype
      distributions of DINO, GLSD, MOKD), it warns for a collapse to the
      uniform distribution (mean entropy above ``uniform_threshold * log
      K``: DINO with centring but no sharpening ends at ``log K``) and for
      a collapse to one output (entropy of the mean below
      ``one_output_threshold * log min(N, K)``: N different one-hot rows
      give ``log N``, N equal ones 0; DINO with sharpening but no centring
      ends there).  The similarity distributions are logged only: SEED's
      rows all peak at their first column (the image itself), so their
      entropy of the mean is small in a healthy run.
    - ``collapse/center_norm``: the norm of the centre given to that loss
      (DINO's ``center``).  Logged only: its scale is that of the head's
      logits, so no threshold fits every head; a centre that keeps growing
      while ``teacher_entropy_of_mean`` falls is one output taking over.

    Each process measures its own batch; the model is unwrapped from its
    DDP wrapper with ``is_model_wrapper``.

    Args:
        interval: iterations between measurements.
        module: attribute path of the module whose output is the student
            embedding (default ``'neck'``, the projection head of every
            algorithm here and in MMPretrain).
        distribution: attribute path of the :class:`SimilarityDistillationLoss`
            whose teacher target is monitored; ``'auto'``: the model's first
            one (e.g. MOKD's CNN self-distillation loss; its ViT's is
            ``'losses.mlp_2.criterion'``); None: none.
        std_threshold: warn when ``collapse/std < std_threshold / sqrt(d)``.
        uniform_threshold: see above (fraction of ``log K``).
        one_output_threshold: see above (fraction of ``log min(N, K)``).
        warn_interval: iterations between two warnings about one measure.
    """
    priority = 'NORMAL'  # before the LoggerHook writes the iteration's line

    def __init__(self,
                 interval: int = 10,
                 module: str = 'neck',
                 distribution: Optional[str] = 'auto',
                 std_threshold: float = 0.1,
                 uniform_threshold: float = 0.95,
                 one_output_threshold: float = 0.1,
                 warn_interval: int = 500) -> None:
        if interval < 1 or warn_interval < 1:
            raise ValueError('interval and warn_interval must be >= 1, got '
                             f'{interval} and {warn_interval}')
        self.interval = interval
        self.module = module
        self.distribution = distribution
        self.std_threshold = std_threshold
        self.uniform_threshold = uniform_threshold
        self.one_output_threshold = one_output_threshold
        self.warn_interval = warn_interval
        self._handles: List[RemovableHandle] = []
        self._active = False
        self._embedding: Optional[torch.Tensor] = None
        # the target distribution and the norm of the centre it was given
        self._target: Optional[Tuple[torch.Tensor, Optional[float]]] = None
        self._warned: Dict[str, int] = {}

    def _find_distribution(self, model: nn.Module) -> Optional[nn.Module]:
        if self.distribution != 'auto':
            return None if self.distribution is None else \
                model.get_submodule(self.distribution)
        return next((m for m in model.modules()
                     if isinstance(m, SimilarityDistillationLoss)), None)

    def before_train(self, runner) -> None:
        model = runner.model.module if is_model_wrapper(
            runner.model) else runner.model
        try:
            embedder = model.get_submodule(self.module)
        except AttributeError:
            raise ValueError(
                f'CollapseMonitorHook: {type(model).__name__} has no module '
                f'{self.module!r}; set `module` to the attribute path of '
                'its projection head.') from None
        self._handles.append(
            embedder.register_forward_hook(self._on_embedding))
        criterion = self._find_distribution(model)
        if criterion is not None:
            self._handles.append(criterion.register_forward_hook(
                self._on_distribution, with_kwargs=True))

    def after_train(self, runner) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles.clear()

    def _on_embedding(self, module: nn.Module, args: tuple, output) -> None:
        if self._active and self._embedding is None:
            out = output[0] if isinstance(output, (tuple, list)) else output
            self._embedding = out.detach().flatten(0, -2)

    def _on_distribution(self, module: nn.Module, args: tuple, kwargs: dict,
                         output) -> None:
        if not self._active or self._target is not None:
            return
        teacher = args[1] if len(args) > 1 else kwargs['teacher_logits']
        center = args[2] if len(args) > 2 else kwargs.get('center')
        with torch.no_grad():  # the criterion's target, recomputed
            logits = teacher.detach().float()
            if center is not None:
                logits = logits - center.detach().float()
            temp = kwargs.get('teacher_temp') or module.teacher_temp
            probs = F.softmax(logits / temp, dim=-1)
        # the norm now: the loss updates its centre in place afterwards
        self._target = (probs.flatten(0, -2), None if center is None else
                        center.detach().float().norm().item())

    def before_train_iter(self, runner, batch_idx: int,
                          data_batch=None) -> None:
        self._active = self.every_n_train_iters(runner, self.interval)
        self._embedding = self._target = None

    def after_train_iter(self, runner, batch_idx: int, data_batch=None,
                         outputs=None) -> None:
        if not self._active:
            return
        self._active = False
        scalars = {}
        if self._embedding is not None and len(self._embedding) > 1:
            dim = self._embedding.shape[-1]
            scalars['std'] = embedding_std(self._embedding)
            limit = self.std_threshold / math.sqrt(dim)
            if scalars['std'] < limit:
                self._warn(runner, 'std', (
                    f'collapse/std = {scalars["std"]:.2e} is below '
                    f'std_threshold / sqrt(d) = {self.std_threshold} / '
                    f'sqrt({dim}) = {limit:.2e}: the embeddings of '
                    f'`{self.module}` are (nearly) the same for every '
                    'image.'))
        if self._target is not None:
            probs, center_norm = self._target
            scalars['teacher_entropy'], scalars['teacher_entropy_of_mean'] = \
                entropies(probs)
            if center_norm is not None:
                scalars['center_norm'] = center_norm
                self._check_entropies(runner, scalars, *probs.shape)
        for name, value in scalars.items():
            runner.message_hub.update_scalar(f'train/collapse/{name}', value)

    def _check_entropies(self, runner, scalars: Dict[str, float], rows: int,
                         size: int) -> None:
        mean_entropy = scalars['teacher_entropy']
        uniform = self.uniform_threshold * math.log(size)
        if mean_entropy > uniform:
            self._warn(runner, 'uniform', (
                f'collapse/teacher_entropy = {mean_entropy:.3f} is above '
                f'uniform_threshold * log K = {self.uniform_threshold} * '
                f'log {size} = {uniform:.3f}: the teacher gives (nearly) '
                'the uniform distribution (too little sharpening: lower '
                'the teacher temperature).'))
        of_mean = scalars['teacher_entropy_of_mean']
        one_output = self.one_output_threshold * math.log(min(rows, size))
        if of_mean < one_output:
            self._warn(runner, 'one_output', (
                f'collapse/teacher_entropy_of_mean = {of_mean:.3f} is below '
                f'one_output_threshold * log min(N, K) = '
                f'{self.one_output_threshold} * log {min(rows, size)} = '
                f'{one_output:.3f}: the teacher puts every image on the '
                'same output (too little centring: check that the loss '
                'updates its centre, or raise the teacher temperature).'))

    def _warn(self, runner, measure: str, message: str) -> None:
        last = self._warned.get(measure)
        if last is None or runner.iter - last >= self.warn_interval:
            self._warned[measure] = runner.iter
            runner.logger.warning(f'CollapseMonitorHook (iter '
                                  f'{runner.iter + 1}): {message}')
