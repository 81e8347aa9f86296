"""Fine-grained static saliency (Montabone & Soto, 2010) in pure TensorFlow.

This module re-implements OpenCV's ``cv2.saliency.StaticSaliencyFineGrained``
(opencv_contrib, ``modules/saliency/src/staticSaliencyFineGrained.cpp``) with
batched, graph-compatible TensorFlow ops, so that the saliency maps HSMix uses
for soft mixing can be computed inside ``tf.data`` pipelines or Keras layers
without OpenCV.

The algorithm, step by step (all steps reproduce OpenCV's 8-bit arithmetic):

1. Grayscale: ``Y = (9798 R + 19235 G + 3735 B + 2**14) >> 15`` (OpenCV's
   fixed-point 8-bit ``COLOR_BGR2GRAY``; the input here is RGB).
2. Two passes of a 3x3 Gaussian blur with kernel ``[1, 2, 1] / 4`` per axis,
   reflect-101 borders, rounded (half up) back to 8 bits after each pass.
3. For each half-size ``n`` in ``(12, 24, 48, 28, 56, 112)``, the mean of the
   surround of every pixel: the box ``[y - n + 1, y + n] x [x - n + 1, x + n]``
   clipped to the image, minus the centre pixel itself, computed from
   cumulative sums (integral image). The "on" response is
   ``trunc(max(gray - mean, 0))`` and the "off" response
   ``trunc(max(mean - gray, 0))``.
4. On and off responses are summed over the six scales; each sum is rescaled
   to ``[0, 255]`` by its per-image maximum (truncating to 8 bits).
5. The final map is ``trunc(255 * (on + off) / max(max(on), max(off)))``,
   stored in 8 bits.

The output is then divided by its per-image maximum (255 for any non-constant
image, exactly as OpenCV's float output; an epsilon makes a constant image
give zeros).
"""

from __future__ import annotations

import tensorflow as tf

from keras_hsmix.ops.checks import assert_finite

__all__ = ["static_saliency", "SALIENCY_NEIGHBORHOODS"]

#: Half-sizes of the centre-surround boxes, in OpenCV's order.
SALIENCY_NEIGHBORHOODS: tuple[int, ...] = (12, 24, 48, 28, 56, 112)

# OpenCV's fixed-point 8-bit BGR2GRAY coefficients (scale 2**15) for R, G, B
# (0.299, 0.587, 0.114); verified bit-exact against cv2.cvtColor.
_GRAY_R, _GRAY_G, _GRAY_B = 9798, 19235, 3735
_GRAY_SHIFT = 15
_EPS = 1e-12


def _dim(x: tf.Tensor, axis: int) -> int | tf.Tensor:
    """Static size of ``x`` along ``axis`` if known, else a dynamic scalar."""
    static = x.shape[axis]
    return static if static is not None else tf.shape(x)[axis]


FLOAT_RANGE_SLACK = 0.5
"""Float images may stray this far outside [0, 1] (augmentations; clipped); farther means another scale."""


def _check_unit_range(images: tf.Tensor) -> None:
    """Float images on another scale ([0, 255], standardised) would saturate to a blank map: refuse them."""
    values = tf.cast(images, tf.float32)
    message = (
        "static_saliency: float images must lie in [0, 1], found values outside "
        f"[{-FLOAT_RANGE_SLACK}, {1 + FLOAT_RANGE_SLACK}] (images in [0, 255]? standardised?); divide by 255 "
        "(or pass uint8 / uint16 images), or give the mixing layer a 'saliency' map"
    )
    assert_finite(values, "images: contains NaN or Inf")
    finite = tf.where(tf.math.is_finite(values), values, tf.zeros_like(values))  # NaN / Inf: the message above
    tf.debugging.assert_less_equal(tf.reduce_max(finite), 1.0 + FLOAT_RANGE_SLACK, message=message)
    tf.debugging.assert_greater_equal(tf.reduce_min(finite), -FLOAT_RANGE_SLACK, message=message)


