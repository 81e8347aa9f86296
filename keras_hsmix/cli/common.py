"""Helpers shared by subcommands: loading arrays from a folder or the built-in data."""

from __future__ import annotations

import numpy as np


def load_arrays(data: str | None, size: int, count: int | None, mask_mode: str, seed: int, num_images: int = 32):
    """``(images, masks)`` NumPy arrays from a folder, or from the built-in synthetic data."""
    from keras_hsmix.data import load_folder, synthetic_arrays

    if data is None:
        return synthetic_arrays(count or num_images, (size, size), seed=seed)
    ds = load_folder(data, image_size=(size, size), mask_mode=mask_mode)
    if count is not None:
        ds = ds.take(count)
    elements = list(ds.as_numpy_iterator())
    return (
        np.stack([e["images"] for e in elements]),
        np.stack([e["segmentation_masks"] for e in elements]),
    )
