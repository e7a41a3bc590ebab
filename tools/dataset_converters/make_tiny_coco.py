"""Build a tiny COCO-format detection set from a class-folder dataset, for
smoke tests of the detection transfer configs.

    python tools/dataset_converters/make_tiny_coco.py data/cifar10 \\
        --out data/tiny_coco --num-train 64 --num-val 16

Each image is a plain grey canvas with 1-3 real images of DATA_ROOT pasted
at random places that do not overlap, each resized so that its longer side
is between a quarter and a half of the canvas. An object's box is where it
was pasted, its category its class folder, its segmentation the box as a
polygon (so Mask R-CNN trains too). Writes ``OUT/{train,val}/*.jpg`` and
``OUT/annotations/instances_{train,val}.json``; each annotation also names
its ``source`` image (relative to DATA_ROOT). The result depends only on the
arguments (``--seed``). An existing OUT is kept unless ``--force``.
Needs only numpy and Pillow.
"""
import argparse
import json
import os
import os.path as osp
import shutil
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
from PIL import Image

IMAGE_EXTENSIONS = ('.jpg', '.jpeg', '.png', '.bmp')
CANVAS_GREY = 128
PLACEMENT_TRIES = 50
OUTPUTS = ('train', 'val', 'annotations')

Box = Tuple[int, int, int, int]  # x, y, w, h


def find_samples(split_dir: str) -> Tuple[List[str], List[Tuple[str, int]]]:
    """Class names (sorted folder names) and ``(path, class index)`` of
    every image under ``split_dir/<class>/``.

    Raises:
        FileNotFoundError: no class folder, or no image in them.
    """
    if not osp.isdir(split_dir):
        raise FileNotFoundError(f'{split_dir} is not a folder')
    classes = sorted(d for d in os.listdir(split_dir)
                     if osp.isdir(osp.join(split_dir, d)))
    if not classes:
        raise FileNotFoundError(
            f'{split_dir} has no class folders; expected '
            f'{split_dir}/<class>/<image>')
    samples = [(osp.join(split_dir, name, f), label)
               for label, name in enumerate(classes)
               for f in sorted(os.listdir(osp.join(split_dir, name)))
               if f.lower().endswith(IMAGE_EXTENSIONS)]
    if not samples:
        raise FileNotFoundError(
            f'the class folders of {split_dir} hold no images '
            f'({", ".join(IMAGE_EXTENSIONS)})')
    return classes, samples


def overlaps(a: Box, b: Box) -> bool:
    """Whether two boxes share a pixel."""
    return (a[0] < b[0] + b[2] and b[0] < a[0] + a[2]
            and a[1] < b[1] + b[3] and b[1] < a[1] + a[3])


