"""Global-Local Self-Distillation: the region loss by hand, the matching
wired from crop boxes, plain DINO at local weight 0, the momentum
schedule."""
import math

import numpy as np
import pytest
import torch
from mmengine.logging import MessageHub
from mmengine.registry import DefaultScope
from mmpretrain.structures import DataSample

from mmssl_kd.models.losses import DINOLoss, LocalDINOLoss
from mmssl_kd.models.utils import global_and_tokens, multi_crop_forward
from mmssl_kd.registry import MODELS

K = 12


def soft_ce(target, student, centre, t_tau, s_tau):
    p = torch.softmax((target - centre) / t_tau, dim=-1)
    return -(p * torch.log_softmax(student / s_tau, dim=-1)).sum().item()


def test_local_loss_and_centre_by_hand():
    """2 global views of 4 tokens, 1 local view of 2 tokens, batch 2, a
    hand-written index and mask: per pair 1/B sum_b 1/T_v sum_k m_k H;
    masked tokens count in 1/T_v; the mean over the 4 pairs; the centre
    moves toward the mean of all teacher tokens."""
    gen = torch.Generator().manual_seed(0)
    tokens = [4, 4, 2]
    student = [torch.randn(2, t, 3, generator=gen) for t in tokens]
    teacher = [torch.randn(2, 4, 3, generator=gen) for _ in range(2)]
    matches = {}
    for t in range(2):
        for s in range(3):
            if s != t:
                index = torch.randint(0, 4, (2, tokens[s]), generator=gen)
                mask = torch.rand(2, tokens[s], generator=gen) > 0.3
                matches[t, s] = (index, mask)
    centre = torch.tensor([[0.2, -0.1, 0.3]])
    loss_fn = LocalDINOLoss(3, student_temp=0.1, teacher_temp=0.04)
    loss_fn.center.copy_(centre)
    loss = loss_fn(student, teacher, matches, 0.04)
    total = 0.
    for (t, s), (index, mask) in matches.items():
        pair = 0.
        for b in range(2):
            for k in range(tokens[s]):
                if mask[b, k]:
                    pair += soft_ce(teacher[t][b, index[b, k]],
                                    student[s][b, k], centre[0], 0.04,
                                    0.1) / tokens[s]
        total += pair / 2
    assert loss.item() == pytest.approx(total / 4, rel=1e-5)
    mean = torch.cat([t.flatten(0, 1) for t in teacher]).mean(0)
    torch.testing.assert_close(loss_fn.center, 0.9 * centre + 0.1 * mean)
    with pytest.raises(KeyError, match='no token matches'):
        loss_fn(student, teacher, {(0, 1): matches[0, 1]}, 0.04)


def tiny_vit(out_type='raw'):
    return dict(type='VisionTransformer',
                arch=dict(embed_dims=24, num_layers=2, num_heads=2,
                          feedforward_channels=48),
                img_size=16, patch_size=4, out_type=out_type)


def head(**kwargs):
    return dict(type='DINOHead', in_channels=24, out_channels=K,
                hidden_channels=16, bottleneck_channels=8, **kwargs)


def build(**kwargs):
    cfg = dict(type='GLSD', backbone=tiny_vit(), neck=head(),
               loss=dict(type='DINOLoss', out_channels=K),
               dense_neck=head(),
               local_loss=dict(type='LocalDINOLoss', out_channels=K),
               downsampling_rate=4)
    cfg.update(kwargs)
    with DefaultScope.overwrite_default_scope('mmssl_kd'):
        return MODELS.build(cfg)


def samples(boxes, flips):
    """One DataSample per image with (V, 4) boxes and (V,) flips."""
    out = []
    for b in range(len(boxes[0])):
        sample = DataSample()
        sample.set_field(np.array([v[b] for v in boxes], np.float32),
                         'crop_boxes')
        sample.set_field(np.array([v[b] for v in flips]), 'crop_flips')
        out.append(sample)
    return out


def crops(batch=2):
    return [torch.randn(batch, 3, 16, 16) for _ in range(2)] + \
        [torch.randn(batch, 3, 8, 8) for _ in range(2)]


