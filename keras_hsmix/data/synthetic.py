"""A small synthetic, histology-like segmentation dataset (no download needed).

Each image imitates an H&E-stained tissue section: a pink, fibrous stroma background
with scattered dark nuclei (class 0) and several irregular blobs. Class 1 blobs look like
glands (a rim of dark purple nuclei around pale cytoplasm and a white lumen). With
``num_classes > 2`` the other classes are blobs of other kinds: class 2 compact, dark
blue-purple cell nests; class 3 elongated, red-brown streaks; further classes reuse these
styles with a shifted hue. Per-image colour jitter and Gaussian noise are added.

Everything is generated with NumPy and SciPy, deterministically from ``seed``; image
``i`` depends only on ``(seed, i)``, not on ``num_images``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import tensorflow as tf
from scipy import ndimage

__all__ = ["make_synthetic_dataset", "synthetic_arrays"]

# RGB colours (0..1) of an H&E stain.
_STROMA = np.array([0.93, 0.70, 0.82])
_STROMA_DARK = np.array([0.82, 0.50, 0.68])
_NUCLEUS = np.array([0.36, 0.20, 0.52])
_CYTOPLASM = np.array([0.80, 0.62, 0.82])
_LUMEN = np.array([0.97, 0.94, 0.97])
_NEST = np.array([0.42, 0.32, 0.66])
_STREAK = np.array([0.78, 0.36, 0.42])


def _check_args(num_images: Any, image_size: Any, num_classes: Any, seed: Any) -> tuple[int, int, int, int, int]:
    def is_int(v: Any) -> bool:
        return isinstance(v, (int, np.integer)) and not isinstance(v, bool)

    if not is_int(num_images) or num_images < 1:
        raise ValueError(f"num_images must be a positive int, got {num_images!r}")
    if is_int(image_size):
        image_size = (image_size, image_size)
    try:
        height, width = image_size
        ok = is_int(height) and is_int(width) and height >= 16 and width >= 16
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise ValueError(f"image_size must be (height, width) with ints >= 16, got {image_size!r}")
    if not is_int(num_classes) or num_classes < 2:
        raise ValueError(f"num_classes must be an int >= 2, got {num_classes!r}")
    if not is_int(seed) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}")
    return int(num_images), int(height), int(width), int(num_classes), int(seed)


def _smooth_noise(rng: np.random.Generator, shape: tuple[int, int], sigma: float | tuple[float, float]) -> np.ndarray:
    """Gaussian-smoothed white noise normalised to zero mean and unit std.

    Large blurs are made on a coarser grid and upsampled bilinearly, which is much faster
    and looks the same.
    """
    sigmas = np.broadcast_to(np.asarray(sigma, dtype=np.float64), (2,))
    factor = max(1, int(sigmas.min() // 2))
    small = tuple(-(-n // factor) + 2 for n in shape)
    noise = ndimage.gaussian_filter(rng.standard_normal(small), tuple(sigmas / factor), mode="wrap")
    if factor > 1:
        noise = ndimage.zoom(noise, factor, order=1, mode="nearest", grid_mode=True)
    noise = noise[: shape[0], : shape[1]]
    noise -= noise.mean()
    return noise / (noise.std() + 1e-8)


def _blend(image: np.ndarray, colour: np.ndarray, alpha: np.ndarray) -> None:
    """In place: image = (1 - alpha) * image + alpha * colour."""
    image += alpha[..., None] * (colour - image)


def _style(class_id: int) -> tuple[int, np.ndarray]:
    """Blob style (0 gland, 1 nest, 2 streak) and a hue-shift matrix for class ``class_id``."""
    kind = (class_id - 1) % 3
    turn = (class_id - 1) // 3  # extra classes beyond 3: same shapes, rotated hue
    shift = np.eye(3)
    for _ in range(turn % 3):
        shift = shift @ np.array([[0.6, 0.4, 0.0], [0.0, 0.6, 0.4], [0.4, 0.0, 0.6]])
    return kind, shift


def _render_image(rng: np.random.Generator, height: int, width: int, num_classes: int) -> tuple[np.ndarray, np.ndarray]:
    scale = min(height, width)
    shape = (height, width)

    # Stroma: pink with fibrous (anisotropic) texture and paler patches.
    angle = rng.uniform(0, np.pi)
    fibres = _smooth_noise(rng, shape, (1.0 + 3.0 * abs(np.sin(angle)), 1.0 + 3.0 * abs(np.cos(angle))))
    patches = _smooth_noise(rng, shape, scale / 10)
    image = np.empty((height, width, 3))
    image[:] = _STROMA
    _blend(image, _STROMA_DARK, np.clip(0.35 + 0.25 * fibres + 0.15 * patches, 0, 1))
    _blend(image, np.ones(3), np.clip(0.25 * patches - 0.1, 0, 0.35))

    mask = np.zeros(shape, dtype=np.int32)
    occupied = np.zeros(shape, dtype=bool)
    grain = _smooth_noise(rng, shape, 0.8)  # fine granular texture (chromatin, cells)
    deform = np.clip(_smooth_noise(rng, shape, max(2.0, scale / 20)), -2.0, 2.0)  # blob outlines

    num_blobs = int(rng.integers(4, 9))
    classes = list(range(1, num_classes)) + list(rng.integers(1, num_classes, size=num_blobs))
    classes = classes[: max(num_blobs, num_classes - 1)]
    rng.shuffle(classes)
    margin = max(2, scale // 40)
    for class_id in classes:
        kind, shift = _style(int(class_id))
        if occupied.any():  # taxicab distance to the nearest blob; blobs keep `margin` apart
            free = ndimage.distance_transform_cdt(~occupied, metric="taxicab").astype(np.float64) - margin
        else:
            free = np.full(shape, np.inf)
        blocked = free <= 0
        for _attempt in range(25):
            if kind == 0:  # gland: large, moderately elongated
                a, b = rng.uniform(0.10, 0.21) * scale, rng.uniform(0.07, 0.15) * scale
                wobble = 0.22
            elif kind == 1:  # cell nest: compact and round
                a = rng.uniform(0.05, 0.10) * scale
                b = a * rng.uniform(0.75, 1.0)
                wobble = 0.15
            else:  # streak: thin and long
                a, b = rng.uniform(0.14, 0.24) * scale, rng.uniform(0.025, 0.045) * scale
                wobble = 0.12
            centres = np.flatnonzero(free.ravel() > 0.8 * b)  # room for at least the short axis
            if centres.size == 0:
                continue
            centre = int(centres[rng.integers(centres.size)])
            cy, cx = centre // width + rng.uniform(0, 1), centre % width + rng.uniform(0, 1)
            theta = rng.uniform(0, np.pi)
            # Work in the bounding box: d < 1 needs r < 1 / (1 - 2 * wobble).
            reach = a / (1.0 - 2.0 * wobble) + 2.0
            y0, y1 = max(0, int(cy - reach)), min(height, int(cy + reach) + 1)
            x0, x1 = max(0, int(cx - reach)), min(width, int(cx + reach) + 1)
            box = (slice(y0, y1), slice(x0, x1))
            yy, xx = np.mgrid[y0:y1, x0:x1].astype(np.float64)
            c, s = np.cos(theta), np.sin(theta)
            u = ((xx - cx) * c + (yy - cy) * s) / a
            v = (-(xx - cx) * s + (yy - cy) * c) / b
            d = np.sqrt(u * u + v * v) * (1.0 + wobble * deform[box])  # deformed ellipse
            inside = d < 1.0
            labels, count = ndimage.label(inside)
            if count > 1:  # keep one connected blob
                inside = labels == 1 + int(np.argmax(ndimage.sum_labels(inside, labels, range(1, count + 1))))
            if inside.sum() < 12 or np.any(inside & blocked[box]):
                continue
            break
        else:
            continue  # no free place for this blob

        edge = np.clip((1.0 - d) * min(a, b) + 0.5, 0.0, 1.0) * ndimage.binary_dilation(inside)  # soft border
        crop, g = image[box], grain[box]
        if kind == 0:
            rim = np.clip((d - 0.55) / 0.25, 0.0, 1.0) * edge
            _blend(crop, _CYTOPLASM @ shift.T, edge)
            _blend(crop, _NUCLEUS @ shift.T, rim * np.clip(0.75 + 0.35 * g, 0.0, 1.0))
            lumen_size = rng.uniform(0.25, 0.5)
            _blend(crop, _LUMEN, np.clip((lumen_size - d) / 0.12, 0.0, 1.0) * inside)
        elif kind == 1:
            _blend(crop, _NEST @ shift.T, edge * np.clip(0.8 + 0.3 * g, 0.0, 1.0))
            _blend(crop, _NUCLEUS * 0.7, edge * np.clip(g - 0.6, 0.0, 0.6))
        else:
            _blend(crop, _STREAK @ shift.T, edge * np.clip(0.85 + 0.2 * g, 0.0, 1.0))
        mask[box][inside] = class_id
        occupied[box] |= inside

    # Scattered stromal nuclei (background class; they make the task non-trivial).
    num_nuclei = int(rng.integers(15, 35) * height * width / 128**2)
    dots = np.zeros(shape)
    ny, nx = rng.integers(0, height, num_nuclei), rng.integers(0, width, num_nuclei)
    dots[ny, nx] = 1.0
    dots = ndimage.gaussian_filter(dots, rng.uniform(0.8, 1.3) * scale / 128) * 10.0
    _blend(image, _NUCLEUS, np.clip(dots, 0.0, 0.85) * (~occupied))

    # Per-image stain jitter, brightness and Gaussian noise.
    image = image * rng.uniform(0.92, 1.06, size=3) + rng.uniform(-0.04, 0.04)
    image += rng.normal(0.0, rng.uniform(0.01, 0.03), size=image.shape)
    return np.clip(image, 0.0, 1.0).astype(np.float32), mask


def synthetic_arrays(
    num_images: int = 32,
    image_size: tuple[int, int] = (128, 128),
    num_classes: int = 2,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Generate the synthetic histology-like dataset as NumPy arrays.

    Args:
        num_images: number of images.
        image_size: ``(height, width)``, each at least 16.
        num_classes: number of classes including background (>= 2). Class 1 are
            gland-like blobs; classes 2, 3, ... are other blob kinds. Every image has
            at least one blob of each class when there is room.
        seed: random seed; the output is a deterministic function of the arguments.

    Returns:
        ``(images, masks)``: float32 ``[N, H, W, 3]`` in [0, 1] and int32
        ``[N, H, W, 1]`` with values in ``0..num_classes-1``.

    Example:
        >>> images, masks = synthetic_arrays(num_images=4, image_size=(64, 64), seed=1)
        >>> images.shape, images.dtype.name, masks.shape, masks.dtype.name
        ((4, 64, 64, 3), 'float32', (4, 64, 64, 1), 'int32')
        >>> sorted(set(masks.ravel().tolist()))
        [0, 1]
    """
    num_images, height, width, num_classes, seed = _check_args(num_images, image_size, num_classes, seed)
    images = np.empty((num_images, height, width, 3), dtype=np.float32)
    masks = np.empty((num_images, height, width, 1), dtype=np.int32)
    for i in range(num_images):
        rng = np.random.default_rng([seed, i])
        images[i], masks[i, ..., 0] = _render_image(rng, height, width, num_classes)
    return images, masks


def make_synthetic_dataset(
    num_images: int = 32,
    image_size: tuple[int, int] = (128, 128),
    num_classes: int = 2,
    seed: int = 0,
) -> tf.data.Dataset:
    """The synthetic dataset as a ``tf.data.Dataset``, with the same elements as ``load_folder``.

    Elements are dicts ``{"images": float32 [H, W, 3] in [0, 1],
    "segmentation_masks": int32 [H, W, 1]}``; see :func:`synthetic_arrays`.

    Example:
        >>> ds = make_synthetic_dataset(num_images=8, image_size=(64, 64))
        >>> len(ds), ds.element_spec["segmentation_masks"].shape
        (8, TensorShape([64, 64, 1]))
    """
    images, masks = synthetic_arrays(num_images, image_size, num_classes, seed)
    return tf.data.Dataset.from_tensor_slices({"images": images, "segmentation_masks": masks})
