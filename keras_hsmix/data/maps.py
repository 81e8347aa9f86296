"""``graph_map``: ``Dataset.map`` of a function that holds graph ops only, without autograph.

``tf.data`` converts a map function with autograph at its first trace (parsing and rewriting its source and that
of every function it calls). The package's map functions hold no Python control flow on tensors, so the
conversion only costs time at each process's first trace.
"""

from __future__ import annotations

from typing import Any, Callable

import tensorflow as tf


def graph_map(dataset: tf.data.Dataset, fn: Callable[..., Any], **kwargs: Any) -> tf.data.Dataset:
    """``dataset.map(fn, **kwargs)`` with ``fn`` left unconverted by autograph.

    Example:
        >>> ds = graph_map(tf.data.Dataset.range(3), lambda x: x * 2, num_parallel_calls=tf.data.AUTOTUNE,
        ...                deterministic=True)
        >>> [int(x) for x in ds]
        [0, 2, 4]
    """
    return dataset.map(tf.autograph.experimental.do_not_convert(fn), **kwargs)
