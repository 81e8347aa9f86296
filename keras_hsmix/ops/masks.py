"""Segmentation masks: validation, canonical form and conversion to float one-hot maps.

The mixing layers keep class-id masks as int32 ids ``[B, H, W]`` until the
mixing kernel, which pastes or blends them and writes the one-hot output in
the same pass (:func:`canonical_masks`); probability masks stay float
``[B, H, W, K]``. :func:`one_hot_masks` turns either form into float
``[B, H, W, K]``, and :func:`to_soft_masks` does both steps.
"""

from __future__ import annotations

import tensorflow as tf

#: Tolerance for "probabilities sum to 1" checks on float masks.
SUM_TOLERANCE = 1e-3


def to_soft_masks(masks: tf.Tensor, num_classes: int | None) -> tf.Tensor:
    """Returns float32 masks ``[B, H, W, K]`` ready to be mixed.

    Validates like :func:`canonical_masks`, then one-hot encodes class ids.

    Example:
        >>> import tensorflow as tf
        >>> to_soft_masks(tf.constant([[[0, 2]]]), num_classes=3).numpy()[0, 0]
        array([[1., 0., 0.],
               [0., 0., 1.]], dtype=float32)
    """
    return one_hot_masks(canonical_masks(masks, num_classes), num_classes)


def one_hot_masks(masks: tf.Tensor, num_classes: int | None) -> tf.Tensor:
    """Float ``[B, H, W, K]`` from canonical masks: int32 ids are one-hot encoded, float masks kept.

    Example:
        >>> import tensorflow as tf
        >>> one_hot_masks(tf.constant([[[1]]]), 2).numpy()[0, 0, 0]
        array([0., 1.], dtype=float32)
    """
    if masks.dtype.is_integer:
        if num_classes is None:
            raise ValueError("one_hot_masks: class-id masks need num_classes")
        return tf.one_hot(masks, num_classes, dtype=tf.float32)
    return masks


def canonical_masks(masks: tf.Tensor, num_classes: int | None) -> tf.Tensor:
    """Validates masks and returns them in canonical form: int32 class ids or float probabilities.

    Two explicit label modes:

    * ``num_classes=K``: masks hold class ids, ``[B, H, W]`` or ``[B, H, W, 1]``,
      integer (or integer-valued float, as ``tf.data`` may cast them). They come
      back as int32 ids ``[B, H, W]`` (one-hot encoding is left to the mixing
      kernel or :func:`one_hot_masks`). A mask that already has ``K > 1``
      channels is taken as one-hot / probabilities and comes back float32
      ``[B, H, W, K]``. Ids outside ``[0, K)`` raise an error.
    * ``num_classes=None``: masks are float probability maps ``[B, H, W, K]``
      (one-hot, or a single binary probability channel), checked and returned
      as float32.

    Example:
        >>> import tensorflow as tf
        >>> canonical_masks(tf.constant([[[0, 2]]], tf.int64), num_classes=3).numpy()
        array([[[0, 2]]], dtype=int32)
    """
    masks = tf.convert_to_tensor(masks)
    rank = masks.shape.rank
    if num_classes is None:
        if masks.dtype.is_integer or masks.dtype == tf.bool:
            raise ValueError(
                "segmentation_masks: integer class-id masks need `num_classes`; "
                f"got dtype {masks.dtype.name} with num_classes=None"
            )
        if rank != 4:
            raise ValueError(
                "segmentation_masks: float masks must be [B, H, W, K] probabilities, "
                f"got shape {masks.shape}"
            )
        masks = tf.cast(masks, tf.float32)
        if masks.shape[-1] is not None and masks.shape[-1] > 1 and masks.shape.rank == 4:
            # Three cheap passes show that valid masks pass; only otherwise run the exact checks.
            tf.cond(_plainly_valid(masks), lambda: None, lambda: _check_probabilities(masks))
        else:
            _check_probabilities(masks)
        return masks

    if num_classes < 1:
        raise ValueError(f"num_classes must be >= 1, got {num_classes}")
    if rank == 4 and masks.shape[-1] == num_classes and num_classes > 1:
        # Already one-hot / probabilities (integer one-hot too): checked like float masks.
        return canonical_masks(tf.cast(masks, tf.float32), None)
    if num_classes == 1 and masks.dtype.is_floating and (rank == 3 or (rank == 4 and masks.shape[-1] == 1)):
        return _single_class(masks)
    if rank == 4:
        if masks.shape[-1] != 1:
            raise ValueError(
                f"segmentation_masks: class-id masks must be [B, H, W] or [B, H, W, 1] "
                f"(or one-hot with num_classes={num_classes} channels), got shape {masks.shape}"
            )
        masks = masks[..., 0]
    elif rank != 3:
        raise ValueError(
            f"segmentation_masks: expected [B, H, W], [B, H, W, 1] or [B, H, W, K], got shape {masks.shape}"
        )
    if masks.dtype.is_floating:
        tf.debugging.assert_all_finite(masks, "segmentation_masks: contains NaN or Inf")
        rounded = tf.round(masks)
        tf.debugging.assert_near(
            masks, rounded, atol=1e-3,
            message="segmentation_masks: float masks with num_classes set must hold integer class ids",
        )
        masks = rounded
    ids = tf.cast(masks, tf.int32)
    tf.debugging.assert_non_negative(ids, message="segmentation_masks: negative class id")
    tf.debugging.assert_less(
        ids,
        tf.constant(num_classes, tf.int32),
        message=f"segmentation_masks: class id >= num_classes ({num_classes})"
        + ("; binary masks (0 background, 1 foreground) need num_classes=2" if num_classes == 1 else ""),
    )
    return ids


