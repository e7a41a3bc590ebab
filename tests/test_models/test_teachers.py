"""FrozenTeacher: every load path gives the source model's outputs, key
mismatches are listed, the teacher stays frozen and out of the optimizer,
and unsafe files are refused."""
import builtins
from pathlib import Path

import cv2
import numpy as np
import pytest
import timm
import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision
from _helpers import foundation
from mmengine.model import BaseModel
from mmengine.optim import build_optim_wrapper
from mmengine.registry import init_default_scope

from mmssl_kd.compat import (
    UntrustedCheckpointError,
    trust_checkpoints,
    untrust_all,
)
from mmssl_kd.engine.optimizers import DefaultOptimWrapperConstructor
from mmssl_kd.models import FrozenTeacher
from mmssl_kd.models.backbones import CIFARResNet, TorchvisionBackbone
from mmssl_kd.models.teachers import apply_prefix_map
from mmssl_kd.registry import MODELS, OPTIM_WRAPPER_CONSTRUCTORS

REPO = Path(__file__).resolve().parents[2]
WEIGHTS = REPO.parent / 'shared' / 'weights' / 'cifar10-resnet'
CIFAR_TEST = REPO / 'data' / 'cifar10' / 'test'
CIFAR_MAP = {'module.': 'backbone.', 'module.linear.': None}

BACKBONE = dict(type='CIFARResNet', depth=20)
NECK = dict(type='NonLinearNeck', in_channels=64, hid_channels=32,
            out_channels=16, num_layers=2, with_avg_pool=True,
            norm_cfg=dict(type='BN1d'))


@pytest.fixture(autouse=True)
def scope():
    init_default_scope('mmssl_kd')
    yield
    untrust_all()


@pytest.fixture
def images() -> torch.Tensor:
    gen = torch.Generator().manual_seed(1)
    return torch.randn(4, 3, 32, 32, generator=gen)


