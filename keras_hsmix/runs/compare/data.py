"""The arrays of a comparison: a training pool with nested subsets, a fixed validation split and a test split."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from keras_hsmix.data import find_pairs, load_arrays, synthetic_arrays
from keras_hsmix.data.decode import rgb_to_luma
from keras_hsmix.runs.compare.config import CompareConfig
from keras_hsmix.runs.train import split_train_val


@dataclass
class CompareData:
    """Train pool, fixed validation split and test arrays (images float [0, 1], masks int [N, H, W, 1])."""

    train_images: np.ndarray
    train_masks: np.ndarray
    val_images: np.ndarray
    val_masks: np.ndarray
    test_images: np.ndarray
    test_masks: np.ndarray
    pool_order: np.ndarray  # indices into the train pool, nested subsets are prefixes
    val_indices: np.ndarray = field(default_factory=lambda: np.zeros(0, int))
    test_names: list[str] = field(default_factory=list)  # file stems of the test images, in array order

    def subset(self, fraction: float) -> np.ndarray:
        """Indices of the first ``round(fraction * n)`` images of the pool's fixed order (at least 2), sorted."""
        n = max(2, int(round(fraction * len(self.pool_order))))
        return np.sort(self.pool_order[:n])


def split_folders(cfg: CompareConfig) -> tuple[Path, Path | None]:
    """``(train folder, test folder or None)``: ``train/`` and ``test/`` of ``data_dir`` when it has them,
    else ``data_dir`` itself with ``test_dir`` (``None``: a test split is held out of it)."""
    root = Path(cfg.data_dir)
    if (root / "train" / "images").is_dir():
        test = Path(cfg.test_dir) if cfg.test_dir else root / "test"
        return root / "train", test
    return root, Path(cfg.test_dir) if cfg.test_dir else None


def _read(folder: Path, cfg: CompareConfig, count: int | None) -> tuple[np.ndarray, np.ndarray, list[str]]:
    images, masks = load_arrays(str(folder), cfg.size, count, cfg.mask_mode, 0, label_values=cfg.label_values,
                                mask_suffix=cfg.mask_suffix, channels=cfg.channels, num_classes=cfg.num_classes)
    names = [image.stem for image, _ in find_pairs(folder, mask_suffix=cfg.mask_suffix)][: len(images)]
    return images, masks, names


def load_compare_data(cfg: CompareConfig) -> CompareData:
    """Loads the data, holds out validation (and a test split for a single folder), fixes the pool's order.

    The validation split is ``split_train_val(n, val_fraction, split_seed)``; the remaining images are
    permuted once (seed ``split_seed + 1``) and fraction ``f`` takes the first ``round(f * n)`` of them, so
    the subsets are nested.
    """
    if cfg.data_dir:
        train_dir, test_dir = split_folders(cfg)
        if test_dir is None:
            images, masks, names = _read(train_dir, cfg, cfg.max_train_images)
            keep, held = split_train_val(len(images), cfg.test_fraction, cfg.split_seed + 2)
            held = held[: cfg.max_test_images] if cfg.max_test_images else held
            test_images, test_masks = images[held], masks[held]
            test_names = [names[i] for i in held]
            images, masks = images[keep], masks[keep]
        else:
            images, masks, _ = _read(train_dir, cfg, cfg.max_train_images)
            test_images, test_masks, test_names = _read(test_dir, cfg, cfg.max_test_images)
    else:
        images, masks = synthetic_arrays(cfg.num_synthetic, (cfg.size, cfg.size), cfg.num_classes, seed=0)
        n_test = cfg.max_test_images or max(2, cfg.num_synthetic // 2)
        test_images, test_masks = synthetic_arrays(n_test, (cfg.size, cfg.size), cfg.num_classes, seed=1)
        test_names = [f"synthetic_{i}" for i in range(len(test_images))]
        if cfg.channels == 1:
            images, test_images = rgb_to_luma(images), rgb_to_luma(test_images)
    images = images.astype(np.float32)
    test_images = test_images.astype(np.float32)
    masks = masks.reshape(masks.shape[:3] + (1,)).astype(np.int32)
    test_masks = test_masks.reshape(test_masks.shape[:3] + (1,)).astype(np.int32)
    if cfg.mask_mode == "nonzero" and cfg.num_classes == 2:
        masks, test_masks = (masks > 0).astype(np.int32), (test_masks > 0).astype(np.int32)
    for split, m in (("training", masks), ("test", test_masks)):
        if m.max() >= cfg.num_classes:
            raise ValueError(f"{split} masks hold class id {int(m.max())} >= num_classes ({cfg.num_classes})")
    train_idx, val_idx = split_train_val(len(images), cfg.val_fraction, cfg.split_seed)
    order = np.random.default_rng(cfg.split_seed + 1).permutation(len(train_idx))
    return CompareData(images[train_idx], masks[train_idx], images[val_idx], masks[val_idx],
                       test_images, test_masks, order, val_idx, test_names)
