"""The project's SelfSupDataPreprocessor: MMPretrain's views, samples left
where they are."""
import pytest
import torch
from mmengine.registry import init_default_scope
from mmpretrain.structures import DataSample

from mmssl_kd.models.data_preprocessors import SelfSupDataPreprocessor
from mmssl_kd.registry import MODELS

CFG = dict(mean=[125.3, 123.0, 113.9], std=[63.0, 62.1, 66.7], to_rgb=True)


def batch(views: int = 2) -> dict:
    gen = torch.Generator().manual_seed(0)
    inputs = [torch.randint(0, 256, (4, 3, 8, 8), dtype=torch.uint8,
                            generator=gen) for _ in range(views)]
    return dict(inputs=inputs,
                data_samples=[DataSample().set_gt_label(i) for i in range(4)])


def test_scope_name_gives_the_project_class():
    init_default_scope('mmssl_kd')
    built = MODELS.build(dict(type='SelfSupDataPreprocessor', **CFG))
    assert type(built) is SelfSupDataPreprocessor
    assert built._non_blocking


@pytest.mark.parametrize('views', [1, 2])
def test_same_views_as_mmpretrain_and_samples_untouched(views):
    init_default_scope('mmssl_kd')
    theirs = MODELS.build(dict(type='mmpretrain.SelfSupDataPreprocessor',
                               **CFG))
    data = batch(views)
    ours = SelfSupDataPreprocessor(**CFG)(data, True)
    expected = theirs(batch(views), True)
    assert len(ours['inputs']) == views
    for a, b in zip(ours['inputs'], expected['inputs']):
        assert a.dtype == torch.float32 and torch.equal(a, b)
    assert ours['data_samples'] is data['data_samples']


def test_single_tensor_input_for_knn_features():
    data = dict(inputs=batch(1)['inputs'][0], data_samples=None)
    out = SelfSupDataPreprocessor(**CFG)(data, False)
    assert out['inputs'].shape == (4, 3, 8, 8)
    channel = data['inputs'][:, 2].float()  # BGR in, RGB out
    assert torch.allclose(out['inputs'][:, 0], (channel - 125.3) / 63.0)


def test_rejects_a_non_dict_batch():
    with pytest.raises(TypeError, match='default_collate'):
        SelfSupDataPreprocessor(**CFG)([torch.zeros(1, 3, 2, 2)], True)