def perturb(module: nn.Module, seed: int = 0) -> nn.Module:
    """Move every weight and BN statistic away from its initial value, so
    that loading the wrong tensor shows in the outputs."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, t in module.state_dict().items():
            if not t.is_floating_point():
                continue
            noise = torch.randn(t.shape, generator=gen)
            if name.endswith('running_mean'):
                t.add_(0.1 * noise)
            else:  # weights, biases, running_var: stay positive-ish
                t.mul_(1 + 0.1 * noise.clamp(-3, 3))
    return module.eval()


def gap(feats) -> torch.Tensor:
    return F.adaptive_avg_pool2d(feats[-1], 1).flatten(1)


def save(obj, path: Path) -> str:
    torch.save(obj, path)
    return str(path)


# ---------------------------------------------------------------------------
# load paths


def ssl_model(algorithm: str) -> nn.Module:
    """A small MMPretrain MoCo v3 or BYOL with a CIFAR ResNet-20."""
    if algorithm == 'MoCoV3':
        head = dict(type='MoCoV3Head', temperature=0.2,
                    predictor=dict(NECK, in_channels=16, with_avg_pool=False),
                    loss=dict(type='CrossEntropyLoss', loss_weight=0.4))
    else:
        head = dict(type='LatentPredictHead',
                    predictor=dict(NECK, in_channels=16, with_avg_pool=False),
                    loss=dict(type='CosineSimilarityLoss'))
    return perturb(MODELS.build(dict(type=algorithm, backbone=BACKBONE,
                                     neck=NECK, head=head)))


@pytest.mark.parametrize('source', ['mmssl_kd', 'mmpretrain'])
def test_ssl_checkpoint_backbone_and_neck(source, images, tmp_path):
    model = ssl_model('MoCoV3')
    path = save({'meta': {'epoch': 1}, 'state_dict': model.state_dict()},
                tmp_path / 'mocov3.pth')
    teacher = FrozenTeacher(BACKBONE, NECK, checkpoint=path, source=source)
    expected = model.neck(model.backbone(images))[0]
    assert torch.equal(teacher(images), expected)
    assert teacher.embed_dim == 16


@pytest.mark.parametrize('algorithm,prefix', [('MoCoV3', 'momentum_encoder'),
                                              ('BYOL', 'target_net')])
def test_ssl_checkpoint_momentum_encoder(algorithm, prefix, images,
                                         tmp_path):
    """mmpretrain keeps the EMA branch as ``<prefix>.module.{0,1}``."""
    model = ssl_model(algorithm)
    path = save({'state_dict': model.state_dict()}, tmp_path / 'ssl.pth')
    teacher = FrozenTeacher(
        BACKBONE, NECK, checkpoint=path, source='mmpretrain',
        prefix_map={f'{prefix}.module.0.': 'backbone.',
                    f'{prefix}.module.1.': 'neck.'})
    ema = getattr(model, prefix).module
    assert torch.equal(teacher(images), ema(images)[0])
    online = model.neck(model.backbone(images))[0]
    assert not torch.allclose(teacher(images), online)


def test_timm_state_dict(images, tmp_path):
    source = perturb(timm.create_model('resnet18', pretrained=False))
    path = save(source.state_dict(), tmp_path / 'timm_resnet18.pth')
    teacher = FrozenTeacher(
        dict(type='TIMMBackbone', model_name='resnet18'), checkpoint=path,
        source='timm')
    expected = source.forward_head(source.forward_features(images),
                                   pre_logits=True)
    torch.testing.assert_close(teacher(images), expected, rtol=0, atol=0)
    assert teacher.embed_dim == 512
    assert teacher.default_prefix_map() == {
        '': 'backbone.timm_model.', 'fc.': None}


def test_torchvision_state_dict(images, tmp_path):
    source = perturb(torchvision.models.resnet18(weights=None))
    path = save(source.state_dict(), tmp_path / 'tv_resnet18.pth')
    teacher = FrozenTeacher(
        dict(type='TorchvisionBackbone', name='resnet18'), checkpoint=path,
        source='torchvision')
    source.fc = nn.Identity()
    assert torch.equal(teacher(images), source(images))
    assert teacher.embed_dim == 512


def official_checkpoint(layout: str, resnet: nn.Module) -> dict:
    """A file in the official repositories' layout around ``resnet``'s
    weights, with the heads and parts a teacher must leave out."""
    weights = resnet.state_dict()
    other = {k: torch.zeros_like(v) for k, v in weights.items()}
    fc = {'fc.0.weight': torch.zeros(4, 512), 'fc.2.weight': torch.ones(2)}
    if layout == 'moco':  # MoCo v1/v2 (SEED's teachers)
        return {'state_dict': {
            **{f'module.encoder_q.{k}': v for k, v in weights.items()},
            **{f'module.encoder_q.{k}': v for k, v in fc.items()},
            **{f'module.encoder_k.{k}': v for k, v in other.items()},
            'module.queue': torch.zeros(8, 4)}, 'epoch': 800}
    if layout == 'mocov3':
        return {'state_dict': {
            **{f'module.base_encoder.{k}': v for k, v in weights.items()},
            **{f'module.base_encoder.{k}': v for k, v in fc.items()},
            **{f'module.momentum_encoder.{k}': v for k, v in other.items()},
            'module.predictor.0.weight': torch.zeros(4, 4)}}
    ddp = 'module.' if layout == 'dino-ddp' else ''  # a ResNet in DDP
    return {'teacher': {**{f'{ddp}backbone.{k}': v
                           for k, v in weights.items()},
                        f'{ddp}head.mlp.0.weight': torch.zeros(4, 512)},
            'student': {f'module.backbone.{k}': v
                        for k, v in other.items()}}


@pytest.mark.parametrize('layout', ['moco', 'mocov3', 'dino', 'dino-ddp'])
def test_official_checkpoint_layouts(layout, images, tmp_path):
    """The official MoCo v1/v2, MoCo v3 and DINO files of a ResNet load
    into an MMPretrain ResNet teacher (torchvision names) and give the
    source network's pooled features."""
    source = perturb(torchvision.models.resnet18(weights=None))
    path = save(official_checkpoint(layout, source), tmp_path / 'ckpt.pth')
    teacher = FrozenTeacher(dict(type='ResNet', depth=18), checkpoint=path,
                            source=layout.split('-')[0])
    source.fc = nn.Identity()
    torch.testing.assert_close(teacher(images), source(images))


