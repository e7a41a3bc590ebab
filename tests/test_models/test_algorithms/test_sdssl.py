"""SDSSL: the multi-layer ViT (every block through the final norm), the
loss terms against hand computations, where gradients stop, the lambda
ramp, the EMA teacher's scope, and the gathered losses on 2 processes."""
import math

import pytest
import torch
import torch.nn.functional as F
from _helpers.dist import mean_over_ranks
from mmengine.logging import MessageHub
from mmengine.registry import DefaultScope

from mmssl_kd.models.losses.self_distill import (
    byol_loss,
    final_target_nce,
    moco_nce,
)
from mmssl_kd.models.utils.schedules import cosine_schedule
from mmssl_kd.registry import MODELS

WORLD = 2


def tiny_vit(depth: int = 4, img_size: int = 16, patch_size: int = 4,
             **kwargs) -> dict:
    return dict(type='MultiLayerCLSViT',
                arch=dict(embed_dims=24, num_layers=depth, num_heads=2,
                          feedforward_channels=48),
                img_size=img_size, patch_size=patch_size, **kwargs)


def build(cfg: dict):
    torch.manual_seed(0)
    with DefaultScope.overwrite_default_scope('mmssl_kd'):
        return MODELS.build(cfg)


PROJ = dict(type='NonLinearNeck', in_channels=24, hid_channels=32,
            out_channels=16, num_layers=3, with_bias=False, with_last_bn=True,
            with_last_bn_affine=False, with_last_bias=False,
            with_avg_pool=False, norm_cfg=dict(type='BN1d'))
PRED = dict(PROJ, in_channels=16, num_layers=2)


def sdssl(base: str = 'mocov3', depth: int = 4, **kwargs):
    return build(dict(type='SDSSL', backbone=tiny_vit(depth), neck=PROJ,
                      predictor=None if base == 'simclr' else PRED,
                      base=base, **kwargs))


def two_views(seed: int = 1, size: int = 16):
    gen = torch.Generator().manual_seed(seed)
    return [torch.randn(4, 3, size, size, generator=gen) for _ in range(2)]


# ---------------------------------------------------------------------------
# MultiLayerCLSViT


@pytest.mark.parametrize('depth,img_size,patch_size', [
    (6, 32, 4),      # CIFAR, 8 x 8 tokens
    (12, 32, 4),
    (2, 224, 16),    # ImageNet size, 14 x 14 tokens
])
def test_every_block_goes_through_the_final_norm(depth, img_size,
                                                 patch_size):
    vit = build(tiny_vit(depth, img_size, patch_size))
    vit.eval()  # (VisionTransformer.train returns None)
    x = torch.randn(2, 3, img_size, img_size)
    with torch.no_grad():
        outs = vit(x)
        # by hand: tokens, then every block, final norm on each CLS token
        tokens, _ = vit.patch_embed(x)
        tokens = torch.cat([vit.cls_token.expand(2, -1, -1), tokens], dim=1)
        tokens = tokens + vit.pos_embed
        expected = []
        for layer in vit.layers:
            tokens = layer(tokens)
            expected.append(vit.ln1(tokens[:, 0]))
    assert len(outs) == depth
    for out, ref in zip(outs, expected):
        assert out.shape == (2, 24)
        torch.testing.assert_close(out, ref)


def test_last_block_is_the_plain_vit_cls_token():
    from mmpretrain.models.backbones import VisionTransformer
    vit = build(tiny_vit(3))
    plain = VisionTransformer(arch=tiny_vit(3)['arch'], img_size=16,
                              patch_size=4)
    vit.eval()
    plain.eval()
    plain.load_state_dict(vit.state_dict())  # same keys
    x = torch.randn(2, 3, 16, 16)
    with torch.no_grad():
        torch.testing.assert_close(vit(x)[-1], plain(x)[0])


def test_out_indices_and_fixed_arguments():
    vit = build(tiny_vit(4, out_indices=(-1, 1)))
    assert vit.out_indices == [1, 3]
    assert len(vit(torch.randn(1, 3, 16, 16))) == 2
    with pytest.raises(ValueError, match='fixes out_type'):
        build(tiny_vit(4, out_type='avg_featmap'))
    with pytest.raises(ValueError, match=r'depth 4'):
        build(tiny_vit(4, out_indices=(4, )))


# ---------------------------------------------------------------------------
# loss functions against hand computations


def test_moco_nce_by_hand():
    gen = torch.Generator().manual_seed(0)
    q, k = torch.randn(3, 5, generator=gen), torch.randn(3, 5, generator=gen)
    qn, kn = F.normalize(q, dim=1), F.normalize(k, dim=1)
    tau = 0.2
    total = 0.
    for i in range(3):
        logits = [float(qn[i] @ kn[j]) / tau for j in range(3)]
        total -= logits[i] - math.log(sum(math.exp(v) for v in logits))
    assert moco_nce(q, k, tau).item() == pytest.approx(
        2 * tau * total / 3, rel=1e-5)


