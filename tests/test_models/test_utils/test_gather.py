"""All-gathers: identity in one process; a 2-process gloo run of a
gathered contrastive loss equals the single-process loss and gradient."""

import torch
import torch.nn.functional as F
from _helpers.dist import mean_over_ranks
from mmpretrain.models.selfsup.simclr import GatherLayer

from mmssl_kd.models.utils import (
    FeatureQueue,
    concat_all_gather,
    gather_with_grad,
)

WORLD = 2


def problem():
    """8 inputs and the weight of a linear encoder, fixed by a seed."""
    gen = torch.Generator().manual_seed(0)
    return torch.randn(8, 5, generator=gen), torch.randn(5, 4, generator=gen)


def contrastive_loss(x, weight, gather, offset):
    """Each local row against the gathered batch; its own row is the
    positive (an InfoNCE whose negatives come from every rank)."""
    z = F.normalize(x @ weight, dim=1)
    logits = z @ gather(z).t() / 0.1
    labels = offset + torch.arange(z.shape[0])
    return F.cross_entropy(logits, labels)


def loss_and_grad(x, gather, offset=0):
    """Loss and weight gradient, averaged over ranks as DDP does."""
    weight = problem()[1].requires_grad_()
    loss = contrastive_loss(x, weight, gather, offset)
    loss.backward()
    return mean_over_ranks(loss.detach(), weight.grad)


def mmpretrain_gather(z):
    return torch.cat(GatherLayer.apply(z))


def worker(rank, out_dir):
    local = problem()[0].chunk(WORLD)[rank]
    rows = local.shape[0]
    results = dict(
        ours=loss_and_grad(local, gather_with_grad, rank * rows),
        mmpretrain=loss_and_grad(local, mmpretrain_gather, rank * rows))
    keys = torch.full((2, 3), float(rank))
    results['gathered'] = concat_all_gather(keys)
    queue = FeatureQueue(dim=3, length=5)
    queue.enqueue(keys)
    results['queue'] = (queue.queue.clone(), queue.ptr.clone())
    torch.save(results, out_dir / f'rank{rank}.pt')



def test_identity_in_one_process():
    x = torch.randn(3, 4, requires_grad=True)
    gathered = concat_all_gather(x)
    assert torch.equal(gathered, x) and not gathered.requires_grad
    y = gather_with_grad(x)
    y.sum().backward()
    assert torch.equal(y, x) and torch.equal(x.grad, torch.ones(3, 4))


def test_two_process_gloo_matches_single_process(tmp_path, gloo):
    gloo.spawn(worker, tmp_path, world_size=WORLD)
    ranks = [torch.load(tmp_path / f'rank{r}.pt') for r in range(WORLD)]
    ref_loss, ref_grad = loss_and_grad(problem()[0], lambda z: z)

    # half batches round z (and z z^T / 0.1 ten times that) otherwise than
    # the whole one: a few ulps of the loss, 3 measured; 1e-5 is 80
    for res in ranks:
        loss, grad = res['ours']
        torch.testing.assert_close(loss, ref_loss, rtol=1e-5, atol=1e-7)
        torch.testing.assert_close(grad, ref_grad, rtol=1e-5, atol=1e-6)
    # mmpretrain's GatherLayer: right loss, wrong gradient (stack.md 7)
    loss, grad = ranks[0]['mmpretrain']
    torch.testing.assert_close(loss, ref_loss, rtol=1e-5, atol=1e-7)
    assert (grad - ref_grad).abs().max() > 1e-2

    # no-grad gather and the queue: rank order, same on every rank
    expected = torch.tensor([0., 0., 1., 1.])[:, None].repeat(1, 3)
    for res in ranks:
        assert torch.equal(res['gathered'], expected)
        queue, ptr = res['queue']
        assert torch.equal(queue[:4], expected) and int(ptr) == 4
