"""ImageFolder: helpful errors for missing data, deterministic subsets."""
import os
import os.path as osp
import shutil
from collections import Counter

import pytest
from mmengine.registry import DefaultScope

from mmssl_kd.datasets import ImageFolder
from mmssl_kd.registry import DATASETS


def _names(ds):
    return [osp.relpath(ds.get_data_info(i)['img_path'], ds.img_prefix)
            for i in range(len(ds))]


def test_reads_class_folders(tiny_image_folder):
    ds = ImageFolder(data_root=str(tiny_image_folder), split='train')
    assert len(ds) == 8
    assert ds.CLASSES == ('class_0', 'class_1')
    assert Counter(ds.get_gt_labels().tolist()) == {0: 4, 1: 4}
    assert all(n.startswith(f'class_{ds.get_data_info(i)["gt_label"]}/')
               for i, n in enumerate(_names(ds)))


def test_registered_and_loads_images(tiny_image_folder):
    with DefaultScope.overwrite_default_scope('mmssl_kd'):
        ds = DATASETS.build(dict(
            type='ImageFolder', data_root=str(tiny_image_folder),
            split='test',
            pipeline=[dict(type='LoadImageFromFile'),
                      dict(type='PackInputs')]))
    assert type(ds) is ImageFolder
    item = ds[0]
    assert tuple(item['inputs'].shape) == (3, 40, 40)
    assert int(item['data_samples'].gt_label) == 0


@pytest.mark.parametrize('case', ['missing', 'empty', 'no_split',
                                  'no_classes', 'no_images'])
def test_missing_data_message(tmp_path, case):
    root = tmp_path / 'cifar10'
    if case != 'missing':
        root.mkdir()
    if case in ('no_split', 'no_classes', 'no_images'):
        (root / 'other').mkdir()
    if case in ('no_classes', 'no_images'):
        (root / 'train').mkdir()
        (root / 'train' / 'readme.txt').write_text('not an image')
    if case == 'no_images':
        (root / 'train' / 'class_0').mkdir()
        (root / 'train' / 'class_0' / 'notes.txt').write_text('x')
    with pytest.raises(FileNotFoundError) as info:
        ImageFolder(data_root=str(root), split='train')
    msg = str(info.value)
    expected = {'missing': 'does not exist', 'empty': 'is empty',
                'no_split': "(split 'train') does not exist",
                'no_classes': 'has no class folders',
                'no_images': 'no images'}[case]
    assert expected in msg
    path = str(root) if case in ('missing', 'empty') else str(root / 'train')
    assert repr(path) in msg
    # says where the data goes and how to get it
    assert 'ln -s ../shared/data data' in msg
    assert 'data/imagenet/{train,val}/<wnid>/*.JPEG' in msg
    assert osp.join(str(root), 'train') + '/<class>/' in msg


def test_broken_symlink_is_missing(tmp_path):
    link = tmp_path / 'data'
    os.symlink(tmp_path / 'nowhere', link)
    with pytest.raises(FileNotFoundError, match='does not exist'):
        ImageFolder(data_root=str(link / 'cifar10'), split='train')


def test_rejects_prefix_arguments(tiny_image_folder):
    with pytest.raises(TypeError, match='split'):
        ImageFolder(data_root=str(tiny_image_folder), data_prefix='train')
    with pytest.raises(ValueError, match='num_per_class'):
        ImageFolder(data_root=str(tiny_image_folder), num_per_class=0)


def test_num_per_class_balanced_and_deterministic(tiny_image_folder):
    root = str(tiny_image_folder)
    a = ImageFolder(data_root=root, split='train', num_per_class=2)
    b = ImageFolder(data_root=root, split='train', num_per_class=2)
    assert len(a) == 4
    assert Counter(a.get_gt_labels().tolist()) == {0: 2, 1: 2}
    assert _names(a) == _names(b)  # same seed, same subset
    assert a.CLASSES == ('class_0', 'class_1')
    # other seeds give other subsets (6 possible pairs per class)
    subsets = {tuple(_names(ImageFolder(data_root=root, split='train',
                                        num_per_class=2, subset_seed=s)))
               for s in range(6)}
    assert len(subsets) > 1


def test_num_per_class_choice_is_per_class(tiny_image_folder, tmp_path):
    """A class's subset depends on the seed and that class's files only."""
    listing = tmp_path / 'some.txt'
    listing.write_text(''.join(f'class_0/{i}.jpg\n' for i in range(4)) +
                       'class_1/0.jpg\nclass_1/1.jpg\n')
    kwargs = dict(data_root=str(tiny_image_folder), split='train',
                  num_per_class=2, subset_seed=3)
    full = ImageFolder(**kwargs)
    part = ImageFolder(subset_file=str(listing), **kwargs)
    assert [n for n in _names(full) if n.startswith('class_0/')] == [
        n for n in _names(part) if n.startswith('class_0/')]
    assert [n for n in _names(part) if n.startswith('class_1/')] == [
        'class_1/0.jpg', 'class_1/1.jpg']


