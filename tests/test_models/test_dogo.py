"""DoGo: NT-Xent and the similarity KL against hand computations, no
cross-gradient between peers, one optimizer per peer, and a 2-process
gloo NT-Xent equal to the single-process one."""
import copy
import math
import socket

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
import torch.nn as nn
import torch.nn.functional as F
from mmengine.optim import OptimWrapper, OptimWrapperDict
from mmengine.registry import DefaultScope

from mmssl_kd.models.algorithms import DoGo
from mmssl_kd.models.losses import NTXentLoss
from mmssl_kd.registry import MODELS

BATCH = 4
WORLD = 2


@MODELS.register_module(force=True)
class TinyDoGoBackbone(nn.Module):
    """Conv-ReLU: a (B, C, 6, 6) feature map from 8x8 inputs."""

    def __init__(self, channels: int = 8):
        super().__init__()
        self.conv = nn.Conv2d(3, channels, 3)

    def forward(self, x):
        return (F.relu(self.conv(x)), )


def peer_cfg(channels: int) -> dict:
    return dict(
        backbone=dict(type='TinyDoGoBackbone', channels=channels),
        neck=dict(type='NonLinearNeck', in_channels=channels,
                  hid_channels=16, out_channels=8, with_bias=False,
                  with_last_bn=False, with_last_bias=True,
                  norm_cfg=dict(type='BN1d')))


def build(**kwargs) -> DoGo:
    torch.manual_seed(0)
    cfg = dict(type='DoGo', model1=peer_cfg(8), model2=peer_cfg(12))
    cfg.update(kwargs)
    with DefaultScope.overwrite_default_scope('mmssl_kd'):
        return MODELS.build(cfg)


def views(seed: int = 1):
    gen = torch.Generator().manual_seed(seed)
    return [torch.randn(BATCH, 3, 8, 8, generator=gen) for _ in range(4)]


def ntxent_by_hand(z1, z2, tau):
    """1/(2N) sum_i -log exp(s_ip/tau) / sum_{k != i} exp(s_ik/tau)."""
    z = F.normalize(torch.cat([z1, z2]).double(), dim=1).tolist()
    n = len(z1)
    total = 0.0
    for i in range(2 * n):
        pos = (i + n) % (2 * n)
        sims = [sum(a * b for a, b in zip(z[i], z[k])) / tau
                for k in range(2 * n)]
        denom = sum(math.exp(s) for k, s in enumerate(sims) if k != i)
        total -= sims[pos] - math.log(denom)
    return total / (2 * n)


def kl_by_hand(sim_own, sim_peer, tau, reduction):
    """sum_ij P_peer (log P_peer - log P_own), / B^2 or / B."""
    b = len(sim_own)

    def log_softmax_rows(sim):
        rows = []
        for row in sim.double().tolist():
            lse = math.log(sum(math.exp(s / tau) for s in row))
            rows.append([s / tau - lse for s in row])
        return rows

    own, peer = log_softmax_rows(sim_own), log_softmax_rows(sim_peer)
    total = sum(math.exp(peer[i][j]) * (peer[i][j] - own[i][j])
                for i in range(b) for j in range(b))
    return total / (b * b if reduction == 'mean' else b)


def test_ntxent_matches_hand_computation():
    gen = torch.Generator().manual_seed(0)
    z1, z2 = torch.randn(3, 5, generator=gen), torch.randn(3, 5,
                                                           generator=gen)
    loss = NTXentLoss(temperature=0.5)(z1, z2)
    assert loss.dtype == torch.float32
    assert loss.item() == pytest.approx(ntxent_by_hand(z1, z2, 0.5),
                                        rel=1e-5)


@pytest.mark.filterwarnings('ignore:reduction')
@pytest.mark.parametrize('reduction', ['mean', 'batchmean'])
def test_kl_matches_hand_computation_and_official_gradient(reduction):
    """Value: the KL itself; gradient: that of the official
    ``F.kl_div(P_own.log(), P_peer)`` with the same reduction."""
    model = build(kd_reduction=reduction)
    gen = torch.Generator().manual_seed(2)
    a, b, c, d = (F.normalize(torch.randn(BATCH, 6, generator=gen), dim=1)
                  for _ in range(4))
    sim_own = (a @ b.t()).requires_grad_()
    sim_peer = c @ d.t()
    kl = model.kl_divergence(sim_own, sim_peer)
    assert kl.item() == pytest.approx(
        kl_by_hand(sim_own, sim_peer, 0.1, reduction), rel=1e-5)
    kl.backward()

    own = sim_own.detach().requires_grad_()
    official = F.kl_div(F.softmax(own / 0.1, dim=1).log(),
                        F.softmax(sim_peer / 0.1, dim=1),
                        reduction=reduction)
    official.backward()
    assert kl.item() == pytest.approx(official.item(), rel=1e-5)
    torch.testing.assert_close(sim_own.grad, own.grad)


def embeddings(model: DoGo, inputs):
    """Normalised embeddings of each view, recomputed directly."""
    with torch.no_grad():
        first = [F.normalize(model.neck(model.backbone(x))[0], dim=1)
                 for x in inputs[:2]]
        second = [F.normalize(model.peer.neck(model.peer.backbone(x))[0],
                              dim=1) for x in inputs[2:]]
    return first, second


