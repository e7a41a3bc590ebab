"""mmssl_kd/models/losses/local_dino_loss.py: the region term against a
float64 loop over images and tokens, masked tokens counted in the mean,
similarity matching (no mask), its centre of region outputs, and the error
for a pair without matches."""
import pytest
import torch
from _helpers.losses import loss_at_epoch, teacher_temp_of

from mmssl_kd.models.losses import LocalDINOLoss, crop_pairs

B, K = 2, 5
S_TAU = 0.1
TOKENS = (4, 4, 1)  # two global views of 2 x 2 tokens, one local of 1


def views(seed=0):
    gen = torch.Generator().manual_seed(seed)
    student = [torch.randn(B, t, K, generator=gen) for t in TOKENS]
    teacher = [torch.randn(B, t, K, generator=gen) for t in TOKENS[:2]]
    matches = {}
    for u, v in crop_pairs(len(student), len(teacher)):
        index = torch.randint(0, TOKENS[u], (B, TOKENS[v]), generator=gen)
        mask = torch.rand(B, TOKENS[v], generator=gen) > 0.3
        matches[u, v] = index, mask
    return student, teacher, matches


def reference(student, teacher, matches, centre, teacher_temp):
    """1/n sum_(u, v) 1/B sum_b 1/T_v sum_k m_bk H(P_t(r'_{u, j}),
    P_s(r_{v, k})), written token by token in float64."""
    total = 0.
    for u, v in crop_pairs(len(student), len(teacher)):
        index, mask = matches[u, v]
        pair = 0.
        for b in range(B):
            for k in range(student[v].shape[1]):
                if mask is not None and not mask[b, k]:
                    continue
                j = index[b, k]
                p_t = torch.softmax((teacher[u][b, j].double()
                                     - centre.double()[0]) / teacher_temp, -1)
                log_p_s = torch.log_softmax(
                    student[v][b, k].double() / S_TAU, -1)
                pair += -(p_t * log_p_s).sum() / (B * student[v].shape[1])
        total += pair
    return total / len(matches)


def build(**kwargs):
    return LocalDINOLoss(K, student_temp=S_TAU, teacher_temp=0.07,
                         warmup_teacher_temp=0.04, warmup_epochs=3, **kwargs)


@pytest.mark.parametrize('epoch', [1, 5])
def test_masked_region_loss_by_hand(epoch):
    """With masks: masked tokens add nothing but count in ``1/T_v``; the
    centre (non-zero) is subtracted from every teacher token."""
    student, teacher, matches = views()
    loss_fn = build()
    centre = torch.linspace(0.2, -0.2, K)[None]
    loss_fn.center.copy_(centre)
    loss = loss_at_epoch(loss_fn, epoch, student, teacher, matches)
    expected = reference(student, teacher, matches, centre,
                         teacher_temp_of(loss_fn, epoch))
    torch.testing.assert_close(loss.double(), expected, rtol=1e-5, atol=0)


def test_unmasked_matches_and_the_centre_update():
    """``mask=None`` (similarity matching) counts every token; the centre
    moves to ``0.9 c + 0.1`` the mean of every teacher region output."""
    student, teacher, matches = views(seed=1)
    matches = {pair: (index, None) for pair, (index, _) in matches.items()}
    loss_fn = build()
    loss = loss_at_epoch(loss_fn, 0, student, teacher, matches)
    zero = torch.zeros(1, K)
    expected = reference(student, teacher, matches, zero,
                         teacher_temp_of(loss_fn, 0))
    torch.testing.assert_close(loss.double(), expected, rtol=1e-5, atol=0)
    mean = torch.cat([t.flatten(0, 1) for t in teacher]).mean(0, keepdim=True)
    torch.testing.assert_close(loss_fn.center, 0.1 * mean)


def test_a_pair_without_matches_is_an_error():
    student, teacher, matches = views()
    del matches[1, 2]
    with pytest.raises(KeyError, match=r'\(1, 2\)'):
        loss_at_epoch(build(), 0, student, teacher, matches)