def test_geometric_matches_from_crop_boxes():
    """Global crops: the whole 32 px image (4 x 4 tokens of 8 px), the
    second flipped. Local crops: the top-left 16 px quadrant (2 x 2 tokens
    of 8 px), and a box off to the right beyond any hinge."""
    model = build()
    whole, quad, far = (0, 0, 32, 32), (0, 0, 16, 16), (0, 0, 4, 4)
    data = samples([[whole] * 2, [whole] * 2, [quad] * 2, [far] * 2],
                   [[False] * 2, [True] * 2, [False] * 2, [False] * 2])
    inputs = crops()
    tokens = [torch.randn(2, 16, 24)] * 2 + [torch.randn(2, 4, 24)] * 2
    matches = model._matches(inputs, tokens, tokens[:2], data)
    assert set(matches) == {(0, 1), (0, 2), (0, 3), (1, 0), (1, 2), (1, 3)}
    mirror = [r * 4 + 3 - c for r in range(4) for c in range(4)]
    index, mask = matches[0, 1]  # flipped view 1 against view 0
    assert index[0].tolist() == mirror and mask.all()
    index, mask = matches[0, 2]  # the quadrant's cells are cells 0, 1, 4, 5
    assert index[0].tolist() == [0, 1, 4, 5] and mask.all()
    index, mask = matches[1, 2]  # ... of the flipped view: 3, 2, 7, 6
    assert index[0].tolist() == [3, 2, 7, 6] and mask.all()
    # 2 px cells centred at (1, 1) .. (3, 3): all nearest to the 8 px cell
    # centred at (4, 4), within its half-diagonal (squared 18 < 32)
    index, mask = matches[0, 3]
    assert (index == 0).all() and mask.all()
    far_data = samples([[whole] * 2, [whole] * 2, [quad] * 2,
                        [(40, 40, 44, 44)] * 2],
                       [[False] * 2, [True] * 2, [False] * 2, [False] * 2])
    _, mask = model._matches(inputs, tokens, tokens[:2], far_data)[0, 3]
    assert not mask.any()  # 36 px away: nothing counts
    model.hinge = False
    _, mask = model._matches(inputs, tokens, tokens[:2], far_data)[0, 3]
    assert mask is None


def test_geometric_needs_boxes_and_the_right_rate():
    model = build()
    tokens = [torch.randn(2, 16, 24)] * 2 + [torch.randn(2, 4, 24)] * 2
    with pytest.raises(KeyError, match='RandomResizedCropWithBox'):
        model._matches(crops(), tokens, tokens[:2], [DataSample()] * 2)
    model.downsampling_rate = 8
    data = samples([[(0, 0, 8, 8)] * 2] * 4, [[False] * 2] * 4)
    with pytest.raises(ValueError, match='downsampling_rate'):
        model._matches(crops(), tokens, tokens[:2], data)


def test_glsd_loss_is_the_weighted_sum_of_its_terms():
    """The loss from the modules: 0.5 DINOLoss of the heads' global outputs
    plus 0.5 LocalDINOLoss of the dense outputs with the geometric matches;
    the teacher (a copy of the student at the first update) gets no
    gradient; the dense head does."""
    torch.manual_seed(0)
    model = build()
    inputs = crops()
    data = samples([[(0, 0, 32, 32)] * 2, [(4, 4, 28, 30)] * 2,
                    [(0, 0, 16, 16)] * 2, [(10, 8, 30, 20)] * 2],
                   [[False, True], [True, False], [False] * 2, [True] * 2])
    losses = model(inputs, data, mode='loss')
    with torch.no_grad():
        out = multi_crop_forward(model.student(), inputs)
        matches = model._matches(inputs, [o.tokens for o in out],
                                 [o.tokens for o in out[:2]], data)
        glob = DINOLoss(K)([o.glob for o in out], [o.glob for o in out[:2]],
                           0.04)
        local = LocalDINOLoss(K)([o.dense for o in out],
                                 [o.dense for o in out[:2]], matches, 0.04)
    assert losses['loss_global'].item() == pytest.approx(
        0.5 * glob.item(), rel=1e-5)
    assert losses['loss_local'].item() == pytest.approx(
        0.5 * local.item(), rel=1e-5)
    masks = [m.float().mean() for _, m in matches.values()]
    assert losses['matched'].item() == pytest.approx(
        torch.stack(masks).mean().item())
    (losses['loss_global'] + losses['loss_local']).backward()
    assert model.dense_neck.mlp[0].weight.grad.abs().sum() > 0
    assert all(p.grad is None for p in model.teacher.parameters())
    state = model.state_dict()
    assert any(k.startswith('teacher.module.dense_neck.') for k in state)
    assert any(k.startswith('local_loss.center') for k in state)


def test_similarity_matching_is_a_switch():
    """EsViT's matching: argmax cosine of backbone tokens, no mask; the
    boxes are not needed."""
    torch.manual_seed(0)
    model = build(matching='similarity')
    losses = model(crops(), mode='loss')
    assert 'matched' not in losses and losses['loss_local'] > 0
    tokens = [torch.randn(2, 16, 24)] * 2 + [torch.randn(2, 4, 24)] * 2
    matches = model._matches(crops(), tokens, tokens[:2], None)
    index, mask = matches[1, 0]
    assert mask is None
    normalize = torch.nn.functional.normalize
    assert index[0, 5] == (normalize(tokens[0][0, 5], dim=0) @
                           normalize(tokens[1][0], dim=1).T).argmax()
    with pytest.raises(ValueError, match="'geometric' or 'similarity'"):
        build(matching='nearest')