@pytest.mark.parametrize('reduction', ['mean', 'batchmean'])
def test_loss_terms(reduction):
    model = build(kd_reduction=reduction, lambdas=(100., 2.))
    inputs = views()
    (a1, b1), (a2, b2) = embeddings(model, inputs)
    losses = model.loss(inputs, None)
    assert set(losses) == {'loss_ssl_1', 'loss_kd_1', 'loss_ssl_2',
                           'loss_kd_2'}
    for key, (x, y) in [('loss_ssl_1', (a1, b1)), ('loss_ssl_2', (a2, b2))]:
        assert losses[key].item() == pytest.approx(
            ntxent_by_hand(x, y, 0.5), rel=1e-5)
    s1, s2 = a1 @ b1.t(), a2 @ b2.t()
    assert losses['loss_kd_1'].item() == pytest.approx(
        100 * kl_by_hand(s1, s2, 0.1, reduction), rel=1e-4)
    assert losses['loss_kd_2'].item() == pytest.approx(
        2 * kl_by_hand(s2, s1, 0.1, reduction), rel=1e-4)
    with pytest.raises(ValueError, match='4 views'):
        model.loss(inputs[:2], None)


def peer_params(model: DoGo):
    first = [*model.backbone.parameters(), *model.neck.parameters()]
    return first, list(model.peer.parameters())


@pytest.mark.parametrize('m', [1, 2])
def test_no_gradient_across_peers(m):
    """Peer m's total loss reaches only peer m; its gradient is that of
    its own SSL + KD terms with the other's similarities as constants."""
    model = build()
    losses = model.loss(views(), None)
    (losses[f'loss_ssl_{m}'] + losses[f'loss_kd_{m}']).backward()
    own, other = peer_params(model)[::1 if m == 1 else -1]
    assert all(p.grad is None for p in other)
    assert all(p.grad is not None for p in own)
    assert any(p.grad.abs().sum() > 0 for p in own)


LRS = (0.1, 0.05)


def sgd_wrappers(model: DoGo) -> OptimWrapperDict:
    first, second = peer_params(model)
    return OptimWrapperDict(
        model1=OptimWrapper(torch.optim.SGD(first, lr=LRS[0])),
        model2=OptimWrapper(torch.optim.SGD(second, lr=LRS[1])))


def test_train_step_steps_each_peer_with_its_own_loss():
    """After one step each parameter moved by -lr * the gradient of its
    own peer's total loss (computed on a copy), with its own peer's
    learning rate."""
    model = build()
    inputs = views()
    reference = copy.deepcopy(model)
    losses = reference.loss(inputs, None)
    totals = [losses['loss_ssl_1'] + losses['loss_kd_1'],
              losses['loss_ssl_2'] + losses['loss_kd_2']]
    grads = []
    for total, params in zip(totals, peer_params(reference)):
        grads.append(torch.autograd.grad(total, params))
    before = [[p.detach().clone() for p in ps] for ps in peer_params(model)]

    # the default SelfSupDataPreprocessor: no normalisation
    data = dict(inputs=inputs, data_samples=None)
    log_vars = model.train_step(data, sgd_wrappers(model))

    assert {'loss_1', 'loss_2', 'loss_kd_1', 'loss_ssl_2'} <= set(log_vars)
    assert log_vars['loss_1'].item() == pytest.approx(totals[0].item(),
                                                      rel=1e-5)
    for params, old, grad, lr in zip(peer_params(model), before, grads,
                                     LRS):
        for p, p0, g in zip(params, old, grad):
            torch.testing.assert_close(p.detach(), p0 - lr * g,
                                       rtol=1e-4, atol=1e-6)
            assert p.grad is None or not p.grad.any()  # zeroed after step


def test_extract_feat_is_first_peer_backbone():
    model = build().eval()
    x = views()[0]
    assert torch.equal(model(x, mode='tensor')[0], model.backbone(x)[0])


def ntxent_loss_and_grad(z1, z2, weight):
    """NT-Xent of a linear encoder; loss and gradient averaged over ranks
    as DDP does."""
    weight = weight.clone().requires_grad_()
    loss = NTXentLoss(0.5)(z1 @ weight, z2 @ weight)
    loss.backward()
    loss, grad = loss.detach(), weight.grad
    if dist.is_initialized():
        for t in (loss, grad):
            dist.all_reduce(t)
            t /= dist.get_world_size()
    return loss, grad


def problem():
    gen = torch.Generator().manual_seed(0)
    return (torch.randn(8, 5, generator=gen), torch.randn(8, 5,
                                                          generator=gen),
            torch.randn(5, 4, generator=gen))


def worker(rank, port, out_dir):
    dist.init_process_group('gloo', init_method=f'tcp://127.0.0.1:{port}',
                            rank=rank, world_size=WORLD)
    try:
        x1, x2, weight = problem()
        result = ntxent_loss_and_grad(x1.chunk(WORLD)[rank],
                                      x2.chunk(WORLD)[rank], weight)
        torch.save(result, out_dir / f'rank{rank}.pt')
    finally:
        dist.destroy_process_group()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def test_two_process_ntxent_matches_single_process(tmp_path):
    mp.spawn(worker, args=(free_port(), tmp_path), nprocs=WORLD)
    ref_loss, ref_grad = ntxent_loss_and_grad(*problem())
    for rank in range(WORLD):
        loss, grad = torch.load(tmp_path / f'rank{rank}.pt')
        torch.testing.assert_close(loss, ref_loss, rtol=1e-6, atol=1e-7)
        torch.testing.assert_close(grad, ref_grad, rtol=1e-5, atol=1e-6)
