"""tools/model_converters/extract_backbone.py: a sub-model's backbone as a
backbone-only state dict that loads with weights_only=True and gives the
same features as inside the model."""
import importlib.util
from pathlib import Path

import pytest
import torch
from mmengine.registry import DefaultScope

from mmssl_kd.compat import UntrustedCheckpointError, untrust_all
from mmssl_kd.registry import MODELS

REPO = Path(__file__).resolve().parents[2]
TOOL = REPO / 'tools' / 'model_converters' / 'extract_backbone.py'


@pytest.fixture(autouse=True)
def no_trusted_files():
    yield
    untrust_all()


def load_tool():
    spec = importlib.util.spec_from_file_location('extract_backbone', TOOL)
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    return tool


def peer(depth: int) -> dict:
    return dict(backbone=dict(type='CIFARResNet', depth=depth),
                neck=dict(type='NonLinearNeck', in_channels=64,
                          hid_channels=16, out_channels=8, with_bias=False,
                          with_last_bn=False, with_last_bias=True,
                          norm_cfg=dict(type='BN1d')))


@pytest.fixture
def dogo_checkpoint(tmp_path):
    torch.manual_seed(0)
    with DefaultScope.overwrite_default_scope('mmssl_kd'):
        model = MODELS.build(dict(type='DoGo', model1=peer(20),
                                  model2=peer(32)))
    model.train()
    model.loss([torch.randn(4, 3, 32, 32) for _ in range(4)])  # BN stats
    path = tmp_path / 'epoch_1.pth'
    torch.save(dict(state_dict=model.state_dict(),
                    meta=dict(epoch=1, iter=7)), path)
    return model.eval(), path


@pytest.mark.parametrize('part,depth', [('backbone', 20), ('peer', 32)])
def test_extracted_backbone_gives_the_same_features(dogo_checkpoint,
                                                    tmp_path, part, depth):
    model, ckpt = dogo_checkpoint
    out = tmp_path / f'{part}.pth'
    load_tool().main([str(ckpt), str(out), '--part', part])
    saved = torch.load(out, weights_only=True)
    assert saved['meta']['part'] == part and saved['meta']['iter'] == 7
    with DefaultScope.overwrite_default_scope('mmssl_kd'):
        backbone = MODELS.build(dict(type='CIFARResNet', depth=depth))
    backbone.load_state_dict(saved['state_dict'], strict=True)
    backbone.eval()
    inside = model.backbone if part == 'backbone' else model.peer.backbone
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(backbone(x)[-1], inside(x)[-1])


def test_refuses_to_overwrite_and_names_parts(dogo_checkpoint, tmp_path,
                                              capsys):
    _, ckpt = dogo_checkpoint
    out = tmp_path / 'out.pth'
    out.write_bytes(b'keep me')
    with pytest.raises(SystemExit):
        load_tool().main([str(ckpt), str(out)])
    assert 'pass --force' in capsys.readouterr().err
    assert out.read_bytes() == b'keep me'
    with pytest.raises(SystemExit):
        load_tool().main([str(ckpt), str(tmp_path / 'x.pth'),
                          '--part', 'teacher'])
    err = capsys.readouterr().err
    assert "'teacher.backbone.'" in err and "'peer'" in err


def save_checkpoint(path, backbone, part, model_cfg=None):
    """An mmssl_kd-like checkpoint holding ``backbone`` under ``part`` (and
    a config text in ``meta['cfg']``, as MMEngine writes it)."""
    prefix = 'backbone.' if part == 'backbone' else f'{part}.backbone.'
    meta = dict(epoch=1)
    if model_cfg is not None:
        meta['cfg'] = f'model = {model_cfg!r}\n'
    torch.save(dict(state_dict={prefix + k: v for k, v in
                                backbone.state_dict().items()}, meta=meta),
               path)


def printed_code(out: str) -> str:
    """The lines after 'Load it with:' that the tool printed."""
    return out.split('Load it with:\n', 1)[1]


