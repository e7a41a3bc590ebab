"""SEED, DoGo and DINO training steps in plain PyTorch: the yardstick of
``tools/analysis_tools/benchmark_train.py --reference``.

Each step takes a deep copy of a built toolbox model (the same networks,
weights, queue, centre and EMA state, left to the step to train) and the
toolbox's optimizers (the same classes and hyper-parameters), and does a
training step on the same dataloader batch with the paper's loss written
out in torch: no MMEngine data preprocessor, ``parse_losses``, optimizer
wrapper or hook.  ``tests/test_reference_steps.py`` pins that it gives the
toolbox's losses, so the benchmark compares equal work.

A step runs in four phases, which the benchmark times one by one:
:meth:`ReferenceStep.preprocess` (uint8 views to normalised floats),
:meth:`~ReferenceStep.forward` (networks and loss), ``backward`` and
``step`` (optimizers, then the updates a method makes after them).
"""
import abc
import copy
import inspect
import math
from typing import Dict, List, Optional, Sequence, Type

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.logging import MessageHub
from mmengine.optim import OptimWrapper, OptimWrapperDict
from torch.optim import Optimizer

from mmssl_kd.engine.optim_wrappers import clip_grad_per_parameter_
from mmssl_kd.models.algorithms import DINO, SEED, DoGo
from mmssl_kd.models.algorithms.dino import StudentNet
from mmssl_kd.param_groups import merge_param_groups

Losses = Dict[str, torch.Tensor]
#: The clipping the reference steps reproduce: by global norm (MMEngine's)
#: and per parameter (DINO's).
CLIP_FUNCS = (nn.utils.clip_grad_norm_, clip_grad_per_parameter_)


def optim_wrappers(optim_wrapper: OptimWrapper) -> List[OptimWrapper]:
    """The wrappers of an ``OptimWrapper`` (itself) or of an
    ``OptimWrapperDict`` (one per part)."""
    if isinstance(optim_wrapper, OptimWrapperDict):
        return list(optim_wrapper.values())
    return [optim_wrapper]


def plain_optimizer(optimizer: Optimizer,
                    params: Dict[int, nn.Parameter]) -> Optimizer:
    """A new optimizer of ``optimizer``'s class over the parameters
    ``params`` maps them to (``id`` of the toolbox's -> the copy's), one
    group per distinct set of hyper-parameters, as a plain training script
    has them (DINO: with and without weight decay) and the toolbox's
    constructor merges them (unless ``merge_param_groups=False``).
    """
    groups, _ = merge_param_groups(optimizer.param_groups)
    for group in groups:
        group['params'] = [params[id(p)] for p in group['params']]
    # every group carries all its hyper-parameters; the constructor's own
    # are those it requires (LARS: lr) or keeps outside them (LARS: eps)
    init = inspect.signature(type(optimizer).__init__).parameters
    kwargs = {name: optimizer.defaults[name]
              if name in optimizer.defaults else getattr(optimizer, name)
              for name in init if name not in ('self', 'params') and
              (name in optimizer.defaults or hasattr(optimizer, name))}
    return type(optimizer)(groups, **kwargs)


