"""Builders shared by the reliability tests (random batches, folders, snapshots)."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

INT_MAX = {"uint8": 255, "uint16": 65535}


def random_images(rng: np.random.Generator, shape: tuple[int, ...], dtype: str) -> np.ndarray:
    """Random images of ``dtype``: integers over the dtype's range, floats in [0, 1]."""
    if dtype in INT_MAX:
        return rng.integers(0, INT_MAX[dtype] + 1, shape).astype(dtype)
    return rng.random(shape).astype(dtype)


def random_superpixels(rng: np.random.Generator, batch: int, height: int, width: int) -> np.ndarray:
    """Superpixel maps: a random grid of blocks, with ids relabelled at random (not contiguous)."""
    out = np.empty((batch, height, width), np.int32)
    for b in range(batch):
        bh, bw = int(rng.integers(1, height + 1)), int(rng.integers(1, width + 1))
        rows = np.arange(height)[:, None] // bh
        cols = np.arange(width)[None, :] // bw
        grid = rows * (width // bw + 1) + cols
        ids = rng.permutation(int(grid.max()) + 1 + int(rng.integers(0, 4)))  # gaps in the ids are allowed
        out[b] = ids[grid]
    return out


def write_png(path: Path, array: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)


def make_folder(root: Path, stems: tuple[str, ...] = ("1", "2", "3", "4"), size: tuple[int, int] = (24, 32)) -> Path:
    """A valid ``images/`` + ``masks/`` folder of small PNGs."""
    rng = np.random.default_rng(0)
    for stem in stems:
        write_png(root / "images" / f"{stem}.png", rng.integers(0, 256, (*size, 3), dtype=np.uint8))
        write_png(root / "masks" / f"{stem}.png", (rng.random(size) > 0.5).astype(np.uint8) * 255)
    return root


def snapshot(root: Path) -> dict[str, Any]:
    """Names, sizes, modes and hashes of every file and folder under ``root``."""
    state: dict[str, Any] = {}
    for path in sorted(root.rglob("*")):
        stat = path.stat()
        digest = hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else "dir"
        state[str(path.relative_to(root))] = (stat.st_size if path.is_file() else 0, stat.st_mode, digest)
    return state
