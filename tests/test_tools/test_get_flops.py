"""tools/analysis_tools/get_flops.py: the published sizes of the CIFAR
ResNets, the parts of a CNN + ViT algorithm found from the model, the input
size from the pipeline, attention FLOPs."""
import importlib.util
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from mmengine.analysis import FlopAnalyzer
from torch import nn

from mmssl_kd.analysis import attention_flop_jit

REPO = Path(__file__).resolve().parents[2]
spec = importlib.util.spec_from_file_location(
    'get_flops', REPO / 'tools/analysis_tools/get_flops.py')
get_flops = importlib.util.module_from_spec(spec)
spec.loader.exec_module(get_flops)

SEED_CIFAR = 'configs/seed/seed_resnet20-cifar_resnet56-cifar-sup_1xb256-' \
    'coslr-200e_cifar10.py'
MOKD_DEMO = 'configs/mokd/mokd_resnet20-cifar_vit-mini-p4_1xb256-coslr-' \
    '2e_cifar10-demo.py'
SDSSL_DEMO = 'configs/sdssl/sdssl-mocov3_vit-mini-p4_1xb256-coslr-5e_' \
    'cifar10-demo.py'


def table(argv):
    return {(r.part, r.module): r for r in get_flops.main(argv)}


def test_cifar_resnets_match_published_sizes(capsys):
    """ResNet-20: 0.27M parameters, 41M FLOPs; ResNet-56: 0.85M, 125M (He
    et al. 2016; the fc layer of 650 / 650 parameters is not in the
    backbone). The teacher's file is never read."""
    rows = table([str(REPO / SEED_CIFAR), '--cfg-options',
                  'model.teacher.checkpoint=/absent/teacher.pth'])
    student, teacher = rows['student', 'backbone'], rows['teacher', 'backbone']
    assert (student.type, teacher.type) == ('CIFARResNet', 'CIFARResNet')
    assert student.params == pytest.approx(0.27e6, rel=0.01)
    assert student.flops == pytest.approx(41e6, rel=0.01)
    assert teacher.params == pytest.approx(0.85e6, rel=0.01)
    assert teacher.flops == pytest.approx(125e6, rel=0.015)
    assert student.trainable == student.params
    assert rows['teacher', 'total'].trainable == 0
    for part in ('student', 'teacher'):
        assert rows[part, 'total'].flops == rows[part, 'backbone'].flops + \
            rows[part, 'neck'].flops
    assert rows['all', 'total'].params == rows['student', 'total'].params + \
        rows['teacher', 'total'].params
    out = capsys.readouterr().out
    assert '3 x 32 x 32 image' in out  # the pipeline's crop size
    assert 'model.teacher.checkpoint=/absent/teacher.pth' in out


def test_cnn_and_vit_parts_found_from_the_model(capsys):
    """MOKD: the ViT peer and both EMA teachers; the DINO heads run on one
    vector per image, the T-Heads are counted in parameters only."""
    rows = table([str(REPO / MOKD_DEMO), '--shape', '64'])
    parts = list(dict.fromkeys(part for part, _ in rows))
    assert parts == ['student', 'peer', 'teacher', 'peer_teacher', 'all']
    assert rows['peer', 'backbone'].type == 'VisionTransformer'
    for part in ('teacher', 'peer_teacher'):
        assert rows[part, 'total'].trainable == 0
        twin = 'student' if part == 'teacher' else 'peer'
        assert (rows[part, 'total'].params, rows[part, 'total'].flops) == \
            (rows[twin, 'total'].params, rows[twin, 'total'].flops)
    assert rows['peer', 'total'].trainable > 0
    # DINOHead 96 -> 512 -> 512 -> 128 -> 1024 on the [CLS] token only
    assert rows['peer', 'neck'].flops == 96 * 512 + 512 * 512 + \
        512 * 128 + 128 * 1024
    assert rows['peer', 'head'].flops is None
    assert rows['student', 'backbone'].flops == pytest.approx(
        4 * 41e6, rel=0.01)  # 64 px: four times the 32-px FLOPs
    assert '3 x 64 x 64 image' in capsys.readouterr().out


def test_sequential_ema_target_found():
    """SDSSL's EMA target: an nn.Sequential that starts with the ViT."""
    rows = table([str(REPO / SDSSL_DEMO)])
    assert list(dict.fromkeys(part for part, _ in rows)) == [
        'student', 'target', 'all']
    assert rows['target', 'neck'].type == '_LastBlock + NonLinearNeck'
    for module in ('backbone', 'neck'):
        assert rows['target', module].flops == rows['student', module].flops
    assert rows['target', 'total'].trainable == 0
    assert rows['student', 'predictor'].flops is None


def test_attention_counts_its_two_matrix_products():
    """The fused attention counts as the written-out q k^T and attn v."""

    class Attention(nn.Module):

        def __init__(self, fused: bool):
            super().__init__()
            self.fused = fused

        def forward(self, q, k, v):
            if self.fused:
                return F.scaled_dot_product_attention(q, k, v)
            return (q @ k.transpose(-2, -1)).softmax(dim=-1) @ v

    q, k, v = torch.randn(2, 3, 5, 4), torch.randn(2, 3, 7, 4), \
        torch.randn(2, 3, 7, 6)
    counts = []
    for fused in (True, False):
        analyzer = FlopAnalyzer(Attention(fused), (q, k, v))
        analyzer.set_op_handle('aten::scaled_dot_product_attention',
                               attention_flop_jit)
        counts.append(analyzer.unsupported_ops_warnings(False).total())
    assert counts[0] == counts[1] == 2 * 3 * 5 * 7 * (4 + 6)


def test_crop_size_from_the_pipeline(tmp_path):
    crop = dict(type='RandomResizedCropWithBox', scale=(24, 16))
    pipeline = [dict(type='LoadImageFromFile'),
                dict(type='MultiView', num_views=[1, 6],
                     transforms=[[crop], [dict(crop, scale=8)]])]
    assert get_flops.crop_size(dict(dataset=dict(pipeline=pipeline))) == \
        (24, 16)
    assert get_flops.crop_size([dict(type='Resize', scale=256),
                                dict(type='CenterCrop',
                                     crop_size=(20, 10))]) == (10, 20)
    assert get_flops.crop_size([dict(type='Resize', scale=256)]) is None
    config = tmp_path / 'no_crop.py'
    config.write_text(f"_base_ = [{str(REPO / SEED_CIFAR)!r}]\n"
                      "train_dataloader = dict(dataset=dict(pipeline=[]))\n")
    with pytest.raises(SystemExit, match='--shape H W'):
        get_flops.main([str(config)])
