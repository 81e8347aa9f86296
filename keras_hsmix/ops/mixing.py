"""The mixing core: hard and soft superpixel mixing of a batch with its partners.

Every function here is deterministic: the random draws (partner order, picked
superpixels, random coefficients) come in as arguments. The layers draw them
once and call these functions, so images, masks, superpixels and saliency are
always transformed by the same parameters.

Shapes: ``images [B, H, W, C]``, ``masks [B, H, W, K]`` (float), ``superpixels
[B, H, W]`` (int32), ``partner [B]`` (int32, sample ``i`` is mixed with sample
``partner[i]``), ``picked [B, N]`` (bool, over the superpixel ids of the
partner). Masks may also be int32 class ids ``[B, H, W]`` with ``num_classes``
given; the mixed masks are float ``[B, H, W, K]`` in both cases.
"""

from __future__ import annotations

import tensorflow as tf

from keras_hsmix.ops.masks import one_hot_masks
from keras_hsmix.ops.segments import gather_segments, segment_stats

EPSILON = 1e-6


def partner_region(
    superpixels: tf.Tensor, partner: tf.Tensor, picked: tf.Tensor
) -> tf.Tensor:
    """Boolean ``[B, H, W]`` map of the pixels taken from the partner.

    A pixel is taken when the partner's superpixel that holds it was picked, so
    the region is a union of whole superpixels of the partner.
    """
    partner_superpixels = tf.gather(superpixels, partner)
    return gather_segments(picked, partner_superpixels)


def mixed_superpixels(
    superpixels: tf.Tensor, partner: tf.Tensor, region: tf.Tensor, num_segments: tf.Tensor
) -> tf.Tensor:
    """Superpixel map of a mix: A's ids where A shows, the partner's ids + N where it shows.

    Ids lie in ``[0, 2N)`` with ``N = num_segments``.
    """
    partner_superpixels = tf.gather(superpixels, partner)
    offset = tf.cast(num_segments, superpixels.dtype)
    return tf.where(region, partner_superpixels + offset, superpixels)


def _blend(a: tf.Tensor, b: tf.Tensor, weight: tf.Tensor) -> tf.Tensor:
    """``(1 - w) * a + w * b`` computed in float32, returned in ``a``'s dtype."""
    dtype = a.dtype
    if dtype == tf.float32:
        return a + weight * (b - a)
    af = tf.cast(a, tf.float32)
    bf = tf.cast(b, tf.float32)
    out = af + weight * (bf - af)
    if dtype.is_integer:
        out = tf.clip_by_value(tf.round(out), dtype.min, dtype.max)
    return tf.cast(out, dtype)


def paste(values: tf.Tensor, partner: tf.Tensor, region: tf.Tensor) -> tf.Tensor:
    """The partner's values inside ``region`` ``[B, H, W]``, the sample's own elsewhere.

    ``values`` is ``[B, H, W]`` or ``[B, H, W, C]`` (all channels of a pixel move
    together). A select, so values are copied and never invented.
    """
    select = region if values.shape.rank == 3 else region[..., tf.newaxis]
    return tf.where(select, tf.gather(values, partner), values)


def hard_mix(
    images: tf.Tensor,
    masks: tf.Tensor,
    partner: tf.Tensor,
    region: tf.Tensor,
    num_classes: int | None = None,
) -> tuple[tf.Tensor, tf.Tensor]:
    """Pastes the partner's pixels into ``region`` of images and masks alike.

    ``masks`` is float ``[B, H, W, K]`` or, with ``num_classes``, int class ids
    ``[B, H, W]`` (see :func:`keras_hsmix.ops.masks.canonical_masks`); the mixed
    masks come back float ``[B, H, W, K]`` either way. Ids are pasted before they
    are one-hot encoded, which under XLA is one pass over the output.

    Example:
        >>> import tensorflow as tf
        >>> a = tf.concat([tf.ones((1, 2, 2, 1)), 2 * tf.ones((1, 2, 2, 1))], 0)
        >>> region = tf.constant([[[True, False], [False, False]]] * 2)
        >>> img, _ = hard_mix(a, a, tf.constant([1, 0]), region)
        >>> img[0, ..., 0].numpy()
        array([[2., 1.],
               [1., 1.]], dtype=float32)
    """
    mixed_masks = paste(masks, partner, region)
    return paste(images, partner, region), one_hot_masks(mixed_masks, num_classes)