def test_layout_timm_resnet_loads_with_plain_create_model(tmp_path, capsys):
    """The exported file is timm's own state dict: no wrapper, no
    classifier, a strict load (it was {'state_dict', 'meta'})."""
    import timm
    from mmpretrain.models import ResNet
    torch.manual_seed(0)
    resnet = ResNet(depth=18)
    resnet.init_weights()
    resnet.eval()
    ckpt, out = tmp_path / 'epoch_1.pth', tmp_path / 'timm.pth'
    save_checkpoint(ckpt, resnet, 'backbone')
    load_tool().main([str(ckpt), str(out), '--layout', 'timm'])
    code = printed_code(capsys.readouterr().out)
    assert "timm.create_model('resnet18', pretrained=False, num_classes=0)" \
        in code
    model = timm.create_model('resnet18', pretrained=False, num_classes=0)
    model.load_state_dict(torch.load(out))  # strict
    model.eval()
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(model.forward_features(x), resnet(x)[-1])
    scope = {}
    exec(code, scope)  # the printed lines themselves work
    assert isinstance(scope['model'], torch.nn.Module)


def test_layout_timm_vit_small_loads_with_plain_create_model(tmp_path,
                                                              capsys):
    """A ViT-S/16 (heads read from the checkpoint's config) loads into
    ``timm.create_model('vit_small_patch16_224')`` strictly."""
    import timm
    from mmpretrain.models import VisionTransformer
    torch.manual_seed(0)
    cfg = dict(type='SDSSL', backbone=dict(type='MultiLayerCLSViT',
                                           arch='deit-s', img_size=224))
    vit = VisionTransformer(arch='deit-s', img_size=224, patch_size=16,
                            out_type='raw')
    vit.init_weights()
    vit.eval()
    ckpt, out = tmp_path / 'epoch_1.pth', tmp_path / 'timm.pth'
    save_checkpoint(ckpt, vit, 'backbone', cfg)
    load_tool().main([str(ckpt), str(out), '--layout', 'timm'])
    code = printed_code(capsys.readouterr().out)
    assert "timm.create_model('vit_small_patch16_224', pretrained=False, " \
        'num_classes=0)' in code
    model = timm.create_model('vit_small_patch16_224', pretrained=False,
                              num_classes=0)
    model.load_state_dict(torch.load(out))  # strict
    model.eval()
    x = torch.randn(1, 3, 224, 224)
    with torch.no_grad():
        torch.testing.assert_close(model.forward_features(x), vit(x)[0])


@pytest.mark.parametrize('layout', ['timm', 'torchvision'])
def test_small_vit_loads_by_the_printed_lines(tmp_path, capsys, layout):
    """A demo-sized ViT (width 96, 3 heads: not the 64-wide heads of the
    named models) loads strictly by the printed lines, and gives the same
    tokens as the MMPretrain backbone."""
    from mmpretrain.models import VisionTransformer
    torch.manual_seed(0)
    arch = dict(embed_dims=96, num_layers=2, num_heads=3,
                feedforward_channels=384)
    vit = VisionTransformer(arch=arch, img_size=32, patch_size=4,
                            out_type='raw')
    vit.init_weights()
    vit.eval()
    ckpt, out = tmp_path / 'epoch_1.pth', tmp_path / f'{layout}.pth'
    save_checkpoint(ckpt, vit, 'peer', dict(
        type='DoGo', model2=dict(backbone=dict(type='VisionTransformer',
                                               arch=arch))))
    load_tool().main([str(ckpt), str(out), '--part', 'peer',
                      '--layout', layout])
    code = printed_code(capsys.readouterr().out)
    assert 'num_heads=3' in code
    scope = {}
    exec(code.replace('model.load_state_dict', 'result = model.'
                      'load_state_dict'), scope)
    model = scope['model'].eval()
    assert not scope['result'].missing_keys
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        if layout == 'timm':
            tokens = model.forward_features(x)
        else:
            tokens = model.encoder(torch.cat(
                [model.class_token.expand(2, -1, -1),
                 model._process_input(x)], dim=1))
        torch.testing.assert_close(tokens, vit(x)[0])


