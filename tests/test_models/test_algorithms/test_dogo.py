"""DoGo: NT-Xent and the similarity KL against hand computations, no
cross-gradient between peers, one optimizer per peer, and a 2-process
gloo NT-Xent equal to the single-process one."""
import copy
import math
from pathlib import Path

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from _helpers.dist import mean_over_ranks
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
    first = [p for name, p in model.named_parameters()
             if not name.startswith('peer.')]
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
    assert log_vars['loss'].item() == pytest.approx(
        (totals[0] + totals[1]).item(), rel=1e-5)
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


def simsiam_cfg(channels: int) -> dict:
    cfg = peer_cfg(channels)
    cfg['predictor'] = dict(type='NonLinearNeck', in_channels=8,
                            hid_channels=6, out_channels=8, with_bias=False,
                            with_last_bn=False, with_last_bias=True,
                            with_avg_pool=False, norm_cfg=dict(type='BN1d'))
    return cfg


def simsiam_by_hand(z, p):
    """-(sg[z'] . p'' + sg[z''] . p') / 2 of normalised vectors."""
    def cos(a, b):
        return F.cosine_similarity(a.double(), b.double()).mean().item()
    return -(cos(z[0], p[1]) + cos(z[1], p[0])) / 2


def outputs(peer, inputs):
    """Normalised projector and predictor outputs, one forward per view."""
    zs, ps = [], []
    for x in inputs:
        z = peer.neck(peer.backbone(x))
        zs.append(F.normalize(z[0], dim=1))
        if peer.predictor is not None:
            ps.append(F.normalize(peer.predictor(z)[0], dim=1))
    return zs, ps


@pytest.mark.parametrize('kinds', [('simclr', 'simsiam'),
                                   ('simsiam', 'simclr'),
                                   ('simsiam', 'simsiam')])
def test_simsiam_peers_follow_official_pairing(kinds):
    """SSL terms and KL operands of the official train_one_epoch: own
    matrix from p (SimSiam) or z (SimCLR); target the peer's p (or z of a
    SimCLR peer), but the peer's z when both are SimSiam."""
    cfgs = [simsiam_cfg(c) if kind == 'simsiam' else peer_cfg(c)
            for kind, c in zip(kinds, (8, 12))]
    model = build(model1=cfgs[0], model2=cfgs[1], lambdas=(3., 5.))
    inputs = views()
    with torch.no_grad():
        outs = [outputs(model, inputs[:2]), outputs(model.peer, inputs[2:])]
    losses = model.loss(inputs, None)
    for m, (kind, (z, p)) in enumerate(zip(kinds, outs), start=1):
        expected = (simsiam_by_hand(z, p) if kind == 'simsiam' else
                    ntxent_by_hand(*z, 0.5))
        assert losses[f'loss_ssl_{m}'].item() == pytest.approx(
            expected, rel=1e-4, abs=1e-6)
    own = [p if kind == 'simsiam' else z
           for kind, (z, p) in zip(kinds, outs)]
    target = ([z for z, _ in outs] if kinds == ('simsiam', 'simsiam')
              else own)
    for m, (i, j, lam) in enumerate([(0, 1, 3.), (1, 0, 5.)], start=1):
        expected = lam * kl_by_hand(own[i][0] @ own[i][1].t(),
                                    target[j][0] @ target[j][1].t(),
                                    0.1, 'mean')
        assert losses[f'loss_kd_{m}'].item() == pytest.approx(expected,
                                                              rel=1e-4)


def test_simsiam_loss_stops_gradient_on_z():
    """Only the predictor path carries SimSiam's gradient: with the
    predictor's output fixed, the projector gets none from the SSL term."""
    model = build(model1=simsiam_cfg(8), model2=None)
    loss = model.loss(views()[:2], None)['loss_ssl_1']
    pred_params = list(model.predictor.parameters())
    grads = torch.autograd.grad(loss, pred_params, allow_unused=True)
    assert any(g is not None and g.abs().sum() > 0 for g in grads)
    z = torch.randn(BATCH, 8, requires_grad=True)
    p = torch.randn(BATCH, 8, requires_grad=True)
    from mmssl_kd.models.algorithms.dogo import PeerOut
    out = [PeerOut(F.normalize(z, dim=1), F.normalize(p, dim=1))] * 2
    DoGo.simsiam_loss(out).backward()
    assert z.grad is None and p.grad.abs().sum() > 0


