"""A foundation ViT (DINOv2, DINOv3, any timm ViT) as a teacher backbone.

timm builds the architecture (``vit_base_patch14_dinov2``,
``vit_base_patch14_reg4_dinov2``, ``vit_base_patch16_dinov3`` ...); this
module picks the outputs a config asks for, interpolates the position
embeddings to the input size (timm's ``dynamic_img_size``), and runs in
bf16 where the device supports it.  Weights come from a local file through
:class:`mmssl_kd.models.FrozenTeacher` (``source='dinov2'``, ``'dinov3'``
or ``'timm'``; ``.safetensors`` files too).
"""
import io
import re
import types
from contextlib import nullcontext, redirect_stdout
from typing import Dict, List, Optional, Sequence, Tuple, Union

import timm
import torch
import torch.nn.functional as F
from mmengine.model import BaseModule

from mmssl_kd.registry import MODELS

#: The output names :class:`FoundationViT` takes besides ``'block<k>'``.
OUTPUTS = ('cls', 'pooled', 'registers', 'map', 'tokens')
_DTYPES = {'float32': torch.float32, 'bfloat16': torch.bfloat16,
           'float16': torch.float16}


def _dinov2_pos_embed(model, x: torch.Tensor) -> torch.Tensor:
    """timm ``VisionTransformer._pos_embed`` as the official DINOv2
    models without registers compute it (``interpolate_pos_encoding``,
    ``interpolate_offset=0.1``, no antialiasing): the (M, M) grid of patch
    position embeddings is resampled bicubically by the scale factor
    ``(h + 0.1) / M``, in fp32, then [CLS] is prepended and its embedding
    added.  ``x``: the (B, h, w, D) patch embeddings."""
    batch, h, w, dim = x.shape
    h, w = int(h), int(w)  # traced (FLOP counting): sizes are tensors
    pos = model.pos_embed.float()
    rows, cols = model.patch_embed.grid_size
    patch_pos = pos[:, 1:]
    if (h, w) != (rows, cols):
        grid = patch_pos.reshape(1, rows, cols, dim).permute(0, 3, 1, 2)
        grid = F.interpolate(grid, scale_factor=((h + 0.1) / rows,
                                                 (w + 0.1) / cols),
                             mode='bicubic', antialias=False)
        patch_pos = grid.permute(0, 2, 3, 1).reshape(1, h * w, dim)
    pos = torch.cat([pos[:, :1], patch_pos], dim=1).to(x.dtype)
    x = torch.cat([model.cls_token.expand(batch, -1, -1).to(x.dtype),
                   x.reshape(batch, h * w, dim)], dim=1)
    return model.pos_drop(x + pos)


def _bf16_device(device: torch.device) -> bool:
    """Whether ``auto`` runs bf16 autocast on ``device``: CUDA with bf16."""
    return (device.type == 'cuda' and torch.cuda.is_available()
            and torch.cuda.is_bf16_supported())


