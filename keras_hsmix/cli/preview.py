"""``keras-hsmix preview``: a PNG grid of hard and soft mixes."""

from __future__ import annotations

import argparse

from keras_hsmix.cli.common import add_mask_arguments


def run(args: argparse.Namespace) -> int:
    from keras_hsmix.data import load_arrays
    from keras_hsmix.visualize import preview_figure

    if args.mask_mode == "values" and args.label_values is None:
        raise ValueError("--mask-mode values needs --label-values (the raw mask value of each class, in class order)")
    images, masks = load_arrays(args.data, args.size, 2 * args.pairs, args.mask_mode, args.seed,
                                label_values=args.label_values, mask_suffix=args.mask_suffix,
                                channels=args.channels)
    num_classes = max(2, int(masks.max()) + 1)  # binary folders and the built-in data: 2
    path = preview_figure(images, masks, args.out, num_classes=num_classes, n_segments=args.n_segments, p=args.p,
                          seed=args.seed)
    source = args.data or "built-in synthetic data"
    print(f"wrote {path} ({len(images) // 2} pairs from {source})")
    return 0


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("preview", help="write a PNG grid of hard and soft mixes")
    p.add_argument("--data", default=None, help="folder with images/ and masks/ (default: built-in synthetic data)")
    p.add_argument("--out", default="preview.png", help="output PNG path")
    p.add_argument("--size", type=int, default=224, help="resize images to SIZE x SIZE")
    p.add_argument("--pairs", type=int, default=2, help="number of image pairs (rows)")
    p.add_argument("--n-segments", type=int, default=300, help="SLIC superpixels per image")
    p.add_argument("--p", type=float, default=0.5, help="probability of picking a superpixel")
    add_mask_arguments(p)
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=run)
