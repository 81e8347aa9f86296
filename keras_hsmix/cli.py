"""Command line: ``keras-hsmix preview``. Parsing and printing only."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Sequence

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def _load_arrays(data: str | None, size: int, count: int, mask_mode: str, seed: int):
    import numpy as np

    from keras_hsmix.data import load_folder, synthetic_arrays

    if data is None:
        return synthetic_arrays(count, (size, size), seed=seed)
    ds = load_folder(data, image_size=(size, size), mask_mode=mask_mode)
    elements = list(ds.take(count).as_numpy_iterator())
    return (
        np.stack([e["images"] for e in elements]),
        np.stack([e["segmentation_masks"] for e in elements]),
    )


def cmd_preview(args: argparse.Namespace) -> int:
    from keras_hsmix.visualize import preview_figure

    images, masks = _load_arrays(args.data, args.size, 2 * args.pairs, args.mask_mode, args.seed)
    path = preview_figure(images, masks, args.out, n_segments=args.n_segments, p=args.p, seed=args.seed)
    source = args.data or "built-in synthetic data"
    print(f"wrote {path} ({len(images) // 2} pairs from {source})")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="keras-hsmix", description="HSMix augmentation for Keras 3")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("preview", help="write a PNG grid of hard and soft mixes")
    p.add_argument("--data", default=None, help="folder with images/ and masks/ (default: built-in synthetic data)")
    p.add_argument("--out", default="preview.png", help="output PNG path")
    p.add_argument("--size", type=int, default=224, help="resize images to SIZE x SIZE")
    p.add_argument("--pairs", type=int, default=2, help="number of image pairs (rows)")
    p.add_argument("--n-segments", type=int, default=300, help="SLIC superpixels per image")
    p.add_argument("--p", type=float, default=0.5, help="probability of picking a superpixel")
    p.add_argument("--mask-mode", default="nonzero", choices=["nonzero", "threshold"], help="mask mapping")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=cmd_preview)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (ValueError, FileNotFoundError) as err:
        print(f"keras-hsmix {args.command}: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
