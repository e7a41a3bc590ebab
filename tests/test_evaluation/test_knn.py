"""Weighted kNN: the classifier, the metric and feature extraction."""
import math

import pytest
import torch
from mmengine.dataset import default_collate, pseudo_collate
from mmpretrain.models import SelfSupDataPreprocessor
from mmpretrain.structures import DataSample
from torch import nn
from torch.utils.data import DataLoader

import mmssl_kd.evaluation.knn as knn_module
from mmssl_kd.evaluation import (
    KNNAccuracy,
    extract_features,
    knn_evaluate,
    weighted_knn,
)
from mmssl_kd.registry import METRICS


def reference_knn(train, train_labels, test, test_labels, num_classes, k, t):
    """Plain-Python weighted kNN: (top-1 %, top-5 %)."""
    def unit(v):
        norm = math.sqrt(sum(x * x for x in v))
        return [x / norm for x in v]

    train = [unit(v) for v in train.tolist()]
    hits1 = hits5 = 0
    for query, label in zip(test.tolist(), test_labels.tolist()):
        query = unit(query)
        sims = sorted(((sum(a * b for a, b in zip(query, v)), int(c))
                       for v, c in zip(train, train_labels.tolist())),
                      reverse=True)[:k]
        votes = [0.0] * num_classes
        for sim, c in sims:
            votes[c] += math.exp(sim / t)
        # stable sort: equal votes keep the lower class first; a class
        # without votes is never a prediction
        ranked = sorted(range(num_classes), key=lambda c: -votes[c])
        ranked = [c for c in ranked if votes[c] > 0]
        hits1 += ranked[0] == label
        hits5 += label in ranked[:5]
    return 100 * hits1 / len(test), 100 * hits5 / len(test)


def polar(deg, radius=1.0):
    rad = math.radians(deg)
    return [radius * math.cos(rad), radius * math.sin(rad)]


# One class-0 point right at the query's direction; two class-1 points at
# +-40 degrees, five times as long (so only a normalised similarity puts
# the class-0 point first).
BANK = torch.tensor([polar(0), polar(40, 5), polar(-40, 5)])
BANK_LABELS = torch.tensor([0, 1, 1])
QUERY, QUERY_LABEL = torch.tensor([polar(0, 0.3)]), torch.tensor([0])


def test_weights_decide_against_the_majority():
    # k=3, T=0.07: class 0 gets exp(1/T) = 1.6e6, class 1 gets
    # 2 exp(cos(40 deg)/T) = 1.1e5, so the single close neighbour wins ...
    assert math.exp(1 / 0.07) > 2 * math.exp(math.cos(math.radians(40)) /
                                             0.07)
    res = weighted_knn(BANK, BANK_LABELS, QUERY, QUERY_LABEL, 2, ks=(1, 3))
    assert res == {'top1_k1': 100.0, 'top1_k3': 100.0}
    # ... while with a flat weighting (T=10) the two class-1 votes win.
    assert math.exp(1 / 10) < 2 * math.exp(math.cos(math.radians(40)) / 10)
    res = weighted_knn(BANK, BANK_LABELS, QUERY, QUERY_LABEL, 2, ks=(1, 3),
                       temperature=10)
    assert res == {'top1_k1': 100.0, 'top1_k3': 0.0}


def test_matches_hand_computation_on_mixed_queries():
    # second query (at 45 deg, class 1) is nearest to the 40-deg point
    test = torch.tensor([polar(0), polar(45), polar(-10)])
    labels = torch.tensor([0, 1, 1])
    res = weighted_knn(BANK, BANK_LABELS, test, labels, 2, ks=(1, 3))
    # k=1: neighbours 0, 1, 0 -> hits q0, q1; k=3 T=0.07: q0 -> 0, q1 -> 1,
    # q2 at -10 deg: exp(cos10/T)=1.3e6 vs exp(cos30/T)+exp(cos50/T)=2.5e5
    assert res['top1_k1'] == pytest.approx(200 / 3)
    assert res['top1_k3'] == pytest.approx(200 / 3)
    for k in (1, 3):
        assert res[f'top1_k{k}'] == pytest.approx(reference_knn(
            BANK, BANK_LABELS, test, labels, 2, k, 0.07)[0])


