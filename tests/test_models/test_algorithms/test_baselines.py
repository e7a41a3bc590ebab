"""The project's SimCLR: MMPretrain's loss value and gradient in one
process (its NT-Xent also matches across ranks: test_dogo.py's gloo test);
MoCo v3 on two gloo ranks against one process; fp32 logits and losses of
the MoCo v3 head and BYOL under autocast."""
import copy

import pytest
import torch
import torch.distributed as dist
from mmengine.registry import DefaultScope, init_default_scope

from mmssl_kd.registry import MODELS

WORLD = 2

SIMCLR = dict(
    backbone=dict(type='CIFARResNet', depth=20),
    neck=dict(type='NonLinearNeck', in_channels=64, hid_channels=32,
              out_channels=16, num_layers=2, with_avg_pool=True,
              norm_cfg=dict(type='BN1d')),
    head=dict(type='ContrastiveHead', loss=dict(type='CrossEntropyLoss'),
              temperature=0.1))


def loss_and_grads(model, views):
    model.zero_grad()
    loss = model.loss(views, None)['loss']
    loss.backward()
    return loss.detach(), {n: p.grad.clone()
                           for n, p in model.named_parameters()
                           if p.grad is not None}


def test_simclr_equals_mmpretrain_simclr():
    torch.manual_seed(0)
    with DefaultScope.overwrite_default_scope('mmssl_kd'):
        ours = MODELS.build(dict(SIMCLR, type='SimCLR'))
        theirs = MODELS.build(dict(copy.deepcopy(SIMCLR),
                                   type='mmpretrain.SimCLR'))
    assert type(ours).__module__.startswith('mmssl_kd')
    theirs.load_state_dict(ours.state_dict())
    gen = torch.Generator().manual_seed(1)
    views = [torch.randn(6, 3, 32, 32, generator=gen) for _ in range(2)]
    loss, grads = loss_and_grads(ours, views)
    ref_loss, ref_grads = loss_and_grads(theirs, views)
    torch.testing.assert_close(loss, ref_loss, rtol=1e-5, atol=1e-6)
    for name, grad in ref_grads.items():  # summation orders differ
        assert (grads[name] - grad).norm() <= 1e-4 * grad.norm() + 1e-7, name


def mocov3(seed: int = 0):
    """A small MoCo v3 (the project's: MMPretrain's with the view check)."""
    neck = dict(type='NonLinearNeck', num_layers=2, with_bias=False,
                with_last_bn=True, with_last_bn_affine=False,
                with_last_bias=False, norm_cfg=dict(type='BN1d'))
    torch.manual_seed(seed)
    with DefaultScope.overwrite_default_scope('mmssl_kd'):
        model = MODELS.build(dict(
            type='MoCoV3', base_momentum=0.01,
            backbone=dict(type='CIFARResNet', depth=20),
            neck=dict(neck, in_channels=64, hid_channels=32, out_channels=16,
                      with_avg_pool=True),
            head=dict(type='MoCoV3Head', temperature=0.2,
                      predictor=dict(neck, in_channels=16, hid_channels=32,
                                     out_channels=16, with_avg_pool=False),
                      loss=dict(type='CrossEntropyLoss', loss_weight=0.4))))
    model.eval()  # BN on running statistics: samples independent
    return model


def mocov3_step(model, views):
    """Loss and base-encoder gradients (averaged over ranks, as DDP does),
    then the momentum encoder after its update."""
    loss, grads = loss_and_grads(model, views)
    if dist.is_initialized():
        for t in [loss] + list(grads.values()):
            dist.all_reduce(t)
            t /= dist.get_world_size()
    return dict(loss=loss, grads=grads, momentum={
        n: p.detach().clone()
        for n, p in model.momentum_encoder.named_parameters()})


def two_views():
    gen = torch.Generator().manual_seed(1)
    return [torch.randn(8, 3, 32, 32, generator=gen) for _ in range(2)]


def mocov3_worker(rank, out_dir):
    views = [v.chunk(WORLD)[rank] for v in two_views()]
    torch.save(mocov3_step(mocov3(), views), out_dir / f'rank{rank}.pt')


def test_mocov3_on_two_gloo_ranks_matches_one_process(tmp_path,
                                                      gloo):
    """MoCo v3 gathers the momentum keys of every rank: half the batch per
    rank gives the one-process loss and gradient, and the same momentum
    encoder on both ranks."""
    gloo.spawn(mocov3_worker, tmp_path, world_size=WORLD)
    ref = mocov3_step(mocov3(), two_views())
    assert ref['grads'] and not any(n.startswith('momentum_encoder')
                                    for n in ref['grads'])
    ranks = [torch.load(tmp_path / f'rank{r}.pt') for r in range(WORLD)]
    for name, value in ranks[0]['momentum'].items():
        assert torch.equal(value, ranks[1]['momentum'][name]), name
    for got in ranks:
        torch.testing.assert_close(got['loss'], ref['loss'])
        assert got['grads'].keys() == ref['grads'].keys()
        for name, grad in ref['grads'].items():
            torch.testing.assert_close(got['grads'][name], grad,
                                       rtol=1e-4, atol=1e-6)


def test_mocov3_head_matches_mmpretrain_with_fp32_logits_under_autocast():
    """The project's MoCoV3Head gives MMPretrain's loss in fp32, and under
    bf16 autocast its logits stay fp32 (close to the fp32 loss)."""
    init_default_scope('mmssl_kd')
    cfg = dict(predictor=dict(type='NonLinearNeck', in_channels=8,
                              hid_channels=16, out_channels=8,
                              with_avg_pool=False),
               loss=dict(type='CrossEntropyLoss', loss_weight=2 * 0.2),
               temperature=0.2)
    torch.manual_seed(0)
    ours = MODELS.build(dict(type='MoCoV3Head', **cfg))
    theirs = MODELS.build(dict(type='mmpretrain.MoCoV3Head', **cfg))
    theirs.load_state_dict(ours.state_dict())
    q, k = torch.randn(6, 8), torch.randn(6, 8)
    expected = theirs.loss(q, k)
    # the same formula in another order: an ulp of q or k moves a logit
    # q k / 0.2 by 5 ulps; 1e-5 is about 80 ulps of the loss
    assert ours.loss(q, k).item() == pytest.approx(expected.item(), rel=1e-5)
    seen = []
    hook = ours.loss_module.register_forward_pre_hook(
        lambda module, args: seen.append(args[0].dtype))
    with torch.autocast('cpu', dtype=torch.bfloat16):
        mixed = ours.loss(q, k)
    hook.remove()
    assert seen == [torch.float32]
    assert mixed.item() == pytest.approx(expected.item(), rel=0.05)


def test_byol_cosine_loss_is_fp32_under_autocast():
    """The project's CosineSimilarityLoss: MMPretrain's value, and fp32
    arithmetic on bf16 inputs under bf16 autocast."""
    init_default_scope('mmssl_kd')
    ours = MODELS.build(dict(type='CosineSimilarityLoss'))
    theirs = MODELS.build(dict(type='mmpretrain.CosineSimilarityLoss'))
    pred, target = torch.randn(4, 16), torch.randn(4, 16)
    assert torch.equal(ours(pred, target), theirs(pred, target))
    low = pred.bfloat16(), target.bfloat16()
    with torch.autocast('cpu', dtype=torch.bfloat16):
        mixed = ours(*low)
    assert mixed.dtype == torch.float32
    assert torch.equal(mixed, theirs(*(x.float() for x in low)))