def _to_uint8_levels(images: tf.Tensor) -> tf.Tensor:
    """Map any supported dtype onto integer levels 0..255 (as int32)."""
    dtype = images.dtype
    if dtype == tf.uint8:
        return tf.cast(images, tf.int32)
    if dtype.is_integer:
        if dtype != tf.uint16:
            raise TypeError(f"static_saliency: unsupported integer dtype {dtype.name}; use uint8, uint16 or float")
        scaled = tf.cast(images, tf.float32) * (255.0 / 65535.0)
    elif dtype.is_floating:
        _check_unit_range(images)
        scaled = tf.cast(images, tf.float32) * 255.0
    else:
        raise TypeError(f"static_saliency: unsupported dtype {dtype.name}")
    scaled = tf.clip_by_value(scaled, 0.0, 255.0)
    return tf.cast(tf.floor(scaled + 0.5), tf.int32)


def _to_gray(levels: tf.Tensor) -> tf.Tensor:
    """[B,H,W,C] int32 levels -> [B,H,W] int32 gray, as OpenCV's BGR2GRAY."""
    channels = levels.shape[-1]
    if channels == 1:
        return levels[..., 0]
    if channels == 3:
        r, g, b = levels[..., 0], levels[..., 1], levels[..., 2]
        acc = _GRAY_R * r + _GRAY_G * g + _GRAY_B * b + (1 << (_GRAY_SHIFT - 1))
        return tf.bitwise.right_shift(acc, _GRAY_SHIFT)
    raise ValueError(f"static_saliency: expected 1 or 3 channels, got {channels}")


def _blur_121(gray: tf.Tensor) -> tf.Tensor:
    """One OpenCV ``GaussianBlur(ksize=3, sigma=0)`` pass on 8-bit levels.

    Reflect-101 border (``tf.pad`` ``REFLECT``); result ``round_half_up(S / 16)``
    where ``S`` is the integer [1,2,1] x [1,2,1] weighted sum, exactly as
    OpenCV's bit-exact 8-bit Gaussian blur.
    """
    p = tf.pad(gray, [[0, 0], [1, 1], [1, 1]], mode="REFLECT")
    v = p[:, :-2, :] + 2 * p[:, 1:-1, :] + p[:, 2:, :]
    s = v[:, :, :-2] + 2 * v[:, :, 1:-1] + v[:, :, 2:]
    return tf.bitwise.right_shift(s + 8, 4)


