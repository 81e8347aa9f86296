"""Per-superpixel statistics over a whole batch, as segment reductions.

Superpixel ids are local to each image (``0..n_i-1``). To reduce over a batch
in one op, image ``b``'s id ``s`` becomes the global id ``b * num_segments + s``.
"""

from __future__ import annotations

import tensorflow as tf


def num_segments(superpixels: tf.Tensor) -> tf.Tensor:
    """Number of segment slots per image: ``max(id) + 1`` over the batch (int32 scalar)."""
    return tf.reduce_max(superpixels) + 1


def global_ids(superpixels: tf.Tensor, num_segments: tf.Tensor) -> tf.Tensor:
    """Batch-wide ids ``b * num_segments + id`` (int32, same shape as ``superpixels``)."""
    superpixels = tf.cast(superpixels, tf.int32)
    batch = tf.shape(superpixels)[0]
    offsets = tf.range(batch) * tf.cast(num_segments, tf.int32)
    return superpixels + tf.reshape(offsets, [-1] + [1] * (superpixels.shape.rank - 1))


def segment_stats(
    values: tf.Tensor, superpixels: tf.Tensor, num_segments: tf.Tensor
) -> tuple[tf.Tensor, tf.Tensor]:
    """Mean of ``values`` ``[B, H, W]`` and pixel count over each superpixel, both ``[B, num_segments]``.

    Empty slots (ids that do not occur in an image) get mean 0 and count 0.
    Computed with one ``unsorted_segment_sum`` of ``[value, 1]`` pairs over the
    flattened batch (a single scatter-add under XLA, where ``bincount`` is slow).

    Example:
        >>> import tensorflow as tf
        >>> means, counts = segment_stats(tf.constant([[[1., 3.], [5., 7.]]]), tf.constant([[[0, 0], [0, 2]]]), 3)
        >>> counts.numpy()
        array([[3., 0., 1.]], dtype=float32)
    """
    batch = tf.shape(superpixels)[0]
    slots = batch * tf.cast(num_segments, tf.int32)
    ids = tf.reshape(global_ids(superpixels, num_segments), [-1])
    flat = tf.reshape(tf.cast(values, tf.float32), [-1])
    pairs = tf.stack([flat, tf.ones_like(flat)], axis=-1)
    totals = tf.math.unsorted_segment_sum(pairs, ids, slots)
    sums, counts = totals[:, 0], totals[:, 1]
    means = tf.math.divide_no_nan(sums, counts)
    return tf.reshape(means, [batch, -1]), tf.reshape(counts, [batch, -1])


def segment_mean(
    values: tf.Tensor, superpixels: tf.Tensor, num_segments: tf.Tensor
) -> tf.Tensor:
    """Mean of ``values`` ``[B, H, W]`` over each superpixel, as ``[B, num_segments]`` (0 for empty slots).

    Example:
        >>> import tensorflow as tf
        >>> sp = tf.constant([[[0, 0], [1, 1]]])
        >>> segment_mean(tf.constant([[[1., 3.], [5., 7.]]]), sp, 2).numpy()
        array([[2., 6.]], dtype=float32)
    """
    return segment_stats(values, superpixels, num_segments)[0]


def gather_segments(per_segment: tf.Tensor, superpixels: tf.Tensor) -> tf.Tensor:
    """Paints per-superpixel values ``[B, N, ...]`` back onto the pixels: ``[B, H, W, ...]``.

    One flat gather with batch-wide ids (faster on CPU than ``batch_dims=1``).

    Example:
        >>> import tensorflow as tf
        >>> gather_segments(tf.constant([[10., 20.]]), tf.constant([[[0, 1], [1, 1]]])).numpy()
        array([[[10., 20.],
                [20., 20.]]], dtype=float32)
    """
    n = tf.shape(per_segment)[1]
    rest = tf.shape(per_segment)[2:]
    flat = tf.reshape(per_segment, tf.concat([[-1], rest], 0))
    return tf.gather(flat, global_ids(superpixels, n))
