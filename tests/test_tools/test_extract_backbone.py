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


def test_layout_timm_writes_a_weights_only_timm_vit(tmp_path):
    """--layout timm: the file loads with weights_only=True into timm's
    VisionTransformer (classifier aside) and gives the same features."""
    import timm
    from mmpretrain.models import VisionTransformer
    torch.manual_seed(0)
    vit = VisionTransformer(arch=dict(embed_dims=48, num_layers=2,
                                      num_heads=3, feedforward_channels=192),
                            img_size=32, patch_size=8, out_type='raw')
    vit.init_weights()
    vit.eval()
    ckpt, out = tmp_path / 'epoch_1.pth', tmp_path / 'timm.pth'
    torch.save(dict(state_dict={f'peer.backbone.{k}': v for k, v in
                                vit.state_dict().items()}), ckpt)
    load_tool().main([str(ckpt), str(out), '--part', 'peer',
                      '--layout', 'timm'])
    saved = torch.load(out, weights_only=True)
    assert saved['meta']['layout'] == 'timm'
    model = timm.models.vision_transformer.VisionTransformer(
        img_size=32, patch_size=8, embed_dim=48, depth=2, num_heads=3,
        num_classes=0)
    missing, unexpected = model.load_state_dict(saved['state_dict'],
                                                strict=False)
    assert not unexpected and all(k.startswith('head') for k in missing)
    model.eval()
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(model.forward_features(x), vit(x)[0])


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