def test_heads_come_from_the_config_text_without_running_it(tmp_path):
    marker = tmp_path / 'ran'
    text = (f'open({str(marker)!r}, "w")\n'
            "model = dict(type='DoGo', model1=dict(backbone=dict("
            "type='VisionTransformer', arch=dict(embed_dims=48, "
            'num_layers=1, num_heads=4))))\n')
    state = {'cls_token': torch.zeros(1, 1, 48),
             'layers.0.attn.qkv.weight': torch.zeros(144, 48)}
    assert load_tool().num_heads_from_config(text, state) == 4
    assert not marker.exists()
    # an arch name outside its class's arch_zoo: MoCo v3's ViT-S has 12
    # heads of 32 channels, not the 6 of timm's vit_small
    mocov3 = ("model = dict(type='MoCoV3', backbone=dict(type='MoCoV3ViT', "
              "arch='mocov3-small', img_size=224, patch_size=16))\n")
    state = {'cls_token': torch.zeros(1, 1, 384),
             **{f'layers.{i}.attn.qkv.weight': torch.zeros(1)
                for i in range(12)}}
    assert load_tool().num_heads_from_config(mocov3, state) == 12


def test_vit_without_config_needs_num_heads(tmp_path, capsys):
    from mmpretrain.models import VisionTransformer
    vit = VisionTransformer(arch=dict(embed_dims=48, num_layers=1,
                                      num_heads=3, feedforward_channels=192),
                            img_size=32, patch_size=8)
    ckpt, out = tmp_path / 'epoch_1.pth', tmp_path / 'timm.pth'
    save_checkpoint(ckpt, vit, 'backbone')
    with pytest.raises(SystemExit):
        load_tool().main([str(ckpt), str(out), '--layout', 'timm'])
    assert '--num-heads' in capsys.readouterr().err and not out.exists()
    load_tool().main([str(ckpt), str(out), '--layout', 'timm',
                      '--num-heads', '3'])
    assert 'num_heads=3' in capsys.readouterr().out


@pytest.mark.parametrize('layout', ['timm', 'torchvision', 'onnx'])
def test_cifar_resnet_and_unknown_layouts_are_refused(dogo_checkpoint,
                                                      tmp_path, capsys,
                                                      layout):
    """timm and torchvision have no CIFAR ResNet-20 (it was written with
    ImageNet-less keys all the same); a layout no library has is refused
    by the parser."""
    _, ckpt = dogo_checkpoint
    out = tmp_path / 'out.pth'
    with pytest.raises(SystemExit):
        load_tool().main([str(ckpt), str(out), '--layout', layout])
    err = capsys.readouterr().err
    assert ('no model for this ResNet' in err if layout != 'onnx'
            else 'invalid choice' in err), err
    assert not out.exists()


class _RunsCode:
    """Unpickling this runs ``source`` (what a malicious checkpoint does)."""

    def __init__(self, source: str):
        self.source = source

    def __reduce__(self):
        return exec, (self.source, )


def test_trusts_only_the_named_checkpoint(dogo_checkpoint, tmp_path):
    """--trust-checkpoint PATH, as every tool takes it (it was a bare flag
    here, and the loader's advice named a path)."""
    _, ckpt = dogo_checkpoint
    marker = tmp_path / 'ran'
    checkpoint = torch.load(ckpt, weights_only=True)
    checkpoint['meta']['note'] = _RunsCode(f'open({str(marker)!r}, "w")')
    evil = tmp_path / 'evil.pth'
    torch.save(checkpoint, evil)
    out = tmp_path / 'backbone.pth'
    tool = load_tool()
    with pytest.raises(UntrustedCheckpointError, match='--trust-checkpoint'):
        tool.main([str(evil), str(out), '--trust-checkpoint', str(ckpt)])
    assert not marker.exists() and not out.exists()
    tool.main([str(evil), str(out), '--trust-checkpoint', str(evil)])
    assert marker.exists() and out.is_file()