def test_byol_loss_by_hand():
    p, z = torch.tensor([[1., 0.], [0., 2.]]), torch.tensor([[1., 1.],
                                                             [0., 1.]])
    # cos = 1/sqrt(2) and 1
    assert byol_loss(p, z).item() == pytest.approx(
        ((2 - 2 / math.sqrt(2)) + 0.) / 2, rel=1e-6)


def test_final_target_nce_by_hand():
    """Positive: other view's final output; own-view final masked out."""
    gen = torch.Generator().manual_seed(0)
    q = torch.randn(3, 4, generator=gen)
    finals = [torch.randn(3, 4, generator=gen) for _ in range(2)]
    tau = 0.2
    qn = F.normalize(q, dim=1)
    keys = torch.cat([F.normalize(f, dim=1) for f in finals])
    for view in (0, 1):
        total = 0.
        for i in range(3):
            scores = {j: float(qn[i] @ keys[j]) / tau for j in range(6)
                      if j != i + 3 * view}
            pos = i + 3 * (1 - view)
            total -= scores[pos] - math.log(sum(math.exp(v)
                                                for v in scores.values()))
        assert final_target_nce(q, finals, view, tau).item() == \
            pytest.approx(total / 3, rel=1e-5)


def test_cosine_ramp_start_middle_end():
    """lambda(t) = end (1 - cos(pi t / T)) / 2."""
    model = sdssl(inter_weight=0.8)
    assert model.schedules(0, 0, 100) == dict(inter_weight=0.)
    assert model.schedules(50, 0, 100)['inter_weight'] == pytest.approx(0.4)
    assert model.schedules(100, 0, 100)['inter_weight'] == pytest.approx(0.8)
    assert cosine_schedule(25, 100, 0., 1.0) == pytest.approx(
        (1 - math.cos(math.pi / 4)) / 2)


def test_model_reads_the_ramp_from_the_runner_iteration():
    model = sdssl(inter_weight=0.8)
    assert model.schedules(0, 0, None) == dict(inter_weight=0.8)  # no Runner
    hub = MessageHub.get_current_instance()
    hub.update_info('max_iters', 10)
    for it, expected in [(0, 0.), (5, 0.4), (10, 0.8)]:
        hub.update_info('iter', it)
        losses = model(two_views(), mode='loss')
        assert model.step_values['inter_weight'] == pytest.approx(expected)
        if it == 0:
            assert losses['loss_inter'].item() == 0.


# ---------------------------------------------------------------------------
# the model's terms: values, gradient paths, teacher


def distance(model):
    """The base method's ``d`` (MoCo v3's 2 tau CE or BYOL's 2 - 2 cos)."""
    if model.base == 'byol':
        return byol_loss
    return lambda q, k: moco_nce(q, k, model.temperature)


def grads(model, loss):
    """Parameter name -> whether ``loss`` gives it a non-zero gradient."""
    named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    gs = torch.autograd.grad(loss, [p for _, p in named], allow_unused=True,
                             retain_graph=True)
    return {n: g is not None and bool(g.abs().sum() > 0)
            for (n, _), g in zip(named, gs)}


@pytest.mark.parametrize('base', ['mocov3', 'byol'])
def test_predictor_terms_by_hand_and_gradient_paths(base):
    model = sdssl(base, inter_weight=0.5, predictor_weight=12.)
    views = two_views()
    losses = model(views, mode='loss')
    # by hand, from the modules (the EMA teacher equals the student at
    # step 1 up to the first update, which moves nothing: same weights)
    with torch.no_grad():
        k = [model.neck((model.backbone(x)[-1], ))[0] for x in views]
        u = [[q((g((h, ))[0], ))[0] for g, q, h in zip(
            model.projectors, model.predictors, model.backbone(x))]
             for x in views]
    d = distance(model)
    final = d(u[0][-1], k[1]) + d(u[1][-1], k[0])
    inter = sum(torch.stack([d(ul, k[b]) for ul in u[a][:-1]]).mean()
                for a, b in ((0, 1), (1, 0)))
    pred = sum(torch.stack([d(ul, k[b]) for ul in u[a]]).mean()
               for a, b in ((0, 1), (1, 0)))
    assert losses['loss_final'].item() == pytest.approx(final.item(),
                                                        rel=1e-4)
    assert losses['loss_inter'].item() == pytest.approx(0.5 * inter.item(),
                                                        rel=1e-4)
    assert losses['loss_pred'].item() == pytest.approx(12 * pred.item(),
                                                       rel=1e-4)

    predictors = ('predictor.', 'inter_predictors.')
    g = grads(model, losses['loss_pred'])
    assert not any(v for n, v in g.items() if not n.startswith(predictors))
    assert any(v for n, v in g.items() if n.startswith('predictor.'))
    assert any(v for n, v in g.items() if n.startswith('inter_predictors.'))
    assert not any(n.startswith('target') for n in g)  # no grad at all
    g = grads(model, losses['loss_inter'])
    assert not any(v for n, v in g.items()
                   if n.startswith(('neck.', 'predictor.')))
    assert not any(v for n, v in g.items()
                   if n.startswith('backbone.layers.3'))
    assert any(v for n, v in g.items() if n.startswith('backbone.layers.0'))