def test_k_larger_than_bank_uses_whole_bank(monkeypatch):
    logged = []
    monkeypatch.setattr(knn_module, 'print_log',
                        lambda msg, **kwargs: logged.append(msg))
    res = weighted_knn(BANK, BANK_LABELS, QUERY, QUERY_LABEL, 2, ks=(3, 50),
                       temperature=10)
    assert res == {'top1_k3': 0.0, 'top1_k50': 0.0}
    assert len(logged) == 1 and 'k=50' in logged[0] and '3 bank' in logged[0]


def test_chunking_does_not_change_the_result():
    gen = torch.Generator().manual_seed(0)
    train = torch.randn(53, 8, generator=gen)
    test = torch.randn(37, 8, generator=gen)
    train_labels = torch.randint(0, 7, (53,), generator=gen)
    test_labels = torch.randint(0, 7, (37,), generator=gen)
    args = (train, train_labels, test, test_labels, 7, (1, 5, 20, 100))
    full = weighted_knn(*args, chunk_size=1000)
    assert weighted_knn(*args, chunk_size=1) == full
    assert weighted_knn(*args, chunk_size=5) == full


def test_many_classes_odd_sizes_match_reference():
    gen = torch.Generator().manual_seed(1)
    train = torch.randn(29, 5, generator=gen)
    test = torch.randn(17, 5, generator=gen)
    train_labels = torch.randint(0, 13, (29,), generator=gen)
    test_labels = torch.randint(0, 13, (17,), generator=gen)
    ks = (1, 3, 7, 29, 40)
    res = weighted_knn(train, train_labels, test, test_labels, 13, ks=ks,
                       temperature=0.5, chunk_size=4)
    assert set(res) == {f'top{n}_k{k}' for n in (1, 5) for k in ks}
    for k in ks:
        top1, top5 = reference_knn(train, train_labels, test, test_labels,
                                   13, min(k, 29), 0.5)
        assert res[f'top1_k{k}'] == pytest.approx(top1)
        assert res[f'top5_k{k}'] == pytest.approx(top5)
    assert res['top5_k29'] >= res['top1_k29']


def test_small_temperature_does_not_overflow():
    res = weighted_knn(BANK, BANK_LABELS, QUERY, QUERY_LABEL, 2, ks=(3,),
                       temperature=1e-3)
    assert res == {'top1_k3': 100.0}


def test_ties_and_unvoted_classes():
    # collapsed features: every vote weighs the same; 5 classes tie at k=5
    bank, query = torch.ones(5, 3), torch.ones(5, 3)
    labels = torch.arange(5)
    res = weighted_knn(bank, labels, query, labels, 6, ks=(1, 5))
    assert res['top1_k5'] == 20.0  # the tie goes to class 0
    assert res['top5_k5'] == 100.0
    # one neighbour votes for one class: top-5 is no better than top-1
    assert res['top5_k1'] == res['top1_k1'] == 20.0


@pytest.mark.parametrize('label,top1', [(1, 100.0), (3, 0.0)])
def test_tied_votes_go_to_the_lower_class(label, top1):
    """Two neighbours at the same similarity, of classes 1 and 3: equal
    votes, and class 1 wins (the other direction swaps the results)."""
    bank = torch.tensor([[1., 0.], [1., 0.], [-1., 0.]])
    bank_labels = torch.tensor([3, 1, 0])
    query = torch.tensor([[1., 0.], [2., 0.]])
    res = weighted_knn(bank, bank_labels, query, torch.full((2, ), label), 6,
                       ks=(2, ))
    assert res['top1_k2'] == top1
    assert res['top5_k2'] == 100.0


def test_rejects_bad_input():
    with pytest.raises(ValueError, match='temperature'):
        weighted_knn(BANK, BANK_LABELS, QUERY, QUERY_LABEL, 2, temperature=0)
    with pytest.raises(ValueError, match='bank labels'):
        weighted_knn(BANK, BANK_LABELS, QUERY, QUERY_LABEL, 1)
    with pytest.raises(ValueError, match='query images'):
        weighted_knn(BANK, BANK_LABELS, QUERY[:0], QUERY_LABEL[:0], 2)