# ---------------------------------------------------------------------------
# TimmBackbone and TorchvisionBackbone: back to their library's own names


def trained(backbone: torch.nn.Module) -> torch.nn.Module:
    """``backbone`` with every float tensor moved off its initial value
    (what training does), in eval mode."""
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for value in backbone.state_dict().values():
            if value.is_floating_point():
                value.mul_(1 + 0.1 * torch.randn(value.shape,
                                                  generator=gen))
    return backbone.eval()


@pytest.mark.parametrize('features_only', [False, True])
def test_timm_backbone_exports_to_timm(tmp_path, capsys, features_only):
    """A trained TimmBackbone student (a MobileNetV4 with a builder
    argument) loads strictly into the printed ``timm.create_model`` and
    gives the same embedding and stage maps."""
    import timm
    with DefaultScope.overwrite_default_scope('mmssl_kd'):
        cfg = dict(type='TimmBackbone', model_name='mobilenetv4_conv_small',
                   features_only=features_only, drop_rate=0.0)
        backbone = trained(MODELS.build(cfg))
        teacher = dict(type='TimmBackbone', model_name='resnet18')
    ckpt, out = tmp_path / 'epoch_1.pth', tmp_path / 'timm.pth'
    save_checkpoint(ckpt, backbone, 'backbone',
                    dict(type='SEED', backbone=cfg,
                         teacher=dict(type='FrozenTeacher',
                                      backbone=teacher)))
    load_tool().main([str(ckpt), str(out), '--layout', 'timm'])
    code = printed_code(capsys.readouterr().out)
    assert ("timm.create_model('mobilenetv4_conv_small', pretrained=False, "
            'num_classes=0, drop_rate=0.0)') in code
    model = timm.create_model('mobilenetv4_conv_small', pretrained=False,
                              num_classes=0, drop_rate=0.0)
    model.load_state_dict(torch.load(out, weights_only=True))  # strict
    model.eval()
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        if features_only:
            expected = model.forward_intermediates(x, intermediates_only=True)
        else:
            expected = [model(x)]
        for got, want in zip(backbone(x), expected, strict=True):
            torch.testing.assert_close(got, want, rtol=0, atol=0)


def test_torchvision_backbone_exports_to_torchvision(tmp_path, capsys):
    import torchvision

    from mmssl_kd.models.backbones import TorchvisionBackbone
    backbone = trained(TorchvisionBackbone('mobilenet_v3_small'))
    ckpt, out = tmp_path / 'epoch_1.pth', tmp_path / 'tv.pth'
    save_checkpoint(ckpt, backbone, 'peer')  # no config: --model-name
    with pytest.raises(SystemExit):
        load_tool().main([str(ckpt), str(out), '--part', 'peer',
                          '--layout', 'torchvision'])
    assert '--model-name' in capsys.readouterr().err and not out.exists()
    with pytest.raises(SystemExit):  # a torchvision model is not timm's
        load_tool().main([str(ckpt), str(out), '--part', 'peer',
                          '--layout', 'timm'])
    assert '--layout torchvision' in capsys.readouterr().err
    load_tool().main([str(ckpt), str(out), '--part', 'peer', '--layout',
                      'torchvision', '--model-name', 'mobilenet_v3_small'])
    code = printed_code(capsys.readouterr().out)
    assert "setattr(model.get_submodule('classifier'), '3'" in code
    scope = {}
    exec(code.replace('model.load_state_dict', 'result = model.'
                      'load_state_dict'), scope)  # the printed lines
    model = scope['model'].eval()
    assert not scope['result'].missing_keys
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(model(x), backbone(x)[0], rtol=0, atol=0)
    assert isinstance(model, torchvision.models.MobileNetV3)


# ---------------------------------------------------------------------------
# --layout mmdet: a ResNet student of any kind as MMDetection's ResNet

