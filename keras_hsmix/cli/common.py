"""Helpers shared by subcommands: loading arrays from a folder or the built-in data."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

import numpy as np


def load_arrays(
    data: str | None,
    size: int,
    count: int | None,
    mask_mode: str,
    seed: int,
    num_images: int = 32,
    label_values: Sequence[int] | None = None,
    mask_suffix: str = "",
    channels: int = 3,
):
    """``(images, masks)`` NumPy arrays from a folder, or from the built-in synthetic data.

    ``mask_mode``, ``label_values``, ``mask_suffix`` and ``channels`` are passed to
    :func:`keras_hsmix.data.load_folder` (folders only); with ``channels=1`` the built-in
    (RGB) data is turned into grayscale as ``load_folder`` does (ITU-R 601 luma).
    """
    from keras_hsmix.data import load_folder, synthetic_arrays
    from keras_hsmix.data.folder import rgb_to_luma

    if channels not in (1, 3):
        raise ValueError(f"channels must be 1 or 3, got {channels!r}")
    if data is None:
        images, masks = synthetic_arrays(count or num_images, (size, size), seed=seed)
        if channels == 1:
            images = rgb_to_luma(images)
        return images, masks
    ds = load_folder(
        data,
        image_size=(size, size),
        mask_mode=mask_mode,
        label_values=None if label_values is None else list(label_values),
        mask_suffix=mask_suffix,
        channels=channels,
    )
    if count is not None:
        ds = ds.take(count)
    elements = list(ds.as_numpy_iterator())
    return (
        np.stack([e["images"] for e in elements]),
        np.stack([e["segmentation_masks"] for e in elements]),
    )


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