def test_local_weight_zero_is_plain_dino():
    """GLSD(global_weight=1, local_weight=0) on a [CLS]-first ViT gives
    DINO's loss with a cls_token ViT of the same weights."""
    torch.manual_seed(0)
    glsd = build(local_weight=0, global_weight=1, dense_neck=None,
                 local_loss=None)
    assert glsd.dense_neck is None
    with DefaultScope.overwrite_default_scope('mmssl_kd'):
        dino = MODELS.build(dict(
            type='DINO', backbone=tiny_vit('cls_token'), neck=head(),
            loss=dict(type='DINOLoss', out_channels=K)))
    dino.backbone.load_state_dict(glsd.backbone.state_dict())
    dino.neck.load_state_dict(glsd.neck.state_dict())
    inputs = crops()
    losses = glsd(inputs, mode='loss')
    assert set(losses) == {'loss_global'}  # teacher_temp: logged by the step
    assert losses['loss_global'].item() == pytest.approx(
        dino(inputs, mode='loss')['loss'].item(), rel=1e-5)
    with pytest.raises(ValueError, match='needs dense_neck'):
        build(dense_neck=None)


def test_global_and_tokens_of_a_feature_map():
    fmap = torch.randn(2, 5, 3, 4)
    glob, tokens = global_and_tokens((fmap, ))
    assert tokens.shape == (2, 12, 5)
    torch.testing.assert_close(tokens[:, 4], fmap[:, :, 1, 0])
    torch.testing.assert_close(glob, fmap.mean(dim=(2, 3)))
    with pytest.raises(ValueError, match='region tokens'):
        global_and_tokens(torch.randn(2, 5))


def test_teacher_momentum_schedule_start_middle_end():
    """DINO's ``cosine_scheduler(0.996, 1, ...)``: the teacher keeps
    ``m_i = 1 - 0.004 (1 + cos(pi i / N)) / 2`` of itself at update i of N
    (the first update copies the student)."""
    model = build()
    hub = MessageHub.get_current_instance()
    hub.update_info('max_iters', 100)
    student = model.student()
    teacher_param = next(model.teacher.module.parameters())
    student_param = next(student.parameters())
    for step in range(101):
        with torch.no_grad():
            student_param.add_(1.)  # move the student each iteration
        before = teacher_param.detach().clone()
        model.teacher.update_parameters(student)
        if step in (1, 50, 100):
            kept = ((teacher_param - student_param) /
                    (before - student_param)).mean().item()
            expected = 1 - 0.004 * (1 + math.cos(math.pi * step / 100)) / 2
            assert kept == pytest.approx(expected, abs=1e-5), step
    assert step == 100 and expected == 1.  # momentum 1 at the end


def test_teacher_has_no_stochastic_depth():
    """DINO's teacher is built with drop_path_rate 0; the student keeps it."""
    model = build(backbone=dict(tiny_vit(), drop_path_rate=0.2))
    student = [m.drop_prob for m in model.backbone.modules()
               if hasattr(m, 'drop_prob')]
    teacher = [m.drop_prob for m in model.teacher.modules()
               if hasattr(m, 'drop_prob')]
    assert student and max(student) > 0
    assert len(teacher) == len(student) and set(teacher) == {0.}


def test_glsd_and_dino_start_from_the_same_weights():
    """Same seed, then init_weights as the Runner does: the backbone and the
    global head of GLSD equal those of DINO (a paired comparison)."""
    from mmengine.logging import MMLogger
    MMLogger.get_instance('mmengine', log_level='WARNING')
    params = []
    for cfg in (dict(type='DINO', backbone=tiny_vit('cls_token'),
                     neck=head(), loss=dict(type='DINOLoss', out_channels=K)),
                None):
        torch.manual_seed(0)
        if cfg is None:
            model = build()
        else:
            with DefaultScope.overwrite_default_scope('mmssl_kd'):
                model = MODELS.build(cfg)
        model.init_weights()
        params.append({k: v for k, v in model.named_parameters()
                       if k.startswith(('backbone.', 'neck.'))})
    assert params[0].keys() == params[1].keys()
    for key, value in params[0].items():
        assert torch.equal(value, params[1][key]), key


def test_similarity_matching_uses_backbone_tokens_not_head_outputs():
    """EsViT's matching compares the *backbone* region features (GLSD
    main_global_local_self_distillation.py: ``s_fea``/``t_fea``, not the
    dense head's outputs): the region term equals LocalDINOLoss with the
    matches of the backbone tokens, and differs from the one with matches
    of the dense-head outputs."""
    from mmssl_kd.models.utils import similarity_match
    torch.manual_seed(0)
    model = build(matching='similarity')
    inputs = crops()
    losses = model(inputs, mode='loss')
    with torch.no_grad():
        out = multi_crop_forward(model.student(), inputs)

        def local(field):
            matches = {(t, s): (similarity_match(getattr(out[s], field),
                                                 getattr(out[t], field)),
                                None)
                       for t in range(2) for s in range(4) if s != t}
            return LocalDINOLoss(K)([o.dense for o in out],
                                    [o.dense for o in out[:2]], matches,
                                    0.04)
        by_tokens, by_heads = local('tokens'), local('dense')
    assert losses['loss_local'].item() == pytest.approx(
        0.5 * by_tokens.item(), rel=1e-5)
    assert abs(by_tokens.item() - by_heads.item()) > 1e-3