def test_num_per_class_larger_than_class(tiny_image_folder):
    ds = ImageFolder(data_root=str(tiny_image_folder), split='train',
                     num_per_class=100)
    assert len(ds) == 8


def test_subset_file(tiny_image_folder, tmp_path):
    listing = tmp_path / 'subset.txt'
    listing.write_text('# three images\nclass_0/1.jpg\n\nclass_1/3.jpg\n'
                       'class_1/0.jpg\n')
    ds = ImageFolder(data_root=str(tiny_image_folder), split='train',
                     subset_file=str(listing))
    assert _names(ds) == ['class_0/1.jpg', 'class_1/3.jpg', 'class_1/0.jpg']
    assert ds.get_gt_labels().tolist() == [0, 1, 1]
    assert ds.CLASSES == ('class_0', 'class_1')  # from the folders
    # combined with a per-class subset
    one = ImageFolder(data_root=str(tiny_image_folder), split='train',
                      subset_file=str(listing), num_per_class=1)
    assert Counter(one.get_gt_labels().tolist()) == {0: 1, 1: 1}


def test_subset_file_relative_to_data_root(tiny_image_folder):
    listing = tiny_image_folder / 'subset_rel.txt'
    listing.write_text('class_1/2.jpg\n')
    try:
        ds = ImageFolder(data_root=str(tiny_image_folder), split='test',
                         subset_file='subset_rel.txt')
        assert _names(ds) == ['class_1/2.jpg']
    finally:
        listing.unlink()


def test_subset_file_errors(tiny_image_folder, tmp_path):
    root = str(tiny_image_folder)
    with pytest.raises(FileNotFoundError, match='nope.txt.*not found'):
        ImageFolder(data_root=root, subset_file=str(tmp_path / 'nope.txt'))
    listing = tmp_path / 'bad_image.txt'
    listing.write_text('class_0/1.jpg\nclass_0/99.jpg\n')
    with pytest.raises(FileNotFoundError, match='99.jpg'):
        ImageFolder(data_root=root, subset_file=str(listing))
    listing.write_text('class_7/1.jpg\n')
    with pytest.raises(ValueError, match='class_7'):
        ImageFolder(data_root=root, subset_file=str(listing))
    listing.write_text('# nothing\n')
    with pytest.raises(ValueError, match='no images'):
        ImageFolder(data_root=root, subset_file=str(listing))


def test_hidden_folders_and_files_are_not_data(tiny_image_folder, tmp_path):
    """A hidden folder beside the classes was a class (label 0, shifting
    the others); the copies in one inside a class were training images."""
    root = shutil.copytree(tiny_image_folder, tmp_path / 'data')
    train = root / 'train'
    for hidden in (train / '.ipynb_checkpoints',
                   train / 'class_1' / '.ipynb_checkpoints'):
        hidden.mkdir()
        shutil.copy(train / 'class_1' / '0.jpg', hidden / '0-checkpoint.jpg')
    shutil.copy(train / 'class_0' / '0.jpg', train / 'class_0' / '._0.jpg')
    ds = ImageFolder(data_root=str(root), split='train')
    assert ds.CLASSES == ('class_0', 'class_1')
    assert _names(ds) == [f'class_{c}/{i}.jpg' for c in (0, 1)
                          for i in range(4)]
    assert ds.get_gt_labels().tolist() == [0] * 4 + [1] * 4
    listing = tmp_path / 'subset.txt'
    listing.write_text('class_1/2.jpg\n')
    part = ImageFolder(data_root=str(root), split='train',
                       subset_file=str(listing))
    assert part.CLASSES == ('class_0', 'class_1')
    assert part.get_gt_labels().tolist() == [1]


def test_class_folder_without_images_is_refused(tiny_image_folder,
                                                tmp_path):
    """It was kept with a warning: a label for a class without images."""
    root = shutil.copytree(tiny_image_folder, tmp_path / 'data')
    empty = root / 'train' / 'class_0b'
    empty.mkdir()
    (empty / 'notes.txt').write_text('moved to class_1')
    with pytest.raises(FileNotFoundError) as err:
        ImageFolder(data_root=str(root), split='train')
    message = str(err.value)
    assert message.startswith('1 class folder(s) hold no images (')
    assert repr(str(empty)) in message and 'Delete the folder' in message