class ReferenceStep(abc.ABC):
    """A plain-PyTorch training step (see the module docstring).

    Args:
        model: the built toolbox model; the step trains a deep copy.
        optim_wrapper: the toolbox's ``OptimWrapper`` (or
            ``OptimWrapperDict``), whose optimizers and gradient clipping
            (by global or per-parameter norm) are reproduced.
    """

    #: The keys of :meth:`forward`'s result that are back-propagated (each
    #: the total loss of one optimizer's parameters, as the toolbox logs it).
    totals = ('loss', )

    def __init__(self, model: nn.Module,
                 optim_wrapper: OptimWrapper) -> None:
        self.model = copy.deepcopy(model)
        own = dict(self.model.named_parameters())
        by_id = {id(p): own[name] for name, p in model.named_parameters()}
        self.optimizers: List[Optimizer] = []
        # (clipping function, its arguments); None: no clipping
        self.clips: List[Optional[tuple]] = []
        for wrapper in optim_wrappers(optim_wrapper):
            clip = dict(wrapper.clip_grad_kwargs or {})
            if clip and wrapper.clip_func not in CLIP_FUNCS:
                raise ValueError('The reference steps clip gradients by norm '
                                 f'only, not with {wrapper.clip_func}')
            self.optimizers.append(plain_optimizer(wrapper.optimizer, by_id))
            self.clips.append((wrapper.clip_func, clip) if clip else None)
        pre = self.model.data_preprocessor
        self.mean, self.std = pre.mean, pre.std
        self.bgr_to_rgb: bool = pre._channel_conversion

    def preprocess(self, data: dict) -> List[torch.Tensor]:
        """The batch's uint8 views, each (B, 3, H, W), on the model's
        device, RGB, as normalised floats."""
        views = []
        for view in data['inputs']:
            view = view.to(self.mean.device, non_blocking=True)
            if self.bgr_to_rgb:
                view = view[:, [2, 1, 0]]
            view = (view.float() - self.mean) / self.std
            views.append(view)
        return views

    @abc.abstractmethod
    def forward(self, views: List[torch.Tensor]) -> Losses:
        """The networks and the loss; :attr:`totals` and other terms."""

    def backward(self, losses: Losses) -> None:
        """A backward per total, as DoGo's official code does (their graphs
        are disjoint; one backward of their sum measured slower on CPU)."""
        for key in self.totals:
            losses[key].backward()

    def step(self) -> None:
        """Clip, step and zero each optimizer (then :meth:`after_step`)."""
        for optimizer, clip in zip(self.optimizers, self.clips):
            if clip:
                func, kwargs = clip
                func([p for g in optimizer.param_groups for p in g['params']],
                     **kwargs)
            optimizer.step()
            optimizer.zero_grad()
        self.after_step()

    def after_step(self) -> None:
        """Updates made after the optimizer step (queues)."""

    def train_step(self, data: dict) -> Losses:
        """All four phases; the loss terms, detached."""
        losses = self.forward(self.preprocess(data))
        self.backward(losses)
        self.step()
        return {k: v.detach() for k, v in losses.items()}


def fp32(device: torch.device):
    """No autocast: logits in fp32 (a teacher temperature of 1e-4 turns
    half-precision rounding into overflow)."""
    return torch.autocast(device.type, enabled=False)


class SEEDStep(ReferenceStep):
    """SEED (Fang et al., ICLR 2021), Sec. 3.2, the loss L_SEED: with
    L2-normalised student and teacher embeddings ``z^S``, ``z^T`` and a
    queue ``Q``, both score the anchors ``[z^T, Q]``;
    ``L = -1/N sum_i sum_j p^T_ij log p^S_ij`` with ``p^T`` at ``tau_T`` and
    ``p^S`` at ``tau_S``.  The teacher's embeddings are enqueued after the
    step (FIFO)."""

    def __init__(self, model: SEED, optim_wrapper: OptimWrapper) -> None:
        if model.small_patch:
            raise ValueError('SEEDStep covers SEED without small patches')
        super().__init__(model, optim_wrapper)
        m = self.model
        self.student = lambda x: m.neck(m.backbone(x))[0]
        self.teacher = m.teacher
        self.queue = m.queue.queue  # (K, D), rows L2-normalised
        self.ptr = int(m.queue.ptr)
        self.tau_s = m.criterion.student_temp
        self.tau_t = m.criterion.teacher_temp
        self.keys: Optional[torch.Tensor] = None  # this step's z^T

    def forward(self, views: List[torch.Tensor]) -> Losses:
        x = views[0]  # the same view for both networks
        with torch.no_grad():
            z_t = F.normalize(self.teacher(x).float(), dim=1)
        z_s = F.normalize(self.student(x).float(), dim=1)
        with fp32(x.device):
            logits_s = torch.cat([(z_s * z_t).sum(1, keepdim=True),
                                  z_s @ self.queue.t()], dim=1) / self.tau_s
            logits_t = torch.cat([(z_t * z_t).sum(1, keepdim=True),
                                  z_t @ self.queue.t()], dim=1) / self.tau_t
            loss = -(F.softmax(logits_t, dim=1) *
                     F.log_softmax(logits_s, dim=1)).sum(1).mean()
        self.keys = z_t
        return dict(loss=loss)

    def after_step(self) -> None:
        """Enqueue the teacher embeddings over the oldest rows."""
        rows = (self.ptr + torch.arange(len(self.keys),
                                        device=self.queue.device)) \
            % len(self.queue)
        self.queue[rows] = self.keys
        self.ptr = (self.ptr + len(self.keys)) % len(self.queue)