# The exported stages are compared with rtol=0, atol=0: MMPretrain's (and
# MMDetection's) ResNet runs the same weights through the same torch ops
# (conv2d, eval-mode batch_norm, relu, max_pool2d, the in-place residual
# add) in the same order as timm's and torchvision's, on the same CPU in
# one process, so any difference would be a wrong weight, not rounding.


def timm_stages(model: torch.nn.Module, x: torch.Tensor) -> list:
    """Stages 1-4 of a timm ResNet, by timm itself (feature_info 0 is the
    stem)."""
    return model.forward_intermediates(x, indices=[1, 2, 3, 4],
                                       intermediates_only=True)


def torchvision_stages(model: torch.nn.Module, x: torch.Tensor) -> list:
    """Stages 1-4 of a torchvision ResNet, by its own modules."""
    x = model.maxpool(model.relu(model.bn1(model.conv1(x))))
    out = []
    for i in range(1, 5):
        x = getattr(model, f'layer{i}')(x)
        out.append(x)
    return out


def export_mmdet(tmp_path, capsys, backbone, part='backbone', cfg=None):
    """``backbone`` saved in a training checkpoint, exported with
    ``--layout mmdet``: ``(state_dict, meta, printed)``."""
    ckpt, out = tmp_path / 'epoch_1.pth', tmp_path / 'det.pth'
    save_checkpoint(ckpt, backbone, part, cfg)
    load_tool().main([str(ckpt), str(out), '--part', part,
                      '--layout', 'mmdet'])
    saved = torch.load(out, weights_only=True)
    assert set(saved) == {'state_dict', 'meta'}
    return saved['state_dict'], saved['meta'], capsys.readouterr().out


def loaded_resnet(cls, depth: int, weights: dict) -> torch.nn.Module:
    """``cls(depth)`` (MMPretrain's or MMDetection's ResNet) returning
    stages 1-4, with ``weights`` loaded strictly, in eval mode."""
    resnet = cls(depth=depth, out_indices=(0, 1, 2, 3))
    resnet.load_state_dict(weights)  # strict
    resnet.eval()  # its train() returns None
    return resnet


@pytest.mark.parametrize('features_only', [False, True])
def test_timm_resnet_student_exports_to_mmdet(tmp_path, capsys,
                                              features_only):
    """A trained TimmBackbone ResNet-18 (pooled, or features_only: the same
    timm_model.* keys) loads strictly into ResNet(depth=18) and gives timm's
    own stage maps; the printed config names the depth and the FPN's
    ResNet-18 in_channels."""
    from mmpretrain.models import ResNet
    cfg = dict(type='TimmBackbone', model_name='resnet18',
               features_only=features_only)
    if features_only:
        cfg['out_indices'] = (-1, )
    with DefaultScope.overwrite_default_scope('mmssl_kd'):
        backbone = trained(MODELS.build(cfg))
    weights, meta, printed = export_mmdet(tmp_path, capsys, backbone,
                                          cfg=dict(type='SEED',
                                                   backbone=cfg))
    assert meta['layout'] == 'mmdet' and meta['depth'] == 18
    assert "backbone=dict(type='ResNet', depth=18, init_cfg=dict(" \
        "type='Pretrained', checkpoint=" in printed
    assert 'in_channels=[64, 128, 256, 512]' in printed
    assert 'loads strictly into mmpretrain.models.ResNet(depth=18)' \
        in printed or 'mmdet.models.backbones.ResNet(depth=18)' in printed
    resnet = loaded_resnet(ResNet, 18, weights)
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        own = timm_stages(backbone.timm_model, x)
        for got, want in zip(resnet(x), own, strict=True):
            torch.testing.assert_close(got, want, rtol=0, atol=0)
        student = backbone(x)[0]  # what the student itself returned
        if features_only:
            torch.testing.assert_close(student, own[-1], rtol=0, atol=0)
        else:  # timm's average pool: a mean, maybe summed otherwise
            torch.testing.assert_close(student, own[-1].mean((2, 3)))


