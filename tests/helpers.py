"""Small builders shared by the tests."""

from __future__ import annotations

import numpy as np


def grid_superpixels(batch: int, height: int, width: int, block: int) -> np.ndarray:
    """Superpixels as a grid of ``block x block`` squares, ids 0..n-1 per image."""
    rows = np.arange(height)[:, None] // block
    cols = np.arange(width)[None, :] // block
    ids = rows * ((width + block - 1) // block) + cols
    return np.broadcast_to(ids, (batch, height, width)).astype(np.int32).copy()


def constant_pair_batch(height: int = 16, width: int = 16, block: int = 4) -> dict:
    """Two constant images (all 1 and all 2), masks all class 0 and all class 1, grid superpixels."""
    images = np.stack([np.ones((height, width, 3)), 2 * np.ones((height, width, 3))]).astype(np.float32)
    masks = np.stack([np.zeros((height, width, 1)), np.ones((height, width, 1))]).astype(np.int32)
    return {
        "images": images,
        "segmentation_masks": masks,
        "superpixels": grid_superpixels(2, height, width, block),
    }


def random_batch(
    batch: int = 4, height: int = 24, width: int = 24, channels: int = 3, num_classes: int = 3, seed: int = 0
) -> dict:
    rng = np.random.default_rng(seed)
    return {
        "images": rng.random((batch, height, width, channels)).astype(np.float32),
        "segmentation_masks": rng.integers(0, num_classes, (batch, height, width, 1)).astype(np.int32),
        "superpixels": grid_superpixels(batch, height, width, 4),
    }
