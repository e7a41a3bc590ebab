"""DINO's head, loss, centre and teacher-temperature schedule against hand
computations."""
import math

import numpy as np
import pytest
import torch

from mmssl_kd.models.losses import DINOLoss, teacher_temp_at
from mmssl_kd.models.necks import DINOHead


def softmax(row, tau):
    exps = [math.exp(v / tau) for v in row]
    return [e / sum(exps) for e in exps]


def cross_entropy(target_row, student_row, centre, t_tau, s_tau):
    p = softmax([t - c for t, c in zip(target_row, centre)], t_tau)
    q = softmax(student_row, s_tau)
    return -sum(a * math.log(b) for a, b in zip(p, q))


def test_loss_and_centre_by_hand():
    """2 global + 1 local crop, batch 2, K 3, a non-zero centre: the mean
    over the 4 (teacher global, other crop) pairs; then the centre moves
    to 0.9 c + 0.1 mean(teacher outputs)."""
    gen = torch.Generator().manual_seed(0)
    student = [torch.randn(2, 3, generator=gen) for _ in range(3)]
    teacher = [torch.randn(2, 3, generator=gen) for _ in range(2)]
    loss_fn = DINOLoss(3, student_temp=0.1, teacher_temp=0.04)
    centre = torch.tensor([[0.3, -0.2, 0.1]])
    loss_fn.center.copy_(centre)
    loss = loss_fn(student, teacher, 0.04)
    total, pairs = 0., 0
    for t in range(2):
        for s in range(3):
            if s == t:
                continue
            for b in range(2):
                total += cross_entropy(teacher[t][b].tolist(),
                                       student[s][b].tolist(),
                                       centre[0].tolist(), 0.04, 0.1) / 2
            pairs += 1
    assert pairs == 4
    assert loss.item() == pytest.approx(total / pairs, rel=1e-5)
    expected = 0.9 * centre + 0.1 * torch.cat(teacher).mean(0, keepdim=True)
    torch.testing.assert_close(loss_fn.center, expected)


def test_teacher_temperature_schedule_start_middle_end():
    reference = np.concatenate([np.linspace(0.04, 0.07, 30),
                                np.full(70, 0.07)])
    for epoch in (0, 15, 29, 30, 99):
        assert teacher_temp_at(epoch, 0.04, 0.07, 30) == pytest.approx(
            reference[epoch])
    assert teacher_temp_at(0, 0.04, 0.07, 0) == 0.07
    assert teacher_temp_at(0, 0.04, 0.07, 1) == 0.04  # linspace(a, b, 1)
    loss_fn = DINOLoss(3, teacher_temp=0.07, warmup_teacher_temp=0.04,
                       warmup_epochs=30)
    assert loss_fn.teacher_temp_at(15) == pytest.approx(reference[15])


def test_head_normalises_the_bottleneck_and_the_last_layer():
    head = DINOHead(8, out_channels=16, hidden_channels=12,
                    bottleneck_channels=4)
    head.init_weights()
    weight = head.last_layer.weight
    torch.testing.assert_close(weight.norm(dim=1), torch.ones(16))
    magnitude = head.last_layer.parametrizations.weight.original0
    assert not magnitude.requires_grad  # norm_last_layer=True
    x = torch.randn(5, 8)
    bottleneck = torch.nn.functional.normalize(head.mlp(x), dim=-1)
    torch.testing.assert_close(head(x), bottleneck @ weight.t())
    torch.testing.assert_close(head((x[:1], x)), head(x))  # tuple: last
    free = DINOHead(8, 16, 12, 4, norm_last_layer=False)
    assert free.last_layer.parametrizations.weight.original0.requires_grad


def centre_worker(rank, out_dir):
    teacher = torch.randn(8, 3, generator=torch.Generator().manual_seed(0))
    loss_fn = DINOLoss(3)
    loss_fn.update_center(teacher.chunk(2)[rank])
    torch.save(loss_fn.center, out_dir / f'rank{rank}.pt')


def test_two_process_centre_is_the_mean_over_all_ranks(tmp_path,
                                                       gloo):
    gloo.spawn(centre_worker, tmp_path, world_size=2)
    teacher = torch.randn(8, 3, generator=torch.Generator().manual_seed(0))
    single = DINOLoss(3)
    single.update_center(teacher)
    for rank in range(2):
        torch.testing.assert_close(torch.load(tmp_path / f'rank{rank}.pt'),
                                   single.center)


def test_multi_crop_forward_groups_resolutions():
    """One call per run of equal-size crops, outputs back in crop order."""
    from mmssl_kd.models.utils import multi_crop_forward
    calls = []

    def net(x):
        calls.append(tuple(x.shape))
        return x.mean(dim=(1, 2, 3))[:, None]

    crops = [torch.randn(2, 3, 8, 8), torch.randn(2, 3, 8, 8),
             torch.randn(2, 3, 4, 4), torch.randn(2, 3, 4, 4),
             torch.randn(2, 3, 4, 4)]
    outs = multi_crop_forward(net, crops)
    assert calls == [(4, 3, 8, 8), (6, 3, 4, 4)]
    for out, crop in zip(outs, crops):
        torch.testing.assert_close(out, net(crop))


def test_dino_teacher_sees_the_global_crops_only():
    """The loss equals DINOLoss of the student's outputs of every crop
    against the EMA teacher's outputs of the 2 global crops (a copy of
    the student at the first update); gradients reach the student only."""
    from mmengine.registry import DefaultScope

    from mmssl_kd.models.utils import multi_crop_forward
    from mmssl_kd.registry import MODELS
    torch.manual_seed(0)
    cfg = dict(
        type='DINO',
        backbone=dict(type='VisionTransformer',
                      arch=dict(embed_dims=24, num_layers=2, num_heads=2,
                                feedforward_channels=48),
                      img_size=16, patch_size=4, out_type='cls_token'),
        neck=dict(type='DINOHead', in_channels=24, out_channels=32,
                  hidden_channels=16, bottleneck_channels=8),
        loss=dict(type='DINOLoss', out_channels=32))
    with DefaultScope.overwrite_default_scope('mmssl_kd'):
        model = MODELS.build(cfg)
    crops = [torch.randn(3, 3, 16, 16) for _ in range(2)] + \
        [torch.randn(3, 3, 8, 8) for _ in range(2)]
    losses = model(crops, mode='loss')  # the first step copies the student
    reference = DINOLoss(32)
    with torch.no_grad():
        student = multi_crop_forward(model.student(), crops)
        expected = reference(student, student[:2], 0.04)
    assert losses['loss'].item() == pytest.approx(expected.item(), rel=1e-5)
    torch.testing.assert_close(model.loss_module.center, reference.center)
    losses['loss'].backward()
    assert model.neck.mlp[0].weight.grad is not None
    assert all(p.grad is None for p in model.teacher.parameters())
    with pytest.raises(ValueError, match='at least one more'):
        model(crops[:2], mode='loss')