@pytest.mark.parametrize('layout', ['mocov3', 'dino'])
def test_official_vit_checkpoint_layouts(layout, images, tmp_path):
    """The official MoCo v3 and DINO ViT files (timm names, projection
    heads beside them) load into an MMPretrain ViT teacher and give the
    source network's [CLS] feature."""
    source = perturb(timm.models.vision_transformer.VisionTransformer(
        img_size=32, patch_size=8, embed_dim=48, depth=2, num_heads=3,
        num_classes=0))
    head = {'head.mlp.0.weight': torch.zeros(4, 48)}
    weights = {**source.state_dict(), **head}
    ckpt = ({'state_dict': {f'module.base_encoder.{k}': v
                            for k, v in weights.items()}}
            if layout == 'mocov3' else
            {'teacher': {f'backbone.{k}': v
                         for k, v in source.state_dict().items()} | head})
    teacher = FrozenTeacher(
        dict(type='VisionTransformer', img_size=32, patch_size=8,
             arch=dict(embed_dims=48, num_layers=2, num_heads=3,
                       feedforward_channels=192)),
        checkpoint=save(ckpt, tmp_path / 'ckpt.pth'), source=layout)
    torch.testing.assert_close(teacher(images), source.eval()(images))


def test_torchvision_backbone_returns_classifier_input(images):
    backbone = TorchvisionBackbone('mobilenet_v3_small').eval()
    assert backbone.classifier_name == 'classifier.3'
    source = torchvision.models.mobilenet_v3_small(weights=None).eval()
    source.load_state_dict(backbone.torchvision_model.state_dict(),
                           strict=False)
    seen = []
    source.classifier[3].register_forward_hook(
        lambda mod, args, out: seen.append(args[0]))
    source(images)
    (feats, ) = backbone(images)
    assert feats.shape == (4, 1024)
    assert torch.equal(feats, seen[0])
    with pytest.raises(TypeError, match='download'):
        TorchvisionBackbone('resnet18', weights='DEFAULT')


def cifar_th(net: nn.Module, num_batches_tracked: bool = False) -> dict:
    """A CIFAR ResNet saved like the shared ``.th`` files."""
    state = {f'module.{k}': v for k, v in net.state_dict().items()
             if num_batches_tracked or not k.endswith('num_batches_tracked')}
    state['module.linear.weight'] = torch.randn(10, 64)
    state['module.linear.bias'] = torch.randn(10)
    return {'state_dict': state, 'best_prec1': 90.0}


@pytest.mark.parametrize('outer_key', ['state_dict', 'model'])
def test_plain_state_dict_with_prefix_map(outer_key, images, tmp_path):
    net = perturb(CIFARResNet(depth=20))
    state = cifar_th(net)['state_dict']  # no num_batches_tracked: tolerated
    path = save({outer_key: state}, tmp_path / 'plain.pth')
    teacher = FrozenTeacher(BACKBONE, checkpoint=path, source='state_dict',
                            prefix_map=CIFAR_MAP)
    assert torch.equal(teacher(images), gap(net(images)))
    assert teacher.embed_dim == 64


def test_apply_prefix_map():
    state = {'a.x': 1, 'a.b.x': 2, 'c.x': 3}
    assert apply_prefix_map(state, {'a.': 'p.', 'a.b.': None}) == {
        'p.x': 1, 'c.x': 3}
    assert apply_prefix_map(state, {'': 'q.'}) == {
        'q.a.x': 1, 'q.a.b.x': 2, 'q.c.x': 3}
    with pytest.raises(ValueError, match="'a.x' and 'c.x'"):
        apply_prefix_map(state, {'a.': '', 'c.': '', 'a.b.': None})


def read_cifar_test(per_class: int):
    """The first ``per_class`` test images of each class, ImageNet-
    normalised RGB, and their labels (sorted folders = CIFAR-10 order)."""
    mean = np.array([123.675, 116.28, 103.53], dtype=np.float32)
    std = np.array([58.395, 57.12, 57.375], dtype=np.float32)
    imgs, labels = [], []
    for label, folder in enumerate(sorted(CIFAR_TEST.iterdir())):
        for file in sorted(folder.iterdir())[:per_class]:
            rgb = cv2.imread(str(file))[..., ::-1].astype(np.float32)
            imgs.append((rgb - mean) / std)
            labels.append(label)
    x = torch.from_numpy(np.stack(imgs)).permute(0, 3, 1, 2).contiguous()
    return x, torch.tensor(labels)


