"""tools/dataset_converters/make_tiny_coco.py: a deterministic COCO-format
set whose boxes are exactly where real images were pasted (no mmdet
needed)."""
import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

TOOL = Path(__file__).resolve().parents[2] / \
    'tools/dataset_converters/make_tiny_coco.py'
spec = importlib.util.spec_from_file_location('make_tiny_coco', TOOL)
make_tiny_coco = importlib.util.module_from_spec(spec)
spec.loader.exec_module(make_tiny_coco)

CANVAS = 64


def build(root: Path, out: Path, *extra: str) -> dict:
    """Run the tool; the two annotation files, by split."""
    make_tiny_coco.main([str(root), '--out', str(out), '--num-train', '6',
                         '--num-val', '3', '--canvas', str(CANVAS), *extra])
    return {split: json.loads(
        (out / 'annotations' / f'instances_{split}.json').read_text())
        for split in ('train', 'val')}


def test_same_seed_same_files(tiny_image_folder, tmp_path):
    first = build(tiny_image_folder, tmp_path / 'a', '--seed', '3')
    second = build(tiny_image_folder, tmp_path / 'b', '--seed', '3')
    other = build(tiny_image_folder, tmp_path / 'c', '--seed', '4')
    assert first == second and first != other
    for split in ('train', 'val'):
        for img in first[split]['images']:
            name = Path(split) / img['file_name']
            assert (tmp_path / 'a' / name).read_bytes() == \
                (tmp_path / 'b' / name).read_bytes()


def test_boxes_are_where_the_images_were_pasted(tiny_image_folder, tmp_path):
    out = tmp_path / 'coco'
    sets = build(tiny_image_folder, out)
    assert [c['name'] for c in sets['val']['categories']] == \
        ['class_0', 'class_1']
    assert sets['val']['annotations'][0]['source'].startswith('test/')
    for split, coco in sets.items():
        anns = coco['annotations']
        assert len(coco['images']) == (6 if split == 'train' else 3)
        assert len({a['id'] for a in anns}) == len(anns)
        for img in coco['images']:
            assert (img['width'], img['height']) == (CANVAS, CANVAS)
            mine = [a for a in anns if a['image_id'] == img['id']]
            assert 1 <= len(mine) <= 3
            expected = Image.new('RGB', (CANVAS, CANVAS), (128,) * 3)
            pasted = np.zeros((CANVAS, CANVAS), bool)
            near = np.zeros((CANVAS, CANVAS), bool)  # pasted + a JPEG block
            for ann in mine:
                x, y, w, h = ann['bbox']
                assert 0 <= x and x + w <= CANVAS
                assert 0 <= y and y + h <= CANVAS
                assert CANVAS // 4 <= max(w, h) <= CANVAS // 2
                assert ann['area'] == w * h and ann['iscrowd'] == 0
                assert ann['segmentation'] == [
                    [x, y, x + w, y, x + w, y + h, x, y + h]]
                assert not pasted[y:y + h, x:x + w].any()  # no overlap
                pasted[y:y + h, x:x + w] = True
                near[max(y - 8, 0):y + h + 8, max(x - 8, 0):x + w + 8] = True
                source = tiny_image_folder / ann['source']
                category = coco['categories'][ann['category_id'] - 1]
                assert source.parent.name == category['name']
                expected.paste(Image.open(source).convert('RGB').resize(
                    (w, h), Image.BILINEAR), (x, y))
            written = np.asarray(Image.open(out / split / img['file_name']),
                                 dtype=np.float32)
            diff = np.abs(written - np.asarray(expected, np.float32))
            for ann in mine:  # JPEG quality 95
                x, y, w, h = ann['bbox']
                assert diff[y:y + h, x:x + w].mean() < 3.5, ann
            # the canvas is plain grey away from the pasted images
            assert np.abs(written[~near] - 128).max(initial=0) <= 2


def test_keeps_existing_output_unless_force(tiny_image_folder, tmp_path):
    out = tmp_path / 'coco'
    build(tiny_image_folder, out)
    marker = out / 'train' / 'mine.txt'
    marker.write_text('keep me')
    with pytest.raises(SystemExit, match='--force'):
        build(tiny_image_folder, out)
    assert marker.read_text() == 'keep me'
    build(tiny_image_folder, out, '--force')
    assert not marker.exists()
    assert len(list((out / 'train').glob('*.jpg'))) == 6


def test_clear_error_without_class_folders_or_images(tmp_path):
    root = tmp_path / 'data'
    (root / 'train').mkdir(parents=True)
    (root / 'test').mkdir()
    with pytest.raises(SystemExit, match='no class folders'):
        build(root, tmp_path / 'coco')
    (root / 'train' / 'cat').mkdir()
    (root / 'train' / 'cat' / 'notes.txt').write_text('not an image')
    with pytest.raises(SystemExit, match='hold no images'):
        build(root, tmp_path / 'coco')
    assert not (tmp_path / 'coco').exists()
