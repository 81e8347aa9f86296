"""Options shared by subcommands: how a folder's files are read."""

from __future__ import annotations

import argparse


def add_mask_arguments(parser: argparse.ArgumentParser) -> None:
    """The options that say how a folder's files are read: masks to class ids, image channels (see ``load_folder``)."""
    parser.add_argument(
        "--mask-mode", default="nonzero", choices=["nonzero", "threshold", "values"],
        help="nonzero: binary, 1 where the mask is > 0 (instance-id masks such as GlaS); threshold: 1 where > 127; "
             "values: multi-class, the gray value --label-values[k] is class k",
    )
    parser.add_argument(
        "--label-values", type=int, nargs="+", default=None, metavar="V",
        help="with --mask-mode values: the raw mask value of each class, in class order (train's default: "
             "0 1 ... num_classes-1, masks that store class ids)",
    )
    parser.add_argument(
        "--channels", type=int, default=3, choices=[1, 3],
        help="image channels: 3 (RGB, default) or 1 (grayscale: CT, MRI, ultrasound, X-ray; RGB files become luma)",
    )
    parser.add_argument(
        "--mask-suffix", default="",
        help="what a mask's file name adds to its image's (e.g. _mask for images/12.jpg and masks/12_mask.png)",
    )