def _single_class(masks: tf.Tensor) -> tf.Tensor:
    """One-hot ``[B, H, W, 1]`` for ``num_classes=1`` from float masks.

    With a single class, float class ids (all 0, as ``tf.data`` may cast them) and the
    one-hot / mixed output of a previous mix (all 1) are the same labels, so chained
    mixes work. A mask that holds both 0 and 1 is neither and raises, as a binary mask
    given with the wrong ``num_classes`` should.
    """
    masks = tf.cast(masks, tf.float32)
    tf.debugging.assert_all_finite(masks, "segmentation_masks: contains NaN or Inf")
    all_ids = tf.reduce_all(tf.abs(masks) <= SUM_TOLERANCE)
    all_one_hot = tf.reduce_all(tf.abs(masks - 1.0) <= SUM_TOLERANCE)
    tf.debugging.assert_equal(
        tf.logical_or(all_ids, all_one_hot),
        True,
        message="segmentation_masks: with num_classes=1, masks must hold class id 0 everywhere "
        "(or be the one-hot value 1 everywhere); got other values (class id >= num_classes (1)?); binary masks need num_classes=2",
    )
    if masks.shape.rank == 4:
        masks = masks[..., 0]
    return tf.ones_like(masks)[..., tf.newaxis]


def _check_probabilities(masks: tf.Tensor) -> None:
    """The exact checks of float masks ``[B, H, W, K]``, one assertion each."""
    tf.debugging.assert_all_finite(masks, "segmentation_masks: contains NaN or Inf")
    tf.debugging.assert_greater_equal(
        masks, -SUM_TOLERANCE, message="segmentation_masks: probabilities below 0"
    )
    tf.debugging.assert_less_equal(
        masks, 1.0 + SUM_TOLERANCE, message="segmentation_masks: probabilities above 1"
    )
    if masks.shape[-1] is not None and masks.shape[-1] > 1:
        total = tf.reduce_sum(masks, axis=-1)
        tf.debugging.assert_near(
            total,
            tf.ones_like(total),
            atol=SUM_TOLERANCE,
            message="segmentation_masks: class probabilities do not sum to 1",
        )


def _plainly_valid(masks: tf.Tensor) -> tf.Tensor:
    """True when float masks ``[B, H, W, K]`` (K > 1) certainly pass :func:`_check_probabilities`.

    Those checks take 5 reductions over the masks, one per condition (the sum over a short last axis is
    the slowest); this takes the class sums as ``K - 1`` adds of channel slices, and then: the sum of
    all class sums is finite (NaN and Inf propagate through additions), every value lies within
    ``[0, 1]`` (one pass: ``|m - 0.5| <= 0.5``) and every class sum is within the tolerance of 1 (a
    pass over the sums). Each bound is kept a little inside the exact checks' tolerance, so a batch
    that passes here passes them too; one that does not gets the exact checks and their messages.
    """
    margin = 1e-6
    channels = tf.unstack(masks, axis=-1)
    sums = tf.add_n(channels)
    finite = tf.math.is_finite(tf.reduce_sum(sums))
    in_range = tf.reduce_max(tf.abs(masks - 0.5)) <= 0.5 + SUM_TOLERANCE - margin
    near_one = tf.reduce_max(tf.abs(sums - 1.0)) <= SUM_TOLERANCE - margin
    return tf.logical_and(finite, tf.logical_and(in_range, near_one))