def _window_bounds(size: int | tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    """Clipped start / end (exclusive) of the surround boxes along one axis.

    Returns two ``[S, size]`` int32 tensors, one row per neighbourhood ``n``:
    ``clip(i - n + 1, 0, size)`` and ``clip(i + n + 1, 0, size)``, which are
    OpenCV's clipped integral-image corners.
    """
    idx = tf.range(size, dtype=tf.int32)[None, :]
    half = tf.constant(SALIENCY_NEIGHBORHOODS, tf.int32)[:, None]
    lo = tf.minimum(tf.maximum(idx - half + 1, 0), size)
    hi = tf.minimum(idx + half + 1, size)
    return lo, hi


def _on_off_sums(gray: tf.Tensor, height: int | tf.Tensor, width: int | tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    """Sum over scales of the truncated on/off centre-surround responses.

    Mirrors OpenCV: a float32 integral image (row sums, then accumulated down
    the columns) and box sums ``((I[y2, x2] + I[y1, x1]) - I[y2, x1]) - I[y1, x2]``
    in float32, including their rounding. The surround mean
    ``(box - centre) / (area - 1)`` and the truncated differences are then
    computed in exact integer arithmetic. All scales are computed at once, on
    ``[B, S, H, W]`` tensors.
    """
    batch = tf.shape(gray)[0]
    num_scales = len(SALIENCY_NEIGHBORHOODS)
    # Integral image with a leading zero row and column: [B, H + 1, W + 1].
    integral = tf.cumsum(tf.cumsum(tf.cast(gray, tf.float32), axis=2), axis=1)
    integral = tf.pad(integral, [[0, 0], [1, 0], [1, 0]])
    r_lo, r_hi = _window_bounds(height)  # [S, H]
    c_lo, c_hi = _window_bounds(width)  # [S, W]
    rows_lo = tf.gather(integral, r_lo, axis=1)  # [B, S, H, W + 1]
    rows_hi = tf.gather(integral, r_hi, axis=1)
    col_shape = tf.stack([batch, num_scales, width])
    cols_lo = tf.broadcast_to(c_lo[None], col_shape)  # [B, S, W]
    cols_hi = tf.broadcast_to(c_hi[None], col_shape)

    def corner(rows: tf.Tensor, cols: tf.Tensor) -> tf.Tensor:
        return tf.gather(rows, cols, axis=3, batch_dims=2)  # [B, S, H, W]

    box = corner(rows_hi, cols_hi) + corner(rows_lo, cols_lo)
    box = box - corner(rows_hi, cols_lo)
    box = box - corner(rows_lo, cols_hi)
    # OpenCV rounds the box sum in float32; any box holds at most 224 x 224
    # pixels, so the rounded sum is an integer below 2**24 and casts exactly.
    box = tf.cast(box, tf.int32)
    area = (r_hi - r_lo)[:, :, None] * (c_hi - c_lo)[:, None, :]  # [S, H, W]
    surround = tf.maximum(area - 1, 1)
    # trunc(centre - (box - centre) / (area - 1)) in exact integer arithmetic,
    # with numerator centre * area - box. OpenCV does this in float32; its error
    # (1.5e-5 to 3e-5) is at most the 1 / (area - 1) >= 2e-5 spacing of the exact
    # quotients (area <= 224 * 224), so the two agree except on near-ties (none
    # seen in testing), and the result no longer depends on how a backend
    # divides floats (XLA turns division by a constant into a reciprocal multiply).
    numer = gray[:, None] * area - box
    on_sum = tf.reduce_sum(tf.math.floordiv(tf.maximum(numer, 0), surround), axis=1)
    off_sum = tf.reduce_sum(tf.math.floordiv(tf.maximum(-numer, 0), surround), axis=1)
    return on_sum, off_sum


def _rescale_255(total: tf.Tensor) -> tf.Tensor:
    """``trunc(255 * total / max(total))`` per image; 0 where the max is 0."""
    peak = tf.reduce_max(total, axis=[1, 2], keepdims=True)
    ratio = tf.cast(total, tf.float32) / tf.cast(tf.maximum(peak, 1), tf.float32)
    # OpenCV divides in float32 and multiplies by 255 in double; the double
    # product is exact, so this reproduces its truncation bit for bit.
    return tf.cast(tf.floor(255.0 * tf.cast(ratio, tf.float64)), tf.int32)


def _static_saliency_batch(images: tf.Tensor) -> tf.Tensor:
    height = _dim(images, 1)
    width = _dim(images, 2)
    gray = _to_gray(_to_uint8_levels(images))
    gray = _blur_121(_blur_121(gray))
    on_sum, off_sum = _on_off_sums(gray, height, width)
    on = _rescale_255(on_sum)
    off = _rescale_255(off_sum)
    peak = tf.maximum(
        tf.reduce_max(on, axis=[1, 2], keepdims=True),
        tf.reduce_max(off, axis=[1, 2], keepdims=True),
    )
    # Both peaks are 255 unless a sum is all zero, so this is exact integer math.
    combined = tf.math.floordiv(255 * (on + off), tf.maximum(peak, 1))
    combined = tf.minimum(combined, 255)  # OpenCV stores it in uint8.
    sal = tf.cast(combined, tf.float32)
    # The peak is 255 for any non-constant image, so this is OpenCV's own
    # ``convertTo(CV_32F, 1/255)``; a constant image has peak 0 and gives zeros.
    hi = tf.reduce_max(sal, axis=[1, 2], keepdims=True)
    return sal / tf.maximum(hi, _EPS)


@tf.autograph.experimental.do_not_convert
def static_saliency(images: tf.Tensor) -> tf.Tensor:
    """Fine-grained static saliency map, matching OpenCV's ``StaticSaliencyFineGrained``.

    A pure-TensorFlow, batched port of ``cv2.saliency.StaticSaliencyFineGrained``
    (Montabone & Soto, 2010): centre-surround on/off intensity differences at six
    box sizes on a twice-blurred grayscale image. It runs eagerly, inside
    ``tf.function`` (including ``jit_compile=True``) and inside
    ``tf.data.Dataset.map``, with dynamic batch size and dynamic height/width.

    The computation follows OpenCV's 8-bit pipeline step by step (fixed-point
    grayscale, bit-exact 3x3 Gaussian blurs, float32 integral image and box
    sums, truncation to integer levels); eagerly on CPU the result equals
    OpenCV's map bit for bit on every image tested. Float inputs are therefore
    first quantised to 256 levels (round half up): ``uint8`` input ``x`` and
    float input ``x / 255`` give identical maps. Images are RGB (OpenCV takes
    BGR) with a static channel count; any other channel count is averaged to one
    gray channel, and images thinner than 2 pixels are mirrored to 2 pixels
    (the map is cropped back). Intermediates have shape ``[B, 6, H, W]`` (one
    slice per box size).

    Differences from OpenCV:

    * Where ``cumsum`` does not add sequentially (XLA, GPU), the float32
      integral image rounds differently from OpenCV's once its values exceed
      ``2**24``, i.e. on images with more than ~65,000 pixels (such as full-size
      775x522 GlaS tiles): about 0.3% of pixels then differ by 1-2 levels out of
      255. Smaller images (e.g. 224x224) are bit-exact under XLA too.
    * If ``on + off`` exceeded 255, OpenCV's unchecked cast to ``uchar`` would
      wrap it around; here it saturates at 255. This was never observed.

    Args:
        images: ``[B, H, W, C]`` or ``[H, W, C]`` tensor, RGB for ``C = 3``, gray
            for ``C = 1``, the channel mean as gray otherwise. Float values are
            expected in ``[0, 1]`` (any float dtype; values a little outside are
            clipped, values beyond [-0.5, 1.5] are refused, since images on a
            [0, 255] or standardised scale would give a blank map); ``uint8`` /
            ``uint16`` are scaled by their dtype maximum.

    Returns:
        ``float32`` tensor of shape ``[B, H, W]`` (or ``[H, W]`` for a single
        image): the saliency map normalised per image to ``[0, 1]``; a constant
        image gives all zeros.

    Raises:
        ValueError: If the rank is not 3 or 4, or ``C`` is not known statically.
        TypeError: If the dtype is not float, ``uint8`` or ``uint16``.
        InvalidArgumentError: If float values lie beyond [-0.5, 1.5].

    Example:
        >>> import tensorflow as tf
        >>> from keras_hsmix.ops.saliency import static_saliency
        >>> image = tf.random.uniform([64, 64, 3])
        >>> sal = static_saliency(image)
        >>> sal.shape, sal.dtype
        (TensorShape([64, 64]), tf.float32)
        >>> float(tf.reduce_max(sal)) <= 1.0
        True
        >>> static_saliency(tf.zeros([2, 32, 48, 1], tf.uint8)).shape
        TensorShape([2, 32, 48])
    """
    images = tf.convert_to_tensor(images)
    rank = images.shape.rank
    if rank not in (3, 4):
        raise ValueError(f"static_saliency: expected [H,W,C] or [B,H,W,C], got shape {images.shape}")
    if images.shape[-1] is None:
        raise ValueError(f"static_saliency: the channel count must be known statically, got shape {images.shape}")
    batched = images if rank == 4 else images[None]
    sal = _any_size(_to_one_or_three_channels(batched))
    sal = tf.ensure_shape(sal, batched.shape[:3])
    return sal if rank == 4 else sal[0]


def _to_one_or_three_channels(images: tf.Tensor) -> tf.Tensor:
    """RGB and gray pass; any other channel count becomes its channel mean (one gray channel)."""
    if images.shape[-1] in (1, 3):
        return images
    gray = tf.reduce_mean(tf.cast(images, tf.float32), axis=-1, keepdims=True)
    return tf.cast(tf.round(gray), images.dtype) if images.dtype.is_integer else tf.cast(gray, images.dtype)


def _any_size(images: tf.Tensor) -> tf.Tensor:
    """:func:`_static_saliency_batch` for any height and width, and for an empty batch.

    The filters need at least 2x2 pixels: thinner images (1xW, Hx1) are mirrored
    to 2 pixels and the map is cropped back.
    """
    if images.shape[0] == 0:  # tf.pad's mirror modes reject empty dimensions
        return tf.zeros(tf.shape(images)[:3], tf.float32)
    height, width = images.shape[1], images.shape[2]
    if height is not None and width is not None and height >= 2 and width >= 2:
        return _static_saliency_batch(images)
    shape = tf.shape(images)
    pad_h = tf.maximum(0, 2 - shape[1])
    pad_w = tf.maximum(0, 2 - shape[2])
    padded = tf.pad(images, [[0, 0], [0, pad_h], [0, pad_w], [0, 0]], mode="SYMMETRIC")
    return _static_saliency_batch(padded)[:, : shape[1], : shape[2]]
