"""DenseFeatureLoss against the formula written out per location."""
import pytest
import torch
import torch.nn.functional as F

from mmssl_kd.models.losses import DenseFeatureLoss


def by_hand(student, teacher, w_cos, w_l1):
    """Resize, then per location: w_cos (1 - cos) + w_l1 smooth L1."""
    s = F.interpolate(student, size=teacher.shape[-2:], mode='bilinear',
                      align_corners=False)
    total, count = 0., 0
    for b in range(len(s)):
        for i in range(teacher.shape[2]):
            for j in range(teacher.shape[3]):
                u, v = s[b, :, i, j].double(), teacher[b, :, i, j].double()
                cos = (u @ v) / (u.norm() * v.norm())
                diff = (u - v).abs()
                l1 = torch.where(diff < 1, 0.5 * diff ** 2, diff - 0.5)
                total += w_cos * (1 - cos) + w_l1 * l1.mean()
                count += 1
    return (total / count).item()


@pytest.mark.parametrize('w_cos,w_l1', [(1., 0.), (0., 1.), (0.9, 0.1)])
def test_loss_by_hand(w_cos, w_l1):
    gen = torch.Generator().manual_seed(0)
    student = torch.randn(2, 5, 3, 3, generator=gen, requires_grad=True)
    teacher = torch.randn(2, 5, 4, 4, generator=gen, requires_grad=True)
    loss = DenseFeatureLoss(w_cos, w_l1)(student, teacher)
    assert loss.item() == pytest.approx(
        by_hand(student.detach(), teacher.detach(), w_cos, w_l1), rel=1e-5)
    loss.backward()
    assert student.grad.abs().sum() > 0 and teacher.grad is None


def test_bad_shapes_and_weights_are_refused():
    with pytest.raises(ValueError, match="teacher's width 8"):
        DenseFeatureLoss()(torch.randn(2, 4, 3, 3), torch.randn(2, 8, 3, 3))
    with pytest.raises(ValueError, match='not both 0'):
        DenseFeatureLoss(0., 0.)