def nt_xent(z1: torch.Tensor, z2: torch.Tensor, tau: float) -> torch.Tensor:
    """SimCLR's NT-Xent (Chen et al., ICML 2020, Eq. 1) of normalised
    (N, D) views: each of the 2N rows against the other 2N - 1."""
    n = len(z1)
    z = torch.cat([z1, z2])
    logits = z @ z.t() / tau
    logits.fill_diagonal_(float('-inf'))
    positives = torch.cat([torch.arange(n, 2 * n), torch.arange(n)])
    return F.cross_entropy(logits, positives.to(z.device))


class DoGoStep(ReferenceStep):
    """DoGo (Bhat et al., CVPR-W 2021), Sec. 3: peer m embeds its
    two views (``z'_m``, ``z''_m``, normalised) and minimises
    ``NTXent(z'_m, z''_m) + lambda_m KL(sg[P^n] || P^m)``, with
    ``P^m = softmax(z'_m z''_m^T / tau_kd)`` and n the other peer
    (``F.kl_div`` as in the official code); one optimizer per peer."""

    totals = ('loss_1', 'loss_2')

    def __init__(self, model: DoGo, optim_wrapper: OptimWrapperDict) -> None:
        if model.peer is None or model.predictor is not None or \
                model.peer.predictor is not None:
            raise ValueError('DoGoStep covers two SimCLR peers')
        super().__init__(model, optim_wrapper)
        m = self.model
        self.peers = [lambda x: m.neck(m.backbone(x))[0],
                      lambda x: m.peer.neck(m.peer.backbone(x))[0]]
        self.lambdas = m.lambdas
        self.tau_kd = m.tau_kd
        self.tau = m.ssl_criterion.temperature
        self.reduction = m.kd_reduction

    def forward(self, views: List[torch.Tensor]) -> Losses:
        # one forward per view: BatchNorm statistics per view
        z = [[F.normalize(peer(x).float(), dim=1)
              for x in views[2 * m:2 * m + 2]]
             for m, peer in enumerate(self.peers)]
        with fp32(views[0].device):
            sim = [a @ b.t() for a, b in z]
            losses = {}
            for m, (own, other) in enumerate([(0, 1), (1, 0)], start=1):
                kl = F.kl_div(F.log_softmax(sim[own] / self.tau_kd, dim=1),
                              F.softmax(sim[other].detach() / self.tau_kd,
                                        dim=1), reduction='sum')
                # 'mean' (official): over the B x B elements; 'batchmean':
                # over the B rows
                kl = kl / (sim[own].numel() if self.reduction == 'mean'
                           else len(sim[own]))
                losses[f'loss_{m}'] = nt_xent(*z[own], self.tau) + \
                    self.lambdas[own] * kl
        return losses


