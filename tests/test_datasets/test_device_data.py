"""DeviceImageDataset and DeviceDataLoader: the decoded images, DefaultSampler
order per epoch and per rank, resume at an epoch, the Runner's loader and
its refusals."""
import cv2
import pytest
import torch
from mmengine.dataset import DefaultSampler
from mmengine.dataset import sampler as sampler_module
from mmengine.dataset.utils import default_collate
from mmengine.registry import DefaultScope
from torch.utils.data import DataLoader

from mmssl_kd.datasets import (
    DeviceDataLoader,
    DeviceImageDataset,
    ImageFolder,
    device_data,
)
from mmssl_kd.engine import Runner


@pytest.fixture
def source(tiny_image_folder) -> dict:
    return dict(type='ImageFolder', data_root=str(tiny_image_folder),
                split='train')


@pytest.fixture
def dataset(source) -> DeviceImageDataset:
    with DefaultScope.overwrite_default_scope('mmssl_kd'):
        return DeviceImageDataset(source, device='cpu')


def _sampler(dataset, rank=0, world=1, monkeypatch=None, seed=5):
    if monkeypatch is not None:
        monkeypatch.setattr(sampler_module, 'get_dist_info',
                            lambda: (rank, world))
    return DefaultSampler(dataset, shuffle=True, seed=seed)


def test_images_are_what_load_image_from_file_reads(dataset, source):
    folder = ImageFolder(data_root=source['data_root'], split='train')
    assert len(dataset) == len(folder) == 8
    assert dataset.metainfo['classes'] == folder.metainfo['classes']
    assert dataset.images.dtype == torch.uint8
    assert tuple(dataset.images.shape) == (8, 3, 40, 40)
    for i in range(len(folder)):
        info = folder.get_data_info(i)
        bgr = torch.from_numpy(cv2.imread(info['img_path'])).permute(2, 0, 1)
        assert torch.equal(dataset.images[i], bgr)
        assert int(dataset.labels[i]) == info['gt_label']
        assert int(dataset[i]['data_samples'].gt_label) == info['gt_label']
    assert torch.equal(dataset[3]['inputs'], dataset.images[3])


def test_a_subset_of_a_decoded_split_is_cut_from_it(dataset, source,
                                                    monkeypatch):
    def no_decoding(*args):
        raise AssertionError('decoded the same files again')

    monkeypatch.setattr(device_data, 'decode_images', no_decoding)
    with DefaultScope.overwrite_default_scope('mmssl_kd'):
        again = DeviceImageDataset(source, device='cpu')
        subset = DeviceImageDataset(dict(source, num_per_class=2),
                                    device='cpu')
    assert again.images is dataset.images
    rows = [dataset.img_paths.index(p) for p in subset.img_paths]
    assert len(rows) == 4
    assert torch.equal(subset.images, dataset.images[rows])
    assert torch.equal(subset.labels, dataset.labels[rows])


def test_resize_and_mixed_sizes(tmp_path):
    for i, size in enumerate((40, 24)):
        folder = tmp_path / 'train' / 'a'
        folder.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(folder / f'{i}.png'),
                    torch.full((size, size, 3), 9 * i,
                               dtype=torch.uint8).numpy())
    source = dict(type='ImageFolder', data_root=str(tmp_path),
                  split='train')
    with DefaultScope.overwrite_default_scope('mmssl_kd'):
        with pytest.raises(ValueError, match='give DeviceImageDataset a '
                                             '`size`'):
            DeviceImageDataset(source, device='cpu')
        resized = DeviceImageDataset(source, size=16, device='cpu')
    assert tuple(resized.images.shape) == (2, 3, 16, 16)
    assert int(resized.images[1].min()) == int(resized.images[1].max()) == 9


@pytest.mark.parametrize('world', [1, 3])
@pytest.mark.parametrize('drop_last', [True, False])
def test_batches_follow_default_sampler_per_epoch_and_rank(
        dataset, monkeypatch, world, drop_last):
    """Each rank's batches are a DataLoader's over the same sampler, epoch
    after epoch; the ranks together cover the epoch's order."""
    seen = []
    for rank in range(world):
        sampler = _sampler(dataset, rank, world, monkeypatch)
        reference = DataLoader(dataset, batch_size=2, sampler=sampler,
                               drop_last=drop_last,
                               collate_fn=default_collate)
        loader = DeviceDataLoader(dataset, sampler, 2, drop_last)
        assert len(loader) == len(reference)
        for epoch in range(3):
            sampler.set_epoch(epoch)
            ours, theirs = list(loader), list(reference)
            assert len(ours) == len(theirs)
            for mine, ref in zip(ours, theirs):
                assert torch.equal(mine['inputs'][0], ref['inputs'])
                assert mine['gt_label'].tolist() == \
                    [int(s.gt_label) for s in ref['data_samples']]
            if epoch == 0:
                seen += [image for b in ours for image in b['inputs'][0]]
    if world == 3 and not drop_last:  # 8 images padded to 9: all seen
        assert len(seen) == 9
        assert all(any(torch.equal(image, s) for s in seen)
                   for image in dataset.images)


def test_epochs_shuffle_differently_and_resume_at_an_epoch(dataset,
                                                          monkeypatch):
    """A loader made fresh at epoch 2 (a resumed run: the sampler-seed hook
    sets the epoch) gives the uninterrupted run's batches and seeds."""
    first = DeviceDataLoader(dataset, _sampler(dataset), 4, True)
    run = []
    for epoch in range(3):
        first.sampler.set_epoch(epoch)
        run.append(list(first))
    orders = [torch.cat([b['inputs'][0] for b in e]) for e in run]
    assert not torch.equal(orders[0], orders[1])
    resumed = DeviceDataLoader(dataset, _sampler(dataset), 4, True)
    resumed.sampler.set_epoch(2)
    for mine, ref in zip(resumed, run[2]):
        assert torch.equal(mine['inputs'][0], ref['inputs'][0])
        assert mine['aug_seed'] == ref['aug_seed']
    seeds = [b['aug_seed'] for e in run for b in e]
    assert len(set(seeds)) == len(seeds) == 6


def test_aug_seeds_are_a_function_of_the_coordinates():
    seed = device_data.aug_seed
    assert seed(0, 1, 0, 2) == seed(0, 1, 0, 2)
    coords = [(0, 1, 0, 2), (1, 1, 0, 2), (0, 2, 0, 2), (0, 1, 1, 2),
              (0, 1, 0, 3)]
    values = [seed(*c) for c in coords]
    assert len(set(values)) == len(values)
    assert all(0 <= v < 2**63 for v in values)


def test_runner_builds_it_and_refuses_worker_free_nonsense(source):
    cfg = dict(batch_size=3, drop_last=True, num_workers=8,
               persistent_workers=True, pin_memory=True,
               collate_fn=dict(type='default_collate'),
               sampler=dict(type='DefaultSampler', shuffle=True),
               dataset=dict(type='DeviceImageDataset', source=source,
                            device='cpu'))
    with DefaultScope.overwrite_default_scope('mmssl_kd'):
        loader = Runner.build_dataloader(cfg, seed=7)
        assert isinstance(loader, DeviceDataLoader)
        assert (len(loader), loader.sampler.seed) == (2, 7)
        with pytest.raises(TypeError, match=r"\['shuffle'\] have no "
                                            'meaning'):
            Runner.build_dataloader(dict(cfg, shuffle=True), seed=7)
        folder = Runner.build_dataloader(
            dict(cfg, dataset=dict(source, pipeline=[])), seed=7)
    assert isinstance(folder, DataLoader)
