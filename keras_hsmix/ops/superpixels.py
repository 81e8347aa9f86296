"""SLIC superpixels from scikit-image, callable from TensorFlow graphs.

The work is done by :func:`skimage.segmentation.slic` on the CPU through
``tf.numpy_function``; the static shape is restored afterwards so the result
composes with graph code (``tf.function``, ``tf.data``).
"""

from __future__ import annotations

from typing import Sequence, Union

import numpy as np
import tensorflow as tf
from skimage.segmentation import slic

NSegments = Union[int, Sequence[int]]

#: The paper draws the number of superpixels per image in this range.
DEFAULT_N_SEGMENTS: tuple[int, int] = (200, 400)


def _is_int(value: object) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def check_n_segments(n_segments: NSegments) -> tuple[int, int]:
    """``n_segments`` as an inclusive ``(low, high)`` range; an int ``n`` is ``(n, n)``.

    Raises a ValueError naming the value unless it is a positive int or a pair ``1 <= low <= high``.

    Example:
        >>> check_n_segments(300), check_n_segments((200, 400))
        ((300, 300), (200, 400))
    """
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


def _slic_batch(images: np.ndarray, counts: np.ndarray, compactness: float) -> np.ndarray:
    out = np.empty(images.shape[:3], dtype=np.int32)
    for i, image in enumerate(images):
        out[i] = slic_numpy(image, int(counts[i]), compactness)
    return out


def _per_image_counts(n_segments: int | tf.Tensor | Sequence[int], batch: tf.Tensor) -> tf.Tensor:
    """``n_segments`` (an int, or one int per image) as an int32 vector ``[B]``, checked >= 1."""
    if not tf.is_tensor(n_segments) and not isinstance(n_segments, np.ndarray):
        low, high = check_n_segments(n_segments)
        if low != high:
            raise ValueError(
                f"n_segments={n_segments!r} is a range: slic_superpixels takes the value(s) already drawn "
                "(an int, or one int per image). Draw them in a seeded layer or pipeline step, e.g. "
                "HSMix(n_segments=(200, 400), seed=0) or keras_hsmix.data.add_superpixels(ds, (200, 400), seed=0)"
            )
        return tf.fill(tf.shape(batch)[:1], tf.constant(low, tf.int32))
    counts = tf.convert_to_tensor(n_segments)
    if not counts.dtype.is_integer:
        raise TypeError(f"n_segments: expected integer values, got dtype {counts.dtype.name}")
    counts = tf.cast(counts, tf.int32)
    if counts.shape.rank == 0:
        counts = tf.fill(tf.shape(batch)[:1], counts)
    elif counts.shape.rank != 1:
        raise ValueError(f"n_segments: expected an int or one int per image [B], got shape {counts.shape}")
    tf.debugging.assert_positive(counts, message="n_segments: every value must be >= 1")
    return counts


def slic_superpixels(
    images: tf.Tensor,
    n_segments: int | tf.Tensor = 300,
    compactness: float = 10.0,
) -> tf.Tensor:
    """SLIC superpixel label maps for one image or a batch, usable in graphs.

    Deterministic: the op holds no randomness. To vary the granularity, draw
    ``n_segments`` per image first and pass the drawn values (the layers and
    :func:`keras_hsmix.data.add_superpixels` draw them from their seeds).

    Args:
        images: ``[H, W, C]`` or ``[B, H, W, C]``: RGB (C = 3, clustered in
            CIELAB) or any other channel count (gray, multi-sequence MRI);
            any value range (each image is rescaled to [0, 1]).
        n_segments: approximate number of superpixels: an int, or an int
            tensor with one value per image (``[B]``).
        compactness: SLIC compactness (balance of colour and space).

    Returns:
        int32 label maps ``[H, W]`` or ``[B, H, W]`` with ids ``0..n-1`` per
        image and the static shape of the input restored.

    Example:
        >>> import tensorflow as tf
        >>> sp = slic_superpixels(tf.random.uniform((2, 64, 64, 3)), n_segments=50)
        >>> sp.shape, sp.dtype
        (TensorShape([2, 64, 64]), tf.int32)
        >>> slic_superpixels(tf.random.uniform((2, 64, 64, 3)), tf.constant([20, 60])).shape
        TensorShape([2, 64, 64])

    Works inside ``tf.data.Dataset.map`` and ``tf.function``.
    """
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
    counts = _per_image_counts(n_segments, batch)

    def run(x: np.ndarray, n: np.ndarray) -> np.ndarray:
        return _slic_batch(x, n, float(compactness))

    labels = tf.numpy_function(run, [batch, counts], tf.int32, stateful=False)
    labels.set_shape(batch.shape[:3])
    return labels if rank == 4 else labels[0]
