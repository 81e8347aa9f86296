"""Whole datasets as NumPy arrays: a folder (:func:`load_folder`) or the built-in synthetic data."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from keras_hsmix.data.decode import rgb_to_luma
from keras_hsmix.data.folder import load_folder
from keras_hsmix.data.synthetic import synthetic_arrays


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
    num_classes: int | None = None,
):
    """``(images, masks)`` NumPy arrays from a folder, or from the built-in synthetic data (``data=None``).

    ``mask_mode``, ``label_values``, ``mask_suffix`` and ``channels`` are passed to
    :func:`keras_hsmix.data.load_folder` (folders only); with ``channels=1`` the built-in
    (RGB) data is turned into grayscale as ``load_folder`` does (ITU-R 601 luma). With
    ``mask_mode="values"`` and ``num_classes``, ``label_values`` defaults to ``0 .. num_classes-1``
    (masks that store the class ids) and must list one value per class.

    Example:
        >>> images, masks = load_arrays(None, size=32, count=4, mask_mode="nonzero", seed=0)
        >>> images.shape, masks.shape
        ((4, 32, 32, 3), (4, 32, 32, 1))
    """
    if channels not in (1, 3):
        raise ValueError(f"channels must be 1 or 3, got {channels!r}")
    if mask_mode == "values" and num_classes is not None:
        if label_values is None:
            label_values = list(range(num_classes))  # masks that store the class ids themselves
        elif len(label_values) != num_classes:
            raise ValueError(f"label_values lists {len(label_values)} value(s), one per class, but num_classes="
                             f"{num_classes}: give the raw mask value of each of the {num_classes} classes")
    if data is not None and mask_mode != "values" and num_classes is not None and num_classes > 2:
        raise ValueError(
            f"mask_mode={mask_mode!r} makes binary masks (class ids 0 and 1), but num_classes={num_classes}: for "
            "multi-class masks use mask_mode='values' (CLI: --mask-mode values), with label_values the raw mask "
            "value of each class (default 0..num_classes-1)"
        )
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