def saliency_coefficients(
    saliency: tf.Tensor,
    partner: tf.Tensor,
    superpixels: tf.Tensor,
    num_segments: tf.Tensor,
    epsilon: float = EPSILON,
    aggregate: str = "mean",
) -> tf.Tensor:
    """Per-pixel mixing coefficients λ ``[B, H, W]`` from a saliency map.

    The ratio ``S_B / (S_A + S_B + eps)`` is averaged over each superpixel of
    ``superpixels`` (usually the mixed map from :func:`mixed_superpixels`), so λ is
    constant inside each superpixel, and then min-max normalised per image to
    [0, 1]. An image whose superpixels all have the same mean (for example a
    single superpixel) keeps that mean, which already lies in [0, 1].

    Args:
        saliency: ``[B, H, W]`` non-negative saliency of each sample.
        partner: ``[B]`` partner order; the partner's saliency is ``saliency[partner]``.
        superpixels: ``[B, H, W]`` int32 ids in ``[0, num_segments)``.
        num_segments: number of id slots per image.
        epsilon: guards the ratio and the normalisation.
        aggregate: ``"mean"``: the ratio's mean over each superpixel; ``"area"``: its sum over the
            superpixel divided by the image's area (what the authors' scripts compute with
            ``(r * mask).mean()``), so larger superpixels get larger values before the normalisation.
    """
    if aggregate not in ("mean", "area"):
        raise ValueError(f"aggregate must be 'mean' or 'area', got {aggregate!r}")
    saliency = tf.cast(saliency, tf.float32)
    s_a = saliency
    s_b = tf.gather(saliency, partner)
    ratio = s_b / (s_a + s_b + epsilon)
    means, counts = segment_stats(ratio, superpixels, num_segments)
    if aggregate == "area":
        area = tf.cast(tf.shape(superpixels)[1] * tf.shape(superpixels)[2], tf.float32)
        means = means * tf.cast(counts, tf.float32) / area
    # Min-max over the superpixels present in each image, done on [B, N] values
    # before painting them back (cheaper than reducing full-resolution maps).
    present = counts > 0
    low = tf.reduce_min(tf.where(present, means, float("inf")), axis=1, keepdims=True)
    high = tf.reduce_max(tf.where(present, means, -float("inf")), axis=1, keepdims=True)
    spread = high - low
    normalised = (means - low) / tf.maximum(spread, epsilon)
    per_segment = tf.where(spread > epsilon, normalised, means)
    return gather_segments(per_segment, superpixels)


def random_coefficients(draws: tf.Tensor, superpixels: tf.Tensor) -> tf.Tensor:
    """Per-pixel λ ``[B, H, W]`` from one random draw per superpixel (``draws [B, N]``)."""
    return gather_segments(tf.cast(draws, tf.float32), superpixels)


def soft_mix(
    images: tf.Tensor,
    masks: tf.Tensor,
    partner: tf.Tensor,
    lam: tf.Tensor,
    num_classes: int | None = None,
) -> tuple[tf.Tensor, tf.Tensor]:
    """``(1 - λ)·A + λ·B`` for images and masks with the same per-pixel λ ``[B, H, W]``.

    Masks are float (one-hot or probabilities) or, with ``num_classes``, int
    class ids ``[B, H, W]`` (one-hot encoded in the same pass under XLA); one-hot
    inputs give soft labels that sum to 1 at every pixel. Integer images are
    rounded back to their dtype.

    Example:
        >>> import tensorflow as tf
        >>> a = tf.concat([tf.zeros((1, 1, 1, 1)), tf.ones((1, 1, 1, 1))], 0)
        >>> img, _ = soft_mix(a, a, tf.constant([1, 0]), tf.fill((2, 1, 1), 0.25))
        >>> img[:, 0, 0, 0].numpy()
        array([0.25, 0.75], dtype=float32)
    """
    weight = lam[..., tf.newaxis]
    mixed_images = _blend(images, tf.gather(images, partner), weight)
    masks_a = one_hot_masks(masks, num_classes)
    masks_b = one_hot_masks(tf.gather(masks, partner), num_classes)
    return mixed_images, _blend(masks_a, masks_b, weight)


def blend_maps(maps: tf.Tensor, partner: tf.Tensor, lam: tf.Tensor) -> tf.Tensor:
    """Soft-mixes a per-pixel map ``[B, H, W]`` (e.g. saliency) with the same λ."""
    return _blend(maps, tf.gather(maps, partner), lam)


