"""Segment reductions over a batch agree with a per-superpixel NumPy loop."""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from keras_hsmix.ops.segments import gather_segments, num_segments, segment_mean


def test_segment_mean_matches_loop():
    rng = np.random.default_rng(0)
    sp = rng.integers(0, 7, (3, 10, 12)).astype(np.int32)
    values = rng.random((3, 10, 12)).astype(np.float32)
    n = int(num_segments(tf.constant(sp)))
    means = segment_mean(tf.constant(values), tf.constant(sp), n).numpy()
    for b in range(3):
        for s in range(n):
            sel = sp[b] == s
            expected = values[b][sel].mean() if sel.any() else 0.0
            assert np.isclose(means[b, s], expected, atol=1e-6)
    painted = gather_segments(tf.constant(means), tf.constant(sp)).numpy()
    np.testing.assert_allclose(painted[1], means[1][sp[1]])