def test_shared_cifar_resnet56(images):
    path = WEIGHTS / 'resnet56-4bfd9763.th'
    if not path.exists():
        pytest.skip(f'{path} not present (shared CIFAR ResNet weights)')
    teacher = FrozenTeacher(dict(type='CIFARResNet', depth=56),
                            checkpoint=str(path), source='state_dict',
                            prefix_map=CIFAR_MAP)
    th = torch.load(path, map_location='cpu', weights_only=True)
    net = CIFARResNet(depth=56).eval()
    net.load_state_dict({k.removeprefix('module.'): v
                         for k, v in th['state_dict'].items()
                         if not k.startswith('module.linear.')},
                        strict=False)
    assert torch.equal(teacher(images), gap(net(images)))
    assert teacher.embed_dim == 64
    if not CIFAR_TEST.is_dir():
        pytest.skip(f'{CIFAR_TEST} not present: accuracy not checked')
    # the file's classifier on the teacher's features: 83.2 % on all of
    # cifar10/test; a wrong shortcut, key or normalisation gives ~10 %
    x, labels = read_cifar_test(per_class=20)
    logits = F.linear(teacher(x), th['state_dict']['module.linear.weight'],
                      th['state_dict']['module.linear.bias'])
    assert (logits.argmax(1) == labels).float().mean() > 0.7


# ---------------------------------------------------------------------------
# mismatched keys, missing and unsafe files


def test_mismatch_lists_missing_and_unexpected_keys(tmp_path):
    path = save(cifar_th(CIFARResNet(depth=20)), tmp_path / 'r20.th')
    with pytest.raises(RuntimeError) as err:
        FrozenTeacher(BACKBONE, NECK, checkpoint=path, source='state_dict',
                      prefix_map={'module.': 'backbone.'})
    msg = str(err.value)
    assert repr(path) in msg
    assert '10 missing keys' in msg and 'neck.fc0.weight' in msg
    assert 'neck.bn0.num_batches_tracked' not in msg  # tolerated
    assert '2 unexpected keys' in msg and 'backbone.linear.weight' in msg

    with pytest.raises(RuntimeError) as err:  # deeper teacher: many missing
        FrozenTeacher(dict(type='CIFARResNet', depth=56), checkpoint=path,
                      source='state_dict', prefix_map=CIFAR_MAP)
    assert '180 missing keys' in str(err.value)
    assert '... and 160 more' in str(err.value)


def test_mismatched_shapes_and_strict_false(images, tmp_path):
    model = ssl_model('MoCoV3')
    path = save({'state_dict': model.state_dict()}, tmp_path / 'moco.pth')
    wide = dict(NECK, hid_channels=48)
    with pytest.raises(RuntimeError, match=r'shape mismatches:\n +neck.fc0'
                       r'.weight: file \(32, 64\), teacher \(48, 64\)'):
        FrozenTeacher(BACKBONE, wide, checkpoint=path, source='mmpretrain')
    teacher = FrozenTeacher(BACKBONE, wide, checkpoint=path,
                            source='mmpretrain', strict=False)
    assert torch.equal(teacher.backbone(images)[-1],
                       model.backbone(images)[-1])


def test_missing_file_names_path_and_config_key(tmp_path):
    path = str(tmp_path / 'no_such_teacher.pth')
    with pytest.raises(FileNotFoundError, match='no_such_teacher.pth') as err:
        FrozenTeacher(BACKBONE, checkpoint=path)
    assert 'checkpoint' in str(err.value)


def test_bad_source_and_backbone():
    with pytest.raises(ValueError, match="'simclr'"):
        FrozenTeacher(BACKBONE, source='simclr')
    teacher = FrozenTeacher(BACKBONE, source='timm')  # nothing to load yet
    with pytest.raises(ValueError, match='TIMMBackbone'):
        teacher.default_prefix_map()


class _RunsCode:
    """Unpickling this runs ``source`` (what a malicious file does)."""

    def __init__(self, source: str):
        self.source = source

    def __reduce__(self):
        return builtins.exec, (self.source, )


def test_unsafe_checkpoint_is_refused_unless_trusted(tmp_path):
    marker = tmp_path / 'ran'
    state = cifar_th(CIFARResNet(depth=20))
    state['payload'] = _RunsCode(f'open({str(marker)!r}, "w").close()')
    path = save(state, tmp_path / 'evil.th')
    with pytest.raises(UntrustedCheckpointError, match='exec'):
        FrozenTeacher(BACKBONE, checkpoint=path, source='state_dict',
                      prefix_map=CIFAR_MAP)
    assert not marker.exists()
    trust_checkpoints([path])  # the user vouches for this file
    FrozenTeacher(BACKBONE, checkpoint=path, source='state_dict',
                  prefix_map=CIFAR_MAP)
    assert marker.exists()