def test_metric_equals_function():
    gen = torch.Generator().manual_seed(2)
    train = torch.randn(20, 6, generator=gen)
    test = torch.randn(11, 6, generator=gen)
    train_labels = torch.randint(0, 6, (20,), generator=gen)
    test_labels = torch.randint(0, 6, (11,), generator=gen)
    metric = METRICS.build(dict(type='KNNAccuracy', ks=(2, 5),
                                temperature=0.2))
    assert isinstance(metric, KNNAccuracy)
    metric.set_bank(train, train_labels, 6)
    for start in range(0, 11, 4):  # gt_label shaped as DataSample keeps it
        batch = zip(test[start:start + 4], test_labels[start:start + 4])
        metric.process(None, [dict(feat=f, gt_label=label.view(1))
                              for f, label in batch])
    expected = weighted_knn(train, train_labels, test, test_labels, 6,
                            ks=(2, 5), temperature=0.2)
    assert metric.evaluate(11) == {f'knn/{k}': v for k, v in expected.items()}


def test_metric_needs_a_bank():
    metric = KNNAccuracy(ks=(1,))
    metric.process(None, [dict(feat=torch.ones(2), gt_label=0)])
    with pytest.raises(RuntimeError, match='set_bank'):
        metric.evaluate(1)


class ToyModel(nn.Module):
    """``extract_feat`` returns the input scaled, in one of three forms."""

    def __init__(self, out: str):
        super().__init__()
        self.data_preprocessor = SelfSupDataPreprocessor()
        self.scale = nn.Parameter(torch.tensor(2.0))
        self.frozen = nn.Identity()  # a submodule kept in eval mode
        self.out = out
        self.grad_enabled = []

    def extract_feat(self, inputs):
        self.grad_enabled.append(torch.is_grad_enabled())
        fmap = inputs * self.scale
        if self.out == 'map':  # a ResNet: tuple of (B, C, H, W)
            return (fmap * 0, fmap)
        if self.out == 'vector':  # (B, C)
            return fmap.mean(dim=(2, 3))
        if self.out == 'raw':  # a ViT's (B, 1 + T, C): [CLS] first
            tokens = fmap.flatten(2).transpose(1, 2)
            return (torch.cat([fmap.mean(dim=(2, 3))[:, None], tokens * 0],
                              dim=1), )
        return ([fmap * 0, fmap.mean(dim=(2, 3))], )  # [patch, cls]


def image_loader(images, labels, collate=default_collate, views=True,
                 batch_size=3):
    items = [dict(inputs=[img] if views else img,
                  data_samples=DataSample().set_gt_label(int(label)))
             for img, label in zip(images, labels)]
    return DataLoader(items, batch_size=batch_size, collate_fn=collate)


@pytest.mark.parametrize('out', ['map', 'vector', 'cls', 'raw'])
@pytest.mark.parametrize('views', [True, False])
def test_extract_features_one_vector_per_image(out, views):
    gen = torch.Generator().manual_seed(3)
    images = torch.rand(7, 4, 3, 5, generator=gen)
    labels = torch.arange(7) % 3
    model = ToyModel(out).train()
    model.frozen.eval()
    feats, got_labels = extract_features(
        model, image_loader(images, labels, views=views))
    assert torch.allclose(feats, 2 * images.mean(dim=(2, 3)))
    assert got_labels.tolist() == labels.tolist()  # dataset order
    assert model.grad_enabled and not any(model.grad_enabled)
    assert model.training and not model.frozen.training  # modes restored


def test_extract_features_explains_wrong_collate():
    loader = image_loader(torch.rand(2, 3, 4, 4), [0, 1], pseudo_collate,
                          views=False)
    with pytest.raises(ValueError, match='default_collate'):
        extract_features(ToyModel('map'), loader)


