"""Per-superpixel statistics over a whole batch, as segment reductions.

Superpixel ids are local to each image (``0..n_i-1``). To reduce over a batch
in one op, image ``b``'s id ``s`` becomes the global id ``b * num_segments + s``.
"""

from __future__ import annotations

import tensorflow as tf


def num_segments(superpixels: tf.Tensor) -> tf.Tensor:
    """Number of segment slots per image: ``max(id) + 1`` over the batch (int32 scalar)."""
    return tf.reduce_max(superpixels) + 1


def segment_mean(
    values: tf.Tensor, superpixels: tf.Tensor, num_segments: tf.Tensor
) -> tf.Tensor:
    """Mean of ``values`` ``[B, H, W]`` over each superpixel, as ``[B, num_segments]``.

    Empty slots (ids that do not occur in an image) get 0.

    Example:
        >>> import tensorflow as tf
        >>> sp = tf.constant([[[0, 0], [1, 1]]])
        >>> segment_mean(tf.constant([[[1., 3.], [5., 7.]]]), sp, 2).numpy()
        array([[2., 6.]], dtype=float32)
    """
    batch = tf.shape(superpixels)[0]
    offsets = tf.range(batch, dtype=superpixels.dtype) * tf.cast(num_segments, superpixels.dtype)
    global_ids = superpixels + offsets[:, tf.newaxis, tf.newaxis]
    means = tf.math.unsorted_segment_mean(
        tf.reshape(values, [-1]),
        tf.reshape(global_ids, [-1]),
        batch * tf.cast(num_segments, tf.int32),
    )
    return tf.reshape(means, [batch, -1])


def gather_segments(per_segment: tf.Tensor, superpixels: tf.Tensor) -> tf.Tensor:
    """Paints per-superpixel values ``[B, N, ...]`` back onto the pixels: ``[B, H, W, ...]``.

    Example:
        >>> import tensorflow as tf
        >>> gather_segments(tf.constant([[10., 20.]]), tf.constant([[[0, 1], [1, 1]]])).numpy()
        array([[[10., 20.],
                [20., 20.]]], dtype=float32)
    """
    return tf.gather(per_segment, superpixels, batch_dims=1)