# ---------------------------------------------------------------------------
# frozen: no gradients, eval mode, not in the optimizer


class Distiller(BaseModel):
    """A student (conv + BN + linear) beside a FrozenTeacher."""

    def __init__(self, teacher_ckpt: str):
        super().__init__(init_cfg=dict(type='Kaiming', layer='Conv2d'))
        self.student = nn.Sequential(nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8),
                                     nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                                     nn.Linear(8, 64))
        self.teacher = MODELS.build(dict(
            type='FrozenTeacher', backbone=BACKBONE, checkpoint=teacher_ckpt,
            source='state_dict', prefix_map=CIFAR_MAP))

    def forward(self, inputs, data_samples=None, mode='tensor'):
        student = self.student(inputs)
        loss = (student - self.teacher(inputs)).pow(2).mean()
        return {'loss': loss} if mode == 'loss' else student


@pytest.fixture
def distiller(tmp_path) -> Distiller:
    net = perturb(CIFARResNet(depth=20))
    return Distiller(save(cifar_th(net), tmp_path / 'teacher.th'))


def test_frozen_no_grad_and_eval(distiller, images):
    teacher = distiller.teacher
    assert all(not p.requires_grad for p in teacher.parameters())
    distiller.train()
    teacher.train(True)
    assert distiller.student.training
    assert not any(m.training for m in teacher.modules())
    before = {k: v.clone() for k, v in teacher.state_dict().items()}
    out = teacher(images.requires_grad_())
    assert not out.requires_grad and out.grad_fn is None
    distiller(images, mode='loss')['loss'].backward()
    assert all(p.grad is None for p in teacher.parameters())
    assert all(torch.equal(v, teacher.state_dict()[k])
               for k, v in before.items())  # BN statistics did not move


def test_parent_init_weights_keeps_teacher_weights(distiller):
    """The parent's Kaiming init_cfg reaches the teacher's convs too."""
    before = {k: v.clone() for k, v in distiller.teacher.state_dict().items()}
    distiller.init_weights()
    after = distiller.teacher.state_dict()
    assert all(torch.equal(v, after[k]) for k, v in before.items())


def _optimized(optim_wrapper) -> set:
    return {id(p) for group in optim_wrapper.optimizer.param_groups
            for p in group['params']}


@pytest.mark.parametrize('paramwise_cfg', [None, dict(norm_decay_mult=0.)])
def test_teacher_not_in_optimizer(distiller, paramwise_cfg):
    assert OPTIM_WRAPPER_CONSTRUCTORS.get(
        'DefaultOptimWrapperConstructor') is DefaultOptimWrapperConstructor
    cfg = dict(optimizer=dict(type='SGD', lr=0.1, momentum=0.9,
                              weight_decay=1e-4))
    if paramwise_cfg:
        cfg['paramwise_cfg'] = paramwise_cfg
    optimized = _optimized(build_optim_wrapper(distiller, cfg))
    assert optimized == {id(p) for p in distiller.student.parameters()}
    if not paramwise_cfg:  # MMEngine's own constructor takes the teacher in
        cfg['constructor'] = 'mmengine.DefaultOptimWrapperConstructor'
        mmengine_optimized = _optimized(build_optim_wrapper(distiller, cfg))
        assert {id(p) for p in distiller.teacher.parameters()} <= \
            mmengine_optimized


def test_constructor_unchanged_without_teacher():
    net = CIFARResNet(depth=20)
    net.layer1.requires_grad_(False)
    cfg = dict(optimizer=dict(type='SGD', lr=0.1))
    ours = build_optim_wrapper(net, cfg).optimizer.param_groups
    cfg['constructor'] = 'mmengine.DefaultOptimWrapperConstructor'
    theirs = build_optim_wrapper(net, cfg).optimizer.param_groups
    assert [[id(p) for p in g['params']] for g in ours] == \
        [[id(p) for p in g['params']] for g in theirs]


# ---------------------------------------------------------------------------
# foundation teachers: DINOv2 (with and without registers), DINOv3


def save_layout(state: dict, path: Path, fmt: str) -> str:
    if fmt == 'safetensors':
        from safetensors.torch import save_file
        save_file({k: v.contiguous() for k, v in state.items()}, path)
        return str(path)
    return save(state, path)


