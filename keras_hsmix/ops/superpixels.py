"""SLIC superpixels from scikit-image, callable from TensorFlow graphs.

The work is done by :func:`skimage.segmentation.slic` on the CPU through
``tf.numpy_function``; the static shape is restored afterwards so the result
composes with graph code (``tf.function``, ``tf.data``).
"""

from __future__ import annotations

import zlib
from typing import Sequence, Union

import numpy as np
import tensorflow as tf
from skimage.segmentation import slic

NSegments = Union[int, Sequence[int]]

#: The paper draws the number of superpixels per image in this range.
DEFAULT_N_SEGMENTS: tuple[int, int] = (200, 400)


def _is_int(value: object) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def _check_n_segments(n_segments: NSegments) -> tuple[int, int]:
    if _is_int(n_segments):
        low = high = int(n_segments)
    else:
        try:
            values = tuple(n_segments)  # type: ignore[arg-type]
        except TypeError:
            values = ()
        if len(values) != 2 or not all(_is_int(v) for v in values):
            raise ValueError(
                f"n_segments must be an int or a (low, high) pair of ints, got {n_segments!r}"
            )
        low, high = (int(v) for v in values)
    if low < 1 or high < low:
        raise ValueError(
            f"n_segments must satisfy 1 <= low <= high, got {n_segments!r}"
        )
    return low, high


L_RANGE = 100.0
"""Range of CIELAB's L channel, in which SLIC measures RGB images; other channel counts are matched to it."""


def _to_unit_float(image: np.ndarray) -> np.ndarray:
    """Scales an image to float64 in [0, 1] by its dtype."""
    if np.issubdtype(image.dtype, np.integer):
        return image.astype(np.float64) / float(np.iinfo(image.dtype).max)
    image = image.astype(np.float64)
    if not np.all(np.isfinite(image)):
        raise ValueError("images: SLIC input contains NaN or Inf values")
    return image


def slic_numpy(
    image: np.ndarray,
    n_segments: int,
    compactness: float = 10.0,
) -> np.ndarray:
    """SLIC on one NumPy image ``[H, W, C]`` (any C >= 1); ids 0..n-1, int32.

    scikit-image rescales each image to [0, 1] (so the input's value range
    does not matter: uint8, 12-bit values in uint16, floats) and measures RGB
    images (C = 3) in CIELAB, whose L channel spans 0..100. Other channel
    counts (grayscale, or e.g. the four MRI sequences of BraTS) are clustered
    on their values with ``compactness / 100``: their intensity then weighs
    against distance as an RGB image's colour does, and one ``compactness``
    means the same for all.

    Example:
        >>> import numpy as np
        >>> labels = slic_numpy(np.random.rand(32, 32, 3), n_segments=16)
        >>> labels.shape, int(labels.min())
        ((32, 32), 0)
    """
    if image.ndim != 3 or image.shape[-1] < 1:
        raise ValueError(f"images: expected [H, W, C] with C >= 1, got shape {image.shape}")
    unit = _to_unit_float(image)
    if unit.shape[-1] == 3:
        labels = slic(unit, n_segments=int(n_segments), compactness=compactness, start_label=0)
    else:
        labels = slic(
            unit,
            n_segments=int(n_segments),
            compactness=compactness / L_RANGE,
            start_label=0,
            channel_axis=-1,
            convert2lab=False,
        )
    # Make ids contiguous: 0..n-1 in order of first appearance of sorted ids.
    _, inverse = np.unique(labels, return_inverse=True)
    return inverse.reshape(labels.shape).astype(np.int32)


def _slic_batch(
    images: np.ndarray, low: int, high: int, compactness: float, seed: int
) -> np.ndarray:
    out = np.empty(images.shape[:3], dtype=np.int32)
    for i, image in enumerate(images):
        if seed < 0:
            rng = np.random.default_rng()
        else:
            # Deterministic for (seed, image content), yet different per image.
            rng = np.random.default_rng([seed, zlib.crc32(image.tobytes())])
        n = int(rng.integers(low, high + 1))
        out[i] = slic_numpy(image, n, compactness)
    return out


def slic_superpixels(
    images: tf.Tensor,
    n_segments: NSegments = DEFAULT_N_SEGMENTS,
    compactness: float = 10.0,
    seed: int | None = None,
) -> tf.Tensor:
    """SLIC superpixel label maps for one image or a batch, usable in graphs.

    Args:
        images: ``[H, W, C]`` or ``[B, H, W, C]``: RGB (C = 3, clustered in
            CIELAB) or any other channel count (gray, multi-sequence MRI);
            any value range (each image is rescaled to [0, 1]).
        n_segments: approximate number of superpixels, an int, or a
            ``(low, high)`` range from which one value is drawn per image
            (inclusive; the paper draws 200 to 400).
        compactness: SLIC compactness (balance of colour and space).
        seed: with an int, the draw of ``n_segments`` is a function of the
            seed and of the image content, so it is reproducible and still
            differs between images; with ``None`` it is random.

    Returns:
        int32 label maps ``[H, W]`` or ``[B, H, W]`` with ids ``0..n-1`` per
        image and the static shape of the input restored.

    Example:
        >>> import tensorflow as tf
        >>> sp = slic_superpixels(tf.random.uniform((2, 64, 64, 3)), n_segments=50)
        >>> sp.shape, sp.dtype
        (TensorShape([2, 64, 64]), tf.int32)

    Works inside ``tf.data.Dataset.map`` and ``tf.function``.
    """
    low, high = _check_n_segments(n_segments)
    images = tf.convert_to_tensor(images)
    rank = images.shape.rank
    if rank not in (3, 4):
        raise ValueError(
            f"images: expected rank 3 [H, W, C] or rank 4 [B, H, W, C], got shape {images.shape}"
        )
    if images.shape[-1] == 0:
        raise ValueError(f"images: expected at least one channel, got shape {images.shape}")
    if not (images.dtype.is_floating or images.dtype.is_integer):
        raise TypeError(f"images: unsupported dtype {images.dtype.name}")
    batch = images if rank == 4 else images[tf.newaxis]
    seed_value = -1 if seed is None else int(seed) % (2**31)

    def run(x: np.ndarray) -> np.ndarray:
        return _slic_batch(x, low, high, float(compactness), seed_value)

    labels = tf.numpy_function(run, [batch], tf.int32, stateful=seed is None)
    labels.set_shape(batch.shape[:3])
    return labels if rank == 4 else labels[0]