def paste_objects(images: Sequence[Image.Image], canvas: int,
                  rng: np.random.Generator
                  ) -> Tuple[Image.Image, List[Tuple[int, Box]]]:
    """A grey ``canvas`` x ``canvas`` image with ``images`` resized and
    pasted where they do not overlap; ``(index into images, box)`` of those
    that found a place."""
    out = Image.new('RGB', (canvas, canvas), (CANVAS_GREY,) * 3)
    placed: List[Tuple[int, Box]] = []
    for i, img in enumerate(images):
        longer = int(rng.integers(canvas // 4, canvas // 2 + 1))
        scale = longer / max(img.size)
        w = max(1, round(img.size[0] * scale))
        h = max(1, round(img.size[1] * scale))
        for _ in range(PLACEMENT_TRIES):
            box = (int(rng.integers(0, canvas - w + 1)),
                   int(rng.integers(0, canvas - h + 1)), w, h)
            if not any(overlaps(box, b) for _, b in placed):
                out.paste(img.resize((w, h), Image.BILINEAR), box[:2])
                placed.append((i, box))
                break
    return out, placed


def make_split(samples: Sequence[Tuple[str, int]], classes: Sequence[str],
               num_images: int, objects: Tuple[int, int], canvas: int,
               rng: np.random.Generator, data_root: str,
               image_dir: str) -> Dict:
    """Write ``num_images`` canvases into ``image_dir``; their COCO dict."""
    os.makedirs(image_dir, exist_ok=True)
    images, annotations = [], []
    for image_id in range(1, num_images + 1):
        count = int(rng.integers(objects[0], objects[1] + 1))
        picks = rng.choice(len(samples), size=count, replace=False)
        sources = [samples[int(p)] for p in picks]
        pasted = [Image.open(path).convert('RGB') for path, _ in sources]
        img, placed = paste_objects(pasted, canvas, rng)
        file_name = f'{image_id:06d}.jpg'
        img.save(osp.join(image_dir, file_name), quality=95, subsampling=0)
        images.append(dict(id=image_id, file_name=file_name, width=canvas,
                           height=canvas))
        for i, (x, y, w, h) in placed:
            path, label = sources[i]
            annotations.append(dict(
                id=len(annotations) + 1, image_id=image_id,
                category_id=label + 1, bbox=[x, y, w, h], area=w * h,
                segmentation=[[x, y, x + w, y, x + w, y + h, x, y + h]],
                iscrowd=0, source=osp.relpath(path, data_root)))
    return dict(
        info=dict(description=f'tiny COCO-format set pasted from '
                  f'{data_root} by make_tiny_coco.py'),
        licenses=[], images=images, annotations=annotations,
        categories=[dict(id=i + 1, name=name, supercategory='object')
                    for i, name in enumerate(classes)])


def parse_range(text: str) -> Tuple[int, int]:
    """``'1-3'`` -> ``(1, 3)``, ``'2'`` -> ``(2, 2)``."""
    low, _, high = text.partition('-')
    try:
        bounds = int(low), int(high or low)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f'{text!r} is not a count or a range like 1-3') from None
    if not 1 <= bounds[0] <= bounds[1]:
        raise argparse.ArgumentTypeError(
            f'{text!r}: need 1 <= low <= high')
    return bounds


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('data_root',
                        help='class-folder dataset, e.g. data/cifar10')
    parser.add_argument('--out', required=True, help='folder to write')
    parser.add_argument('--num-train', type=int, default=64,
                        help='training images (default 64)')
    parser.add_argument('--num-val', type=int, default=16,
                        help='validation images (default 16)')
    parser.add_argument('--canvas', type=int, default=128,
                        help='side of the square images, px (default 128)')
    parser.add_argument('--objects-per-image', type=parse_range,
                        default=(1, 3), metavar='LOW-HIGH',
                        help='objects pasted per image (default 1-3)')
    parser.add_argument('--train-split', default='train',
                        help='sub-folder of DATA_ROOT the training objects '
                        'come from (default train)')
    parser.add_argument('--val-split',
                        help="sub-folder the validation objects come from "
                        "(default 'val' if DATA_ROOT has it, else 'test')")
    parser.add_argument('--seed', type=int, default=0,
                        help='seed of every random choice (default 0)')
    parser.add_argument('--force', action='store_true',
                        help='replace the outputs in an existing OUT')
    args = parser.parse_args(argv)
    if args.canvas < 8:
        parser.error('--canvas must be at least 8 px')
    if args.num_train < 1 or args.num_val < 1:
        parser.error('--num-train and --num-val must be at least 1')
    if args.val_split is None:
        args.val_split = ('val' if osp.isdir(osp.join(args.data_root, 'val'))
                          else 'test')
    return args


def main(argv: Optional[List[str]] = None) -> None:
    args = parse_args(argv)
    existing = [osp.join(args.out, d) for d in OUTPUTS
                if osp.exists(osp.join(args.out, d))]
    if existing and not args.force:
        raise SystemExit(f'{args.out} already holds {", ".join(existing)}; '
                         'pass --force to replace them')
    splits = {}
    for name, split in (('train', args.train_split),
                        ('val', args.val_split)):
        try:
            splits[name] = find_samples(osp.join(args.data_root, split))
        except FileNotFoundError as err:
            raise SystemExit(f'make_tiny_coco: {err}') from None
    classes = splits['train'][0]
    if not set(splits['val'][0]) <= set(classes):
        raise SystemExit(
            f'make_tiny_coco: {args.val_split} has classes that '
            f'{args.train_split} lacks: '
            f'{sorted(set(splits["val"][0]) - set(classes))}')
    samples = {}
    for name, (split_classes, found) in splits.items():
        labels = [classes.index(c) for c in split_classes]
        samples[name] = [(path, labels[label]) for path, label in found]
        if len(found) < args.objects_per_image[1]:
            raise SystemExit(
                f'make_tiny_coco: {name} has {len(found)} images, fewer '
                f'than --objects-per-image {args.objects_per_image[1]}')
    for path in existing:
        shutil.rmtree(path)
    os.makedirs(osp.join(args.out, 'annotations'))
    counts = dict(train=args.num_train, val=args.num_val)
    for index, name in enumerate(('train', 'val')):
        rng = np.random.default_rng([args.seed, index])
        coco = make_split(samples[name], classes, counts[name],
                          args.objects_per_image, args.canvas, rng,
                          args.data_root, osp.join(args.out, name))
        out_file = osp.join(args.out, 'annotations', f'instances_{name}.json')
        with open(out_file, 'w', encoding='utf-8') as f:
            json.dump(coco, f)
        print(f'{out_file}: {len(coco["images"])} images, '
              f'{len(coco["annotations"])} objects, {len(classes)} classes')


if __name__ == '__main__':
    main()