def test_first_peer_starts_where_its_baseline_does():
    """Same seed, then init_weights as the Runner does: the ResNet-20 of the
    DoGo demo starts from the weights of its SimCLR baseline (the peer is
    built from a copy of the random state)."""
    from mmengine.config import Config
    from mmengine.logging import MMLogger
    configs = Path(__file__).resolve().parents[3] / 'configs' / 'dogo'
    params = []
    for name in ('dogo_resnet20-cifar_resnet56-cifar_1xb256-adam-1e_cifar10'
                 '-demo.py', 'simclr_resnet20-cifar_1xb256-adam-1e_cifar10'
                 '-demo.py'):
        torch.manual_seed(0)
        with DefaultScope.overwrite_default_scope('mmssl_kd'):
            model = MODELS.build(Config.fromfile(configs / name).model)
        MMLogger.get_instance('mmengine', log_level='WARNING')
        model.init_weights()
        params.append({k: v for k, v in model.named_parameters()
                       if not k.startswith('peer.')})
    assert params[0].keys() == params[1].keys()
    for key, value in params[0].items():
        assert torch.equal(value, params[1][key]), key


def test_single_model_baseline():
    """model2=None: the first peer alone, two views, NT-Xent only, one
    optimizer key; the same SSL term as inside DoGo."""
    full = build()
    alone = build(model2=None)
    inputs = views()
    assert alone.peer is None and alone.optim_parts == {'model1': None}
    losses = alone.loss(inputs[:2], None)
    assert set(losses) == {'loss_ssl_1'}
    assert losses['loss_ssl_1'].item() == pytest.approx(
        full.loss(inputs, None)['loss_ssl_1'].item(), rel=1e-6)
    with pytest.raises(ValueError, match='expects 2 views'):
        alone.loss(inputs, None)
    params = [*alone.backbone.parameters(), *alone.neck.parameters()]
    wrapper = OptimWrapperDict(model1=OptimWrapper(
        torch.optim.SGD(params, lr=0.1)))
    log_vars = alone.train_step(dict(inputs=inputs[:2], data_samples=None),
                                wrapper)
    assert set(log_vars) == {'loss', 'loss_1', 'loss_ssl_1'}


def ntxent_loss_and_grad(z1, z2, weight):
    """NT-Xent of a linear encoder; loss and gradient averaged over ranks
    as DDP does."""
    weight = weight.clone().requires_grad_()
    loss = NTXentLoss(0.5)(z1 @ weight, z2 @ weight)
    loss.backward()
    return mean_over_ranks(loss.detach(), weight.grad)


def problem():
    gen = torch.Generator().manual_seed(0)
    return (torch.randn(8, 5, generator=gen), torch.randn(8, 5,
                                                          generator=gen),
            torch.randn(5, 4, generator=gen))


def worker(rank, out_dir):
    x1, x2, weight = problem()
    result = ntxent_loss_and_grad(x1.chunk(WORLD)[rank],
                                  x2.chunk(WORLD)[rank], weight)
    torch.save(result, out_dir / f'rank{rank}.pt')



def test_two_process_ntxent_matches_single_process(tmp_path, gloo):
    gloo.spawn(worker, tmp_path, world_size=WORLD)
    ref_loss, ref_grad = ntxent_loss_and_grad(*problem())
    for rank in range(WORLD):
        loss, grad = torch.load(tmp_path / f'rank{rank}.pt')
        torch.testing.assert_close(loss, ref_loss, rtol=1e-6, atol=1e-7)
        torch.testing.assert_close(grad, ref_grad, rtol=1e-5, atol=1e-6)


def separate_ddp_worker(rank, out_dir):
    """Two train steps of DoGo (a SimSiam peer: predictor too) under
    MMSeparateDistributedDataParallel, different images on each rank."""
    from mmengine.model import MMSeparateDistributedDataParallel
    model = build(model1=simsiam_cfg(8), model2=peer_cfg(12))
    wrapped = MMSeparateDistributedDataParallel(model)
    wrappers = sgd_wrappers(model)
    for step in range(2):
        data = dict(inputs=views(seed=10 * step + rank),
                    data_samples=None)
        log_vars = wrapped.train_step(data, wrappers)
    params = {name.replace('.module.', '.'): p.detach()
              for name, p in model.named_parameters()}
    torch.save(dict(params=params, loss=log_vars['loss']),
               out_dir / f'rank{rank}.pt')


def test_separate_ddp_keeps_both_peers_in_sync(tmp_path, gloo):
    """Each peer's own DDP wrapper averages its gradients: after steps on
    different images the ranks hold identical parameters, which moved."""
    gloo.spawn(separate_ddp_worker, tmp_path, world_size=WORLD)
    results = [torch.load(tmp_path / f'rank{r}.pt') for r in range(WORLD)]
    assert results[0]['loss'] != results[1]['loss']  # different data
    start = dict(build(model1=simsiam_cfg(8),
                       model2=peer_cfg(12)).named_parameters())
    assert results[0]['params'].keys() == start.keys()
    for key, value in results[0]['params'].items():
        torch.testing.assert_close(value, results[1]['params'][key], msg=key)
    moved = {k.split('.')[0] for k, v in results[0]['params'].items()
             if not torch.equal(v, start[k])}
    assert moved == {'backbone', 'neck', 'predictor', 'peer'}