@pytest.mark.parametrize('fmt', ['pth', 'safetensors'])
@pytest.mark.parametrize('layout', ['official', 'timm'])
@pytest.mark.parametrize('family', list(foundation.FAMILIES))
def test_foundation_teacher_layouts(family, layout, fmt, tmp_path):
    """A tiny DINOv2 / DINOv2-reg / DINOv2-giant (SwiGLU) / DINOv3 /
    DINOv3-qkvb saved in the official layout or timm's, as .pth or
    .safetensors, loads into a FoundationViT teacher that gives timm's
    own model's tokens on the same input."""
    ref = foundation.tiny_timm(family)
    name, size = foundation.FAMILIES[family]
    state = (foundation.official_state(family, ref)
             if layout == 'official' else ref.state_dict())
    path = save_layout(state, tmp_path / f'w.{fmt}', fmt)
    teacher = FrozenTeacher(
        dict(type='FoundationViT', model_name=name, img_size=size,
             outputs=('tokens', 'cls'), **foundation.SMALL),
        checkpoint=path, input_size=size,
        source=foundation.layout_of(family) if layout == 'official'
        else 'timm')
    x = torch.randn(2, 3, size, size, generator=torch.Generator()
                    .manual_seed(3))
    with torch.no_grad():
        expected = ref.forward_features(x)
    tokens, cls = teacher.forward_features(x)
    exact = layout == 'timm' or family != 'dinov2-reg'
    tol = dict(rtol=0, atol=0) if exact else {}  # cls - pos + pos
    torch.testing.assert_close(tokens, expected, **tol)
    torch.testing.assert_close(teacher(x), expected[:, 0], **tol)
    assert torch.equal(cls, teacher(x)) and teacher.embed_dim == 48


def test_dinov3_nonzero_qkv_bias_needs_the_qkvb_model(tmp_path):
    ref = foundation.tiny_timm('dinov3-qkvb')
    path = save(foundation.official_state('dinov3-qkvb', ref),
                tmp_path / 'w.pth')
    with pytest.raises(ValueError, match='qkvb'):
        FrozenTeacher(dict(type='FoundationViT',
                           model_name='vit_small_patch16_dinov3',
                           **foundation.SMALL),
                      checkpoint=path, source='dinov3')


def test_official_layout_needs_its_timm_model(tmp_path):
    ref = foundation.tiny_timm('dinov2')
    path = save(foundation.official_state('dinov2', ref), tmp_path / 'w.pth')
    with pytest.raises(ValueError, match='FoundationViT'):
        FrozenTeacher(BACKBONE, checkpoint=path, source='dinov2')
    with pytest.raises(ValueError, match='needs a timm Eva'):
        FrozenTeacher(dict(type='FoundationViT', img_size=56,
                           model_name='vit_small_patch14_dinov2',
                           **foundation.SMALL),
                      checkpoint=path, source='dinov3')


def test_bf16_weights_teacher(tmp_path):
    """weights_dtype='bfloat16': half the parameter memory, fp32 outputs
    close to the fp32 teacher's."""
    ref = foundation.tiny_timm('dinov2-reg')
    path = save(foundation.official_state('dinov2-reg', ref),
                tmp_path / 'w.pth')
    backbone = dict(type='FoundationViT', img_size=56, outputs=('map', ),
                    model_name='vit_small_patch14_reg4_dinov2',
                    **foundation.SMALL)
    fp32 = FrozenTeacher(backbone, checkpoint=path, source='dinov2')
    bf16 = FrozenTeacher(dict(backbone, weights_dtype='bfloat16'),
                         checkpoint=path, source='dinov2')
    bf16.init_weights()  # as the Runner does: reloads, stays bf16
    assert {p.dtype for p in bf16.parameters()} == {torch.bfloat16}
    nbytes = [sum(p.numel() * p.element_size() for p in t.parameters())
              for t in (fp32, bf16)]
    assert nbytes[1] * 2 == nbytes[0]
    x = torch.randn(2, 3, 56, 56)
    (out, ), (expected, ) = bf16.forward_features(x), fp32.forward_features(x)
    assert out.dtype == torch.float32 and out.shape == (2, 48, 4, 4)
    assert F.cosine_similarity(out.flatten(1), expected.flatten(1)).min() \
        > 0.99
