"""``keras-hsmix preview``: a PNG grid of hard and soft mixes."""

from __future__ import annotations

import argparse

from keras_hsmix.cli.common import (
    add_mask_arguments,
    add_verbosity_arguments,
    check_output_file,
    non_negative_int,
    positive_int,
    probability,
)


def check(args: argparse.Namespace, parser: argparse.ArgumentParser) -> None:
    """Checks what argparse's types cannot, before anything is read or written."""
    check_output_file(parser, "--out", args.out, folder=False)
    if args.size < 16:
        parser.error(f"--size: expected an integer >= 16, got {args.size}")
    if args.num_classes is not None and args.num_classes < 2:
        parser.error(f"--num-classes: expected an integer >= 2 (classes including background), got {args.num_classes}")
    if args.mask_mode == "values" and args.label_values is None and args.num_classes is None:
        parser.error("--mask-mode values needs --label-values (the raw mask value of each class, in class order), "
                     "or --num-classes K for masks that store the class ids 0..K-1")
    # A binary --mask-mode with --num-classes > 2, or a --label-values count other than --num-classes: refused by
    # load_arrays, before any file is read.


def run(args: argparse.Namespace) -> int:
    from keras_hsmix.data import load_arrays
    from keras_hsmix.visualize import preview_figure

    source = args.data or "built-in synthetic data"
    say = (lambda text: None) if args.quiet else (lambda text: print(text, flush=True))
    say(f"[1/2] loading {2 * args.pairs} images ({args.size}x{args.size} px) from {source}")
    num_classes = args.num_classes or (len(args.label_values) if args.mask_mode == "values" else 2)
    images, masks = load_arrays(args.data, args.size, 2 * args.pairs, args.mask_mode, args.seed,
                                label_values=args.label_values, mask_suffix=args.mask_suffix,
                                channels=args.channels, num_classes=num_classes if args.data else None)
    say(f"[2/2] superpixels (SLIC, {args.n_segments} per image), hard and soft mixes, saliency, drawing "
        f"{len(images) // 2} row(s)")
    path = preview_figure(images, masks, args.out, num_classes=num_classes, n_segments=args.n_segments, p=args.p,
                          seed=args.seed)
    rows = len(images) // 2
    short = f"; --pairs {args.pairs} needs {2 * args.pairs} images, found {len(images)}" if rows < args.pairs else ""
    print(f"wrote {path} ({rows} pair(s) from {source}{short})")
    return 0


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "preview", help="write a PNG grid of hard and soft mixes",
        description="Draw hard and soft HSMix mixes of image pairs (A, B, B's superpixels, the hard mix, the "
                    "static saliency of A and B, the soft mix and its mask) into a PNG grid, one row per pair.",
    )
    p.add_argument("--data", default=None, help="folder with images/ and masks/ (default: built-in synthetic data)")
    p.add_argument("--out", default="preview.png", help="output PNG path")
    p.add_argument("--size", type=positive_int, default=224,
                   help="resize images to SIZE x SIZE for the figure (larger than train's default of 64, to be "
                        "legible; --size 64 shows what train's defaults see)")
    p.add_argument("--pairs", type=positive_int, default=2, help="number of image pairs (rows)")
    p.add_argument("--n-segments", type=positive_int, default=300,
                   help="SLIC superpixels per image (one per about 170 pixels at 224 px; train's 20 40 at 64 px is "
                        "the same density)")
    p.add_argument("--p", type=probability, default=0.5, help="probability of picking a superpixel")
    p.add_argument("--num-classes", type=positive_int, default=None,
                   help="classes including background, as for train (default: the number of --label-values with "
                        "--mask-mode values, else 2)")
    add_mask_arguments(p)
    p.add_argument("--seed", type=non_negative_int, default=0, help="seed of the images and the mixes")
    add_verbosity_arguments(p)
    p.set_defaults(func=run, check=lambda args: check(args, p))