@MODELS.register_module()
class FoundationViT(BaseModule):
    """``timm.create_model(model_name, pretrained=False, num_classes=0,
    dynamic_img_size=True, **kwargs)``, returning the outputs named in
    ``outputs``, in that order, as fp32 tensors.

    Outputs (T patch tokens on an h x w grid, R register tokens):

    - ``'cls'``: the [CLS] token after the final norm, (B, D);
    - ``'pooled'``: the mean of the normed patch tokens (registers and
      [CLS] left out), (B, D);
    - ``'registers'``: the normed register tokens, (B, R, D) (DINOv2-reg:
      R = 4, DINOv3: R = 4);
    - ``'map'``: the normed patch tokens as a map, (B, D, h, w);
    - ``'tokens'``: every normed token, [CLS] first, (B, 1 + R + T, D);
    - ``'block<k>'`` (``'block3'``, ``'block-1'``): block k's output patch
      tokens (before the final norm) as a (B, D, h, w) map; k counts from
      0, negative k from the end.

    :class:`~mmssl_kd.models.FrozenTeacher` turns the **last** output into
    its (B, D) embedding (``outputs=('map', 'cls')``: the [CLS] token);
    :meth:`FrozenTeacher.outputs` gives them all.

    The position embeddings of a learned-position ViT (DINOv2) are
    resampled to each input's patch grid, so any input size works (DINOv3's
    rotary embeddings need none; its input sides must be multiples of 16).
    With ``pos_interpolation='official'`` (default) they are resampled as
    the official hub models do: DINOv2 without registers by a scale factor
    ``(h + 0.1) / M`` without antialiasing (:func:`_dinov2_pos_embed`);
    the register models by size with antialiasing, which is timm's own
    ``resample_abs_pos_embed``.  ``'timm'`` keeps timm's for every model
    (at 224 px it moves a DINOv2 ViT-B/14's outputs by up to ~0.2: the
    official models were checked output by output, see
    configs/foundation/README.md).

    Args:
        model_name: A timm model name (``timm.list_models('*dinov*')``).
        outputs: Output names, see above.
        autocast: ``'auto'`` (default): bf16 autocast on a CUDA device with
            bf16, none elsewhere (fp32 on a CPU); ``True``: bf16 autocast on
            any device; ``False``: never.  Outputs are cast to fp32.
        weights_dtype: ``'bfloat16'`` (or ``'float16'``) keeps the weights
            in that type: half the memory of fp32, for a teacher too large
            for the device in fp32.  Inputs are cast to it.  None: fp32.
        pos_interpolation: ``'official'`` or ``'timm'``, see above.
        init_cfg: MMEngine init config (timm initialises the model).
        **kwargs: Other arguments of ``timm.create_model`` (``img_size``,
            ``depth``, ``embed_dim``, ``num_heads`` ...).
    """

    def __init__(self,
                 model_name: str,
                 outputs: Sequence[str] = ('cls', ),
                 autocast: Union[bool, str] = 'auto',
                 weights_dtype: Optional[str] = None,
                 pos_interpolation: str = 'official',
                 init_cfg: Optional[Union[dict, list]] = None,
                 **kwargs):
        super().__init__(init_cfg=init_cfg)
        if kwargs.pop('pretrained', False):
            raise TypeError(
                'FoundationViT does not take pretrained=True (it would '
                'download weights); load a local file with FrozenTeacher('
                "checkpoint=..., source='dinov2' | 'dinov3' | 'timm').")
        if autocast not in (True, False, 'auto'):
            raise ValueError(f"autocast must be True, False or 'auto', got "
                             f'{autocast!r}')
        if weights_dtype is not None and weights_dtype not in _DTYPES:
            raise ValueError(f'weights_dtype must be one of {list(_DTYPES)} '
                             f'or None, got {weights_dtype!r}')
        if pos_interpolation not in ('official', 'timm'):
            raise ValueError("pos_interpolation must be 'official' or "
                             f"'timm', got {pos_interpolation!r}")
        if isinstance(outputs, str):
            outputs = (outputs, )
        if not outputs:
            raise ValueError('FoundationViT needs at least one output')
        kwargs.setdefault('dynamic_img_size', True)
        self.model_name = model_name
        self.timm_model = timm.create_model(model_name, pretrained=False,
                                            num_classes=0, **kwargs)
        if not hasattr(self.timm_model, 'blocks') or \
                not hasattr(self.timm_model, 'num_prefix_tokens'):
            raise ValueError(f'timm model {model_name!r} is not a ViT '
                             '(no blocks / num_prefix_tokens)')
        depth = len(self.timm_model.blocks)
        self.outputs: Tuple[str, ...] = tuple(outputs)
        self._blocks: Dict[str, int] = {}
        for name in self.outputs:
            hit = re.fullmatch(r'block(-?\d+)', name)
            if hit:
                k = int(hit.group(1))
                if not -depth <= k < depth:
                    raise ValueError(f'output {name!r}: {model_name} has '
                                     f'{depth} blocks (0 to {depth - 1})')
                self._blocks[name] = k % depth
            elif name not in OUTPUTS:
                raise ValueError(f'output {name!r} is not one of {OUTPUTS} '
                                 "or 'block<k>'")
        reg = getattr(self.timm_model, 'reg_token', None)
        self.num_registers = 0 if reg is None else reg.shape[1]
        self.pos_interpolation = pos_interpolation
        architecture = model_name.split('.')[0]  # without a weight tag
        if (pos_interpolation == 'official' and not self.num_registers
                and architecture.endswith('_dinov2')):
            self.timm_model._pos_embed = types.MethodType(
                _dinov2_pos_embed, self.timm_model)
        if 'registers' in self.outputs and not self.num_registers:
            raise ValueError(f"output 'registers': {model_name} has no "
                             'register tokens (use a *_reg4_dinov2 or '
                             'dinov3 model)')
        self.autocast = autocast
        self.weights_dtype = weights_dtype
        if weights_dtype is not None:
            self.timm_model.to(_DTYPES[weights_dtype])

    @property
    def embed_dim(self) -> int:
        return self.timm_model.embed_dim

    @property
    def patch_size(self) -> Tuple[int, int]:
        return tuple(self.timm_model.patch_embed.patch_size)

    def init_weights(self) -> None:
        """timm initialised the model: MMEngine's init_cfg only, and the
        weights stay in ``weights_dtype``."""
        if self.init_cfg:
            super().init_weights()

    def _autocast(self, x: torch.Tensor):
        on = (_bf16_device(x.device) if self.autocast == 'auto'
              else self.autocast)
        if not on:
            return nullcontext()
        return torch.autocast(x.device.type, dtype=torch.bfloat16)

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        """(B, 3, H, W) images -> the outputs, in fp32."""
        model = self.timm_model
        h, w = (x.shape[-2] // self.patch_size[0],
                x.shape[-1] // self.patch_size[1])
        dtype = model.patch_embed.proj.weight.dtype
        if x.is_floating_point() and x.dtype != dtype:
            x = x.to(dtype)
        seen: Dict[int, torch.Tensor] = {}
        handles = [model.blocks[k].register_forward_hook(
            lambda mod, args, out, k=k: seen.__setitem__(k, out))
            for k in set(self._blocks.values())]
        try:
            with self._autocast(x):
                tokens = model.forward_features(x)
        finally:
            for handle in handles:
                handle.remove()
        prefix = model.num_prefix_tokens
        outs: List[torch.Tensor] = []
        for name in self.outputs:
            if name == 'cls':
                out = tokens[:, 0]
            elif name == 'pooled':
                out = tokens[:, prefix:].mean(dim=1)
            elif name == 'registers':
                out = tokens[:, prefix - self.num_registers:prefix]
            elif name == 'tokens':
                out = tokens
            else:
                src = tokens if name == 'map' else seen[self._blocks[name]]
                out = self._to_map(src[:, prefix:], h, w)
            outs.append(out.float())
        return tuple(outs)

    @staticmethod
    def _to_map(patches: torch.Tensor, h: int, w: int) -> torch.Tensor:
        """(B, h * w, D) patch tokens -> (B, D, h, w)."""
        if patches.shape[1] != h * w:
            raise RuntimeError(f'{patches.shape[1]} patch tokens do not fill '
                               f'a {h} x {w} grid')
        return patches.transpose(1, 2).reshape(patches.shape[0], -1, h, w)


#: Official key layouts timm converts, and the timm model class each needs.
OFFICIAL_LAYOUTS = {'dinov2': 'VisionTransformer', 'dinov3': 'Eva'}


def timm_from_official(state: Dict[str, torch.Tensor], model: torch.nn.Module,
                       layout: str) -> Dict[str, torch.Tensor]:
    """A state dict in the official DINOv2 or DINOv3 repository's key
    layout (their ``torch.hub`` checkpoints) renamed to timm's, by timm's
    own ``checkpoint_filter_fn`` (``timm.models.vision_transformer`` for
    DINOv2, ``timm.models.eva`` for DINOv3).

    DINOv2: ``mask_token`` dropped, ``register_tokens`` -> ``reg_token``
    (the [CLS] position folded into ``cls_token``), a giant's
    ``mlp.w12``/``mlp.w3`` -> ``mlp.fc1``/``fc2``, ``pos_embed`` resampled
    if the model's grid differs.  DINOv3: ``storage_tokens`` ->
    ``reg_token``, ``ls1/ls2.gamma`` -> ``gamma_1/2``, ``qkv.bias`` ->
    ``q_bias`` and ``v_bias`` (a ``*_qkvb`` model), the RoPE periods and
    ``mask_token`` dropped.

    Raises:
        ValueError: ``model`` is not the timm class of ``layout``, or the
            file has non-zero q/v biases that the model (without
            ``_qkvb``) would drop.
    """
    from importlib import import_module
    if layout not in OFFICIAL_LAYOUTS:
        raise ValueError(f'layout must be one of {list(OFFICIAL_LAYOUTS)}')
    cls = OFFICIAL_LAYOUTS[layout]
    if type(model).__name__ != cls:
        raise ValueError(
            f"source='{layout}' needs a timm {cls} (a "
            f"{'vit_*_dinov2' if layout == 'dinov2' else 'vit_*_dinov3'} "
            f'model), not {type(model).__name__}')
    state = dict(state)
    if layout == 'dinov2':
        # timm recognises the official layout by its mask_token
        state.setdefault('mask_token', torch.zeros(1, model.embed_dim))
    else:
        has_bias = any(k.endswith('attn.q_bias') for k in model.state_dict())
        for key, value in state.items():
            mask = state.get(key + '_mask')
            if key.endswith('attn.qkv.bias') and not has_bias:
                used = value if mask is None else value * mask
                if used.abs().max() > 0:
                    raise ValueError(
                        f'{key} is not zero but the model has no q/v bias: '
                        'use the *_dinov3_qkvb model of this size')
    filter_fn = import_module(type(model).__module__).checkpoint_filter_fn
    with redirect_stdout(io.StringIO()):  # eva's prints each dropped bias
        return filter_fn(state, model)
