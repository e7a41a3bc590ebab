"""DenseDistill: SEED's global term and the dense term, each a switch."""
import pytest
import torch
from mmengine.registry import DefaultScope

from mmssl_kd.models.losses import DenseFeatureLoss
from mmssl_kd.registry import MODELS


def build(**kwargs):
    cfg = dict(
        type='DenseDistill', queue_len=32,
        backbone=dict(type='CIFARResNet', depth=20),
        neck=dict(type='MoCoV2Neck', in_channels=64, hid_channels=64,
                  out_channels=10, with_avg_pool=True),
        teacher=dict(type='FrozenTeacher',
                     backbone=dict(type='CIFARResNet', depth=20),
                     neck=dict(type='LinearNeck', in_channels=64,
                               out_channels=10, gap_dim=2, norm_cfg=None)),
        dense_neck=dict(type='DenseProjector', in_channels=64,
                        out_channels=64))
    cfg.update(kwargs)
    torch.manual_seed(0)
    with DefaultScope.overwrite_default_scope('mmssl_kd'):
        return MODELS.build(cfg)


def test_teacher_embedding_is_the_head_of_its_features():
    teacher = build().teacher
    x = torch.randn(2, 3, 32, 32)
    features = teacher.forward_features(x)
    assert features[-1].shape == (2, 64, 8, 8)
    torch.testing.assert_close(teacher(x), teacher.forward_head(features))


def test_dense_only_is_the_feature_loss_and_freezes_the_global_head():
    model = build(global_weight=0., dense_weight=2.)
    x = torch.randn(4, 3, 32, 32)
    losses = model([x], None, mode='loss')
    assert set(losses) == {'loss_dense'}
    with torch.no_grad():
        expected = DenseFeatureLoss()(
            model.dense_neck(model.backbone(x)[-1]),
            model.teacher.backbone(x)[-1])
    assert losses['loss_dense'].item() == pytest.approx(
        2 * expected.item(), rel=1e-5)
    assert not any(p.requires_grad for p in model.neck.parameters())
    assert int(model.queue.ptr) == 0  # the queue is not used
    losses['loss_dense'].backward()
    assert model.dense_neck.proj.weight.grad.abs().sum() > 0


def test_global_only_is_seed_and_freezes_the_dense_head():
    model = build(global_weight=1., dense_weight=0.)
    losses = model([torch.randn(4, 3, 32, 32)], None, mode='loss')
    assert set(losses) == {'loss_global'}
    # under DDP a trainable parameter without a gradient stops the step
    assert not any(p.requires_grad for p in model.dense_neck.parameters())
    assert all(p.requires_grad for p in model.neck.parameters())


def test_global_and_dense_adds_seed_terms():
    x = torch.randn(4, 3, 32, 32)
    both = build(global_weight=1., dense_weight=1.)
    seed_only = build(global_weight=1., dense_weight=0.)
    losses = both([x], None, mode='loss')
    assert set(losses) == {'loss_global', 'loss_dense'}
    assert seed_only([x], None, mode='loss')['loss_global'].item() == \
        pytest.approx(losses['loss_global'].item(), rel=1e-6)
    assert int(both.queue.ptr) == 4  # the teacher embeddings enqueued


def test_bad_settings_are_refused():
    with pytest.raises(ValueError, match='not both 0'):
        build(global_weight=0., dense_weight=0.)
    with pytest.raises(ValueError, match='one view'):
        build(small_patch=True)
    model = build(dense_neck=dict(type='DenseProjector', in_channels=64,
                                  out_channels=32))
    with pytest.raises(ValueError, match="teacher's width 64"):
        model([torch.randn(2, 3, 32, 32)], None, mode='loss')


def test_foundation_teacher_gives_map_and_embedding_in_one_forward():
    """A (tiny, random) DINOv2 teacher with outputs ('map', 'cls'): the
    dense target is its patch map at its 4 x 4 grid, SEED's its [CLS]."""
    from _helpers.foundation import SMALL
    teacher = dict(type='FrozenTeacher', input_size=56,
                   backbone=dict(type='FoundationViT',
                                 model_name='vit_small_patch14_dinov2',
                                 img_size=56, outputs=('map', 'cls'),
                                 **SMALL))
    model = build(teacher=teacher,
                  neck=dict(type='MoCoV2Neck', in_channels=64,
                            hid_channels=64, out_channels=48,
                            with_avg_pool=True),
                  dense_neck=dict(type='DenseProjector', in_channels=64,
                                  out_channels=48))
    x = torch.randn(4, 3, 56, 56)
    losses = model([x], None, mode='loss')
    assert set(losses) == {'loss_global', 'loss_dense'}
    with torch.no_grad():
        target, cls = model.teacher.forward_features(x)
        assert target.shape == (4, 48, 4, 4)
        expected = DenseFeatureLoss()(
            model.dense_neck(model.backbone(x)[-1]), target)
    assert losses['loss_dense'].item() == pytest.approx(expected.item(),
                                                        rel=1e-5)
