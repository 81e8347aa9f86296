"""Cheap input checks shared by the layers."""

from __future__ import annotations

import tensorflow as tf


def assert_finite(values: tf.Tensor, message: str) -> None:
    """Raises ``InvalidArgumentError`` with ``message`` if ``values`` holds NaN or Inf.

    One fast pass (a sum, which is finite when every value is, barring overflow);
    the exact element-wise check runs only when the sum is not finite.

    Example:
        >>> import tensorflow as tf
        >>> assert_finite(tf.ones((2, 2)), "images: contains NaN or Inf")
    """
    if not values.dtype.is_floating:
        return
    total = tf.reduce_sum(tf.cast(values, tf.float32))
    finite = tf.cond(
        tf.math.is_finite(total),
        lambda: tf.constant(True),
        lambda: tf.reduce_all(tf.math.is_finite(values)),
    )
    tf.debugging.assert_equal(finite, True, message=message)