def joint_projections(model, views):
    """SD-SimCLR's ``g_l(h_l)`` of both views put through the student as
    one batch (official ``self.student(torch.cat((x1, x2)))``), split back
    per view: ``[l][view]``."""
    blocks = model.backbone(torch.cat(views))[-len(model.projectors):]
    return [g((h, ))[0].chunk(2) for g, h in zip(model.projectors, blocks)]


@pytest.mark.parametrize('base,batches', [
    ('simclr', 1),   # pl_train_simclr.py: student(torch.cat((x1, x2)))
    ('mocov3', 2),   # pl_train_moco.py: student(x2), student(x1)
    ('byol', 2),     # pl_train_byol.py: likewise
])
def test_projector_bn_sees_the_official_batches(base, batches):
    """SD-SimCLR's projectors normalise over the joint batch of both views
    (one BN update per step); MoCo v3's and BYOL's over each view."""
    model = sdssl(base, inter_weight=1.0)
    model(two_views(), mode='loss')
    bns = [m for g in model.projectors for m in g.modules()
           if isinstance(m, torch.nn.BatchNorm1d)]
    assert bns and all(int(m.num_batches_tracked) == batches for m in bns)


def test_simclr_final_term_is_the_joint_batch_ntxent():
    """The NT-Xent of the last block from the joint-batch projections;
    per-view BN statistics give a different loss (the test can tell)."""
    model = sdssl('simclr', inter_weight=1.0)
    views = two_views()
    loss = model(views, mode='loss')['loss_final']
    with torch.no_grad():
        joint = joint_projections(model, views)[-1]
        per_view = [model.neck((model.backbone(x)[-1], ))[0] for x in views]
    expected, other = (model.ntxent(*[F.normalize(t, dim=1) for t in z])
                       for z in (joint, per_view))
    assert loss.item() == pytest.approx(expected.item(), rel=1e-5)
    assert abs(expected.item() - other.item()) > 1e-3


@pytest.mark.parametrize('base', ['mocov3', 'byol', 'simclr'])
def test_weight_zero_is_the_plain_method(base):
    """inter_weight=0: heads on the last block only and just the final
    term, e.g. MoCo v3's 2 tau CE of the predictions against the EMA keys
    (the official baselines: ratio 0, st_inter false)."""
    model = sdssl(base, inter_weight=0.)
    assert len(model.projectors) == 1 and not len(model.inter_necks)
    views = two_views()
    losses = model(views, mode='loss')
    assert set(losses) == {'loss_final'}
    with torch.no_grad():
        z = [model.neck((model.backbone(x)[-1], ))[0] for x in views]
        if base == 'simclr':
            z = joint_projections(model, views)[-1]
            expected = model.ntxent(*[F.normalize(t, dim=1) for t in z])
        else:
            u = [model.predictor((t, ))[0] for t in z]
            # the teacher is a copy of the student at the first update
            expected = distance(model)(u[0], z[1]) + distance(model)(u[1],
                                                                     z[0])
    assert losses['loss_final'].item() == pytest.approx(expected.item(),
                                                        rel=1e-4)


def test_simclr_intermediate_terms_stop_at_the_final_layer():
    model = sdssl('simclr', inter_weight=1.0)
    views = two_views()
    losses = model(views, mode='loss')
    assert set(losses) == {'loss_final', 'loss_inter'}
    with torch.no_grad():
        z = joint_projections(model, views)
    finals = [F.normalize(zv, dim=1) for zv in z[-1]]
    expected = torch.stack([
        torch.stack([final_target_nce(z[layer][a], finals, a, 0.2)
                     for a in (0, 1)]).mean() for layer in range(3)]).mean()
    assert losses['loss_inter'].item() == pytest.approx(expected.item(),
                                                        rel=1e-4)
    g = grads(model, losses['loss_inter'])
    # the final layer's targets are detached: no gradient to the last block
    # and its projector from the intermediate term
    assert not any(v for n, v in g.items()
                   if n.startswith(('neck.', 'backbone.layers.3')))
    assert any(v for n, v in g.items() if n.startswith('inter_necks.0'))