def test_torchvision_resnet50_student_exports_to_mmdet(tmp_path, capsys):
    from mmpretrain.models import ResNet

    from mmssl_kd.models.backbones import TorchvisionBackbone
    backbone = trained(TorchvisionBackbone('resnet50'))
    weights, meta, printed = export_mmdet(tmp_path, capsys, backbone,
                                          part='peer')
    assert meta['depth'] == 50 and meta['part'] == 'peer'
    assert "type='ResNet', depth=50," in printed
    assert 'in_channels=[256, 512, 1024, 2048]' in printed
    resnet = loaded_resnet(ResNet, 50, weights)
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        own = torchvision_stages(backbone.torchvision_model, x)
        for got, want in zip(resnet(x), own, strict=True):
            torch.testing.assert_close(got, want, rtol=0, atol=0)
        torch.testing.assert_close(backbone(x)[0], own[-1].mean((2, 3)))


def test_mmdet_layout_drops_a_timm_classifier():
    """A wrapped timm ResNet that kept its ``fc`` (or timm's feature
    getter's ``model.`` prefix) comes out as the bare ResNet's keys."""
    import timm
    from mmpretrain.models import ResNet

    from mmssl_kd.models.converters import convert_backbone
    model = timm.create_model('resnet18', pretrained=False)  # with fc
    state = {'timm_model.' + k: v for k, v in model.state_dict().items()}
    assert 'timm_model.fc.weight' in state
    expected = set(ResNet(depth=18).state_dict())
    assert set(convert_backbone(state, 'mmdet')) == expected
    getter = {'timm_model.model.' + k: v for k, v in
              model.state_dict().items()}
    assert set(convert_backbone(getter, 'mmdet')) == expected


@pytest.mark.parametrize('student', ['cifar', 'mobilenet', 'resnet18d'])
def test_mmdet_layout_refuses_other_backbones(dogo_checkpoint, tmp_path,
                                              capsys, student):
    """A CIFAR ResNet, a MobileNet and a deep-stem ResNet have no
    MMDetection ResNet: the message says what the backbone is and what
    --layout mmdet takes, and nothing is written."""
    ckpt, out = dogo_checkpoint[1], tmp_path / 'det.pth'
    if student != 'cifar':
        name = dict(mobilenet='mobilenetv4_conv_small').get(student, student)
        with DefaultScope.overwrite_default_scope('mmssl_kd'):
            backbone = MODELS.build(dict(type='TimmBackbone',
                                         model_name=name))
        ckpt = tmp_path / 'epoch_1.pth'
        save_checkpoint(ckpt, backbone, 'backbone')
    with pytest.raises(SystemExit):
        load_tool().main([str(ckpt), str(out), '--layout', 'mmdet'])
    err = capsys.readouterr().err
    assert "MMDetection's ResNet (--layout mmdet)" in err, err
    assert 'ResNet-18/34/50/101/152 with a 7x7 stem' in err, err
    assert {'cifar': '3 stages of [3, 3, 3] basic blocks',
            'mobilenet': 'the timm model of this backbone is not a ResNet',
            'resnet18d': 'is a ResNet with a deep stem'}[student] in err, err
    assert not out.exists()


def test_mmdet_layout_loads_into_mmdetection(tmp_path, capsys):
    """Where MMDetection imports (``.venv-det``): the file loads strictly
    into its own ResNet, which gives timm's stage maps, and the tool says
    it checked with it."""
    backbones = pytest.importorskip('mmdet.models.backbones',
                                    exc_type=ImportError)
    with DefaultScope.overwrite_default_scope('mmssl_kd'):
        backbone = trained(MODELS.build(dict(type='TimmBackbone',
                                             model_name='resnet18')))
    weights, _, printed = export_mmdet(tmp_path, capsys, backbone)
    assert 'loads strictly into mmdet.models.backbones.ResNet(depth=18)' \
        in printed
    resnet = loaded_resnet(backbones.ResNet, 18, weights)
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        for got, want in zip(resnet(x), timm_stages(backbone.timm_model, x),
                             strict=True):
            torch.testing.assert_close(got, want, rtol=0, atol=0)