class DINOStep(ReferenceStep):
    """DINO (Caron et al., ICCV 2021), Algorithm 1: the EMA teacher
    (Sec. 3.1, ``theta_t <- l theta_t + (1 - l) theta_s``, l on a cosine
    schedule to 1) sees the global crops, the student every crop; the loss
    (Eq. 3) is ``H(P_t, P_s)`` averaged over the (global t, crop s != t)
    pairs, with ``P_t = softmax((g_t - c) / tau_t)``,
    ``P_s = softmax(g_s / tau_s)``; then the centre (Eq. 4)
    ``c <- m c + (1 - m) mean(g_t)``.

    The teacher follows the student at the start of a step (the first
    step copies it); the toolbox makes the same update after the previous
    step's optimizer step, so every forward sees the same teacher.  The
    schedule's length is the ``max_iters`` of the MMEngine message hub,
    which the toolbox's ``CosineEMA`` reads.
    """

    def __init__(self, model: DINO, optim_wrapper: OptimWrapper) -> None:
        super().__init__(model, optim_wrapper)
        m = self.model
        self.student = StudentNet(m.backbone, m.neck)
        self.teacher = m.teacher.module
        self.ema_steps = int(m.teacher.steps)
        self.base_momentum = m.teacher.momentum
        self.end_momentum = m.teacher.end_momentum
        self.max_iters = MessageHub.get_current_instance().get_info(
            'max_iters')
        if self.max_iters is None:
            raise ValueError("DINOStep needs the message hub's max_iters "
                             '(the EMA schedule length)')
        loss = m.loss_module
        self.center = loss.center
        self.center_momentum = loss.center_momentum
        self.tau_s = loss.criterion.student_temp
        self.tau_t = loss.teacher_temp_at(
            MessageHub.get_current_instance().get_info('epoch', 0))
        self.num_global = m.num_global_crops

    @torch.no_grad()
    def update_teacher(self) -> None:
        """The EMA step, in MMEngine's momentum convention (the weight of
        the student), and the student's buffers copied."""
        pairs = list(zip(self.teacher.parameters(),
                         self.student.parameters()))
        if self.ema_steps == 0:
            for teacher, student in pairs:
                teacher.copy_(student)
        else:
            cosine = (math.cos(math.pi * self.ema_steps / self.max_iters)
                      + 1) / 2
            momentum = self.end_momentum - (
                self.end_momentum - self.base_momentum) * cosine
            for teacher, student in pairs:
                teacher.mul_(1 - momentum).add_(student, alpha=momentum)
        for teacher, student in zip(self.teacher.buffers(),
                                    self.student.buffers()):
            teacher.copy_(student)
        self.ema_steps += 1

    @staticmethod
    def multi_crop(net: nn.Module,
                   crops: Sequence[torch.Tensor]) -> List[torch.Tensor]:
        """One forward per run of equal-sized crops (DINO's
        ``MultiCropWrapper``), split back into one output per crop."""
        counts = torch.unique_consecutive(
            torch.tensor([c.shape[-1] for c in crops]), return_counts=True)[1]
        outputs, start = [], 0
        for count in counts.tolist():
            out = net(torch.cat(crops[start:start + count]))
            outputs += list(out.chunk(count))
            start += count
        return outputs

    def forward(self, views: List[torch.Tensor]) -> Losses:
        self.update_teacher()
        with torch.no_grad():
            teacher = self.multi_crop(self.teacher, views[:self.num_global])
        student = self.multi_crop(self.student, views)
        with fp32(views[0].device):
            targets = [F.softmax((t.float() - self.center) / self.tau_t, -1)
                       for t in teacher]
            log_probs = [F.log_softmax(s.float() / self.tau_s, -1)
                         for s in student]
            pairs = [(t, s) for t in range(len(targets))
                     for s in range(len(log_probs)) if s != t]
            loss = sum(-(targets[t] * log_probs[s]).sum(-1).mean()
                       for t, s in pairs) / len(pairs)
            batch_mean = torch.cat(teacher).float().mean(0, keepdim=True)
            self.center.mul_(self.center_momentum).add_(
                batch_mean, alpha=1 - self.center_momentum)
        return dict(loss=loss)


#: The algorithm classes (exactly; a subclass changes the loss) with a
#: reference step.
REFERENCE_STEPS: Dict[type, Type[ReferenceStep]] = {
    SEED: SEEDStep, DoGo: DoGoStep, DINO: DINOStep}


def build_reference_step(model: nn.Module,
                         optim_wrapper: OptimWrapper) -> ReferenceStep:
    """The plain-PyTorch step of ``model``'s algorithm."""
    step = REFERENCE_STEPS.get(type(model))
    if step is None:
        raise ValueError(
            f'No plain-PyTorch reference step for {type(model).__name__}; '
            'there is one for ' +
            ', '.join(c.__name__ for c in REFERENCE_STEPS))
    return step(model, optim_wrapper)