def test_knn_evaluate_equals_function_on_features():
    gen = torch.Generator().manual_seed(4)
    bank_images = torch.rand(10, 3, 2, 2, generator=gen)
    query_images = torch.rand(5, 3, 2, 2, generator=gen)
    bank_labels = torch.arange(10) % 5
    query_labels = torch.tensor([0, 1, 2, 3, 4])
    model = ToyModel('map')
    res = knn_evaluate(model, image_loader(bank_images, bank_labels),
                       image_loader(query_images, query_labels, batch_size=2),
                       ks=(1, 4), temperature=0.1)
    expected = weighted_knn(bank_images.mean(dim=(2, 3)), bank_labels,
                            query_images.mean(dim=(2, 3)), query_labels, 5,
                            ks=(1, 4), temperature=0.1)
    assert res == expected
    assert set(res) == {'top1_k1', 'top1_k4', 'top5_k1', 'top5_k4'}


def test_knn_evaluate_blocks_from_one_pass():
    """blocks=(1, 2) of a two-output backbone ('map': a zero map, then the
    image map): each block's result equals the function on that block's
    features, with one forward per batch for both blocks."""
    gen = torch.Generator().manual_seed(4)
    bank_images = torch.rand(10, 3, 2, 2, generator=gen)
    query_images = torch.rand(5, 3, 2, 2, generator=gen)
    bank_labels = torch.arange(10) % 5
    query_labels = torch.tensor([0, 1, 2, 3, 4])
    model = ToyModel('map')
    res = knn_evaluate(model, image_loader(bank_images, bank_labels),
                       image_loader(query_images, query_labels, batch_size=2),
                       ks=(1, 4), temperature=0.1, blocks=(1, 2))
    assert len(model.grad_enabled) == 4 + 3  # batches of bank and queries
    for block, feats in [(1, lambda x: x.mean(dim=(2, 3)) * 0),
                         (2, lambda x: x.mean(dim=(2, 3)))]:
        expected = weighted_knn(feats(bank_images), bank_labels,
                                feats(query_images), query_labels, 5,
                                ks=(1, 4), temperature=0.1)
        assert {k: res[f'block{block}/{k}'] for k in expected} == expected
    with pytest.raises(ValueError, match='block 3: the backbone gives 2'):
        knn_evaluate(model, image_loader(bank_images, bank_labels),
                     image_loader(query_images, query_labels), blocks=(3, ))


def _dist_worker(rank, out_dir):
    from mmengine.dataset import DefaultSampler
    gen = torch.Generator().manual_seed(5)
    images = torch.rand(7, 3, 2, 2, generator=gen)
    labels = torch.arange(7) % 5

    def loader():
        items = [dict(inputs=img, data_samples=DataSample().set_gt_label(
            int(label))) for img, label in zip(images, labels)]
        return DataLoader(items, batch_size=3, collate_fn=default_collate,
                          sampler=DefaultSampler(items, shuffle=False))

    model = ToyModel('map')
    feats = extract_features(model, loader())
    res = knn_evaluate(model, loader(), loader(), ks=(1, 3), temperature=0.1)
    torch.save(dict(feats=feats, res=res), out_dir / f'rank{rank}.pth')


@pytest.mark.slow  # two spawned processes import the stack: ~20 s
def test_distributed_gather_keeps_dataset_order(tmp_path, gloo):
    gloo.spawn(_dist_worker, tmp_path, world_size=2)
    rank0, rank1 = (torch.load(tmp_path / f'rank{r}.pth') for r in (0, 1))
    gen = torch.Generator().manual_seed(5)
    images = torch.rand(7, 3, 2, 2, generator=gen)
    labels = torch.arange(7) % 5
    feats, got_labels = rank0['feats']
    # rank 0 holds all 7 images (the sampler's padding dropped), in order
    assert torch.allclose(feats, 2 * images.mean(dim=(2, 3)))
    assert got_labels.tolist() == labels.tolist()
    assert rank1['feats'] == (None, None)
    expected = weighted_knn(feats, labels, feats, labels, 5, ks=(1, 3),
                            temperature=0.1)
    assert rank0['res'] == rank1['res'] == expected