@pytest.mark.parametrize('base', ['mocov3', 'simclr'])
def test_plain_and_sd_start_from_the_same_weights(base):
    """Same seed, then init_weights as the Runner does: the backbone and the
    last block's heads are equal in SDSSL and its lambda-0 baseline."""
    from mmengine.logging import MMLogger
    MMLogger.get_instance('mmengine', log_level='WARNING')
    params = []
    for weight in (1.0, 0.):
        model = sdssl(base, inter_weight=weight)
        model.init_weights()
        params.append({k: v for k, v in model.named_parameters()
                       if not k.startswith(('inter_', 'target.'))})
    assert params[0].keys() == params[1].keys()
    for key, value in params[0].items():
        assert torch.equal(value, params[1][key]), key


@pytest.mark.parametrize('depth', [6, 12])
def test_depths_build_and_train(depth):
    model = sdssl('mocov3', depth=depth)
    assert len(model.projectors) == len(model.predictors) == depth
    losses = model(two_views(), mode='loss')
    total, _ = model.parse_losses(losses)
    total.backward()
    assert all(torch.isfinite(v) for v in losses.values())


def test_ema_teacher_is_backbone_and_final_projector_only():
    model = sdssl('byol', base_momentum=0.5)
    target = dict(model.target.module.named_parameters())
    source = dict(model._target_source().named_parameters())
    assert target.keys() == source.keys()
    assert sum(p.numel() for p in target.values()) == sum(
        p.numel() for p in [*model.backbone.parameters(),
                            *model.neck.parameters()])
    assert not any(p.requires_grad for p in target.values())
    # after the first update (a copy), an update moves the teacher by the
    # cosine-annealed momentum towards a changed student
    MessageHub.get_current_instance().update_info('max_iters', 100)
    model.target.update_parameters(model._target_source())  # step 0: copy
    before = {n: p.clone() for n, p in target.items()}
    with torch.no_grad():
        for p in model.backbone.parameters():
            p.add_(1.)
    model.target.update_parameters(model._target_source())  # step 1
    momentum = 0.5 * (math.cos(math.pi / 100) + 1) / 2
    torch.testing.assert_close(target['0.cls_token'],
                               before['0.cls_token'] + momentum)
    # the final projector is in the teacher, unchanged here
    torch.testing.assert_close(target['2.fc0.weight'],
                               before['2.fc0.weight'])


def test_config_errors():
    with pytest.raises(ValueError, match="base='byol': a predictor"):
        build(dict(type='SDSSL', backbone=tiny_vit(), neck=PROJ,
                   base='byol'))
    with pytest.raises(ValueError, match="base='simclr': no predictor"):
        build(dict(type='SDSSL', backbone=tiny_vit(), neck=PROJ,
                   predictor=PRED, base='simclr'))
    with pytest.raises(ValueError, match='base must be'):
        build(dict(type='SDSSL', backbone=tiny_vit(), neck=PROJ,
                   predictor=PRED, base='dino'))
    with pytest.raises(ValueError, match='every block'):
        build(dict(type='SDSSL', backbone=tiny_vit(out_indices=(-1, )),
                   neck=PROJ, predictor=PRED))


# ---------------------------------------------------------------------------
# gathered losses: 2 processes == 1 process on the whole batch


def gathered_losses(q1, q2, f1, f2, weight):
    """moco_nce and final_target_nce of a linear encoder; loss and gradient
    averaged over ranks as DDP does."""
    weight = weight.clone().requires_grad_()
    loss = moco_nce(q1 @ weight, f2, 0.2) + final_target_nce(
        q2 @ weight, [f1, f2], 1, 0.2)
    loss.backward()
    return mean_over_ranks(loss.detach(), weight.grad)


def problem():
    gen = torch.Generator().manual_seed(0)
    return [torch.randn(8, 5, generator=gen) for _ in range(2)] + \
        [torch.randn(8, 4, generator=gen) for _ in range(2)] + \
        [torch.randn(5, 4, generator=gen)]


def worker(rank, out_dir):
    *tensors, weight = problem()
    local = [t.chunk(WORLD)[rank] for t in tensors]
    torch.save(gathered_losses(*local, weight),
               out_dir / f'rank{rank}.pt')


def test_two_process_gathered_losses_match_single_process(tmp_path,
                                                          gloo):
    gloo.spawn(worker, tmp_path, world_size=WORLD)
    ref_loss, ref_grad = gathered_losses(*problem())
    for rank in range(WORLD):
        loss, grad = torch.load(tmp_path / f'rank{rank}.pt')
        torch.testing.assert_close(loss, ref_loss, rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(grad, ref_grad, rtol=1e-5, atol=1e-6)
