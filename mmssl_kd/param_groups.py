"""One optimizer parameter group per setting, not per parameter.

With a ``paramwise_cfg`` (no weight decay on norms and biases...) MMEngine's
constructor makes one parameter group per parameter, ~150 for a ViT-S. The
optimizers' multi-tensor (foreach, fused) kernels batch their work per group,
so on a GPU that is ~150 times the kernel launches, and every group costs
Python time on a CPU too. The project's constructor
(:class:`mmssl_kd.engine.optimizers.DefaultOptimWrapperConstructor`) builds the
groups by MMEngine's rules, then merges those with equal options (every key but
``params``): one group per distinct setting, in the order the settings first
appear, each holding its parameters in MMEngine's order (DINO: with and without
weight decay, as in the official code). The optimization is the same as
MMEngine's and the official codes': SGD, Adam(W) and LARS update each parameter
from its own gradient and state and its group's settings (the same weights, bit
for bit), and a scheduler sets each group's value from that group's own; only
the grouping changes. One rounding difference: ``clip_grad`` sums the squared
norms of all gradients in the groups' order, so a clipped step may differ from
MMEngine's layout in the last bit. ``optim_wrapper.merge_param_groups=False``
keeps MMEngine's layout: a key of the constructor, taken out of the wrapper's
config (PartsOptimWrapperConstructor passes a top-level one to every part).

Checkpoints written with one group per parameter still resume: the
optimizer regroups such a state as it loads it (a ``load_state_dict``
pre-hook, so every wrapper type and each part of an ``OptimWrapperDict``
does it) and logs so; the project's ``CheckpointHook`` regroups the
schedulers' per-group values (:func:`regroup_scheduler_states`) before
``Runner.resume`` loads them.  A state that does not map onto the merged
groups raises :class:`ParamGroupLayoutError`.
"""
from typing import List, Optional, Tuple

from mmengine.logging import print_log
from torch.optim import Optimizer


class ParamGroupLayoutError(ValueError):
    """A saved optimizer state whose parameter groups do not map onto the
    merged groups of the optimizer loading it."""


def _options(group: dict) -> dict:
    """A parameter group's settings: every key but ``params``."""
    return {key: value for key, value in group.items() if key != 'params'}


def merge_param_groups(groups: List[dict]
                       ) -> Tuple[List[dict], List[List[int]]]:
    """Merge the parameter groups with equal options (see the module
    docstring).

    Returns:
        The merged groups, in the order their settings first appear, and
        for each the positions its parameters have among all of ``groups``'
        parameters (their origins), in order.
    """
    settings: List[dict] = []
    merged: List[dict] = []
    origins: List[List[int]] = []
    position = 0
    for group in groups:
        options = _options(group)
        if options not in settings:
            settings.append(options)
            merged.append(dict(options, params=[]))
            origins.append([])
        index = settings.index(options)
        size = len(group['params'])
        merged[index]['params'].extend(group['params'])
        origins[index].extend(range(position, position + size))
        position += size
    return merged, origins


def _saved_members(optimizer: Optimizer, saved_groups: List[dict]
                   ) -> Optional[List[List[Tuple[int, int]]]]:
    """For each group of ``optimizer`` (built with merged groups), the
    ``(saved group, saved parameter id)`` of each of its parameters in a
    state saved with more groups, one per parameter (before groups were
    merged); ``None`` if there is nothing to regroup."""
    origins = getattr(optimizer, 'param_group_origins', None)
    if origins is None or len(saved_groups) <= len(origins):
        return None
    saved = [(index, param_id) for index, group in enumerate(saved_groups)
             for param_id in group['params']]
    count = sum(map(len, origins))
    if len(saved) != count:
        raise ParamGroupLayoutError(
            f'The saved optimizer state has {len(saved_groups)} parameter '
            f'groups holding {len(saved)} parameters; this optimizer has '
            f'{len(origins)} groups (one per setting) holding {count}: the '
            'state was saved for another model or paramwise_cfg and cannot '
            'be resumed. Start a new run from its weights instead: drop '
            '--resume and set load_from (--cfg-options load_from=PATH).')
    members = [[saved[position] for position in group] for group in origins]
    for group in members:
        first = _options(saved_groups[group[0][0]])
        other = next((index for index, _ in group
                      if _options(saved_groups[index]) != first), None)
        if other is not None:
            raise ParamGroupLayoutError(
                f'The saved optimizer state has {len(saved_groups)} '
                f'parameter groups; its groups {group[0][0]} and {other} '
                'have different settings but would share one of this '
                f"optimizer's {len(origins)} groups (one per setting). "
                'Resume with --cfg-options optim_wrapper.merge_param_groups='
                'False to keep the saved groups, or start a new run from its '
                'weights: drop --resume and set load_from.')
    return members


def _load_unmerged_state(optimizer: Optimizer,
                         state_dict: dict) -> Optional[dict]:
    """``load_state_dict`` pre-hook of an optimizer with merged groups: a
    state saved with one group per parameter is regrouped (each
    parameter's state follows it; each group takes the saved settings of
    its parameters, the schedulers' ``initial_*`` values included)."""
    saved_groups = state_dict['param_groups']
    members = _saved_members(optimizer, saved_groups)
    if members is None:
        return None
    print_log(
        f'Loading an optimizer state saved with {len(saved_groups)} '
        'parameter groups (one per parameter) into the '
        f'{len(members)} merged groups of this run (one per setting).',
        logger='current')
    return dict(state_dict, param_groups=[
        dict(_options(saved_groups[group[0][0]]),
             params=[param_id for _, param_id in group])
        for group in members])


def regroup_scheduler_states(optimizer: Optimizer, saved_optimizer: dict,
                             states: List[dict]) -> None:
    """Regroup, in place, the states of the parameter schedulers saved with
    the optimizer wrapper state ``saved_optimizer``, as ``optimizer``
    regroups that state when it loads it.

    Every list with one entry per saved group (``base_values``,
    ``_last_value``, ...; the wrapper's ``base_param_settings`` is a last
    group) keeps the entry of each merged group's first parameter.

    Raises:
        ParamGroupLayoutError: as the optimizer's ``load_state_dict`` would.
    """
    members = _saved_members(optimizer, saved_optimizer['param_groups'])
    if members is None:
        return
    index = [group[0][0] for group in members]
    count = len(saved_optimizer['param_groups'])
    if 'base_param_settings' in saved_optimizer:
        index.append(count)
        count += 1
    for state in states:
        for key, value in state.items():
            if isinstance(value, list) and len(value) == count:
                state[key] = [value[i] for i in index]


def track_origins(optimizer: Optimizer, origins: List[List[int]]) -> None:
    """Record on ``optimizer`` (built with merged groups) where its
    parameters stood in MMEngine's per-parameter layout
    (``param_group_origins``, :func:`merge_param_groups`'s second result),
    and let it load states saved in that layout."""
    optimizer.param_group_origins = origins
    optimizer.register_load_state_dict_pre_hook(_load_unmerged_state)
