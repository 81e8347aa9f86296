"""SLIC in pure TensorFlow (the stretch of issue 5): shapes, graph modes, edges kept, bad input."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf
from skimage.color import rgb2lab

from keras_hsmix.ops.tf_slic import grid_shape, majority_filter, rgb_to_lab, tf_slic


def _two_colours(batch: int = 2, size: int = 32) -> np.ndarray:
    """Left part red, right part blue (edge at a column that is not a grid line), with a little noise."""
    rng = np.random.default_rng(0)
    images = np.zeros((batch, size, size, 3), np.float32)
    images[:, :, : size // 2 + 3, 0] = 0.9
    images[:, :, size // 2 + 3:, 2] = 0.9
    return np.clip(images + rng.normal(0, 0.02, images.shape), 0, 1).astype(np.float32)


def test_shape_dtype_and_id_range() -> None:
    sp = tf_slic(tf.constant(_two_colours()), n_segments=16)
    assert sp.shape == (2, 32, 32) and sp.dtype == tf.int32
    rows, cols = grid_shape(32, 32, 16)
    assert 0 <= int(tf.reduce_min(sp)) and int(tf.reduce_max(sp)) < rows * cols
    assert len(np.unique(sp[0].numpy())) > 4


def test_superpixels_do_not_cross_a_colour_edge() -> None:
    images = _two_colours()
    sp = tf_slic(tf.constant(images), n_segments=16, sigma=0.0).numpy()
    left = images[..., 0] > 0.5
    for b in range(len(sp)):
        for label in np.unique(sp[b]):
            side = left[b][sp[b] == label]
            assert side.all() or not side.any(), f"superpixel {label} of image {b} crosses the edge"


def test_each_image_is_segmented_on_its_own() -> None:
    images = np.concatenate([_two_colours(1), np.random.default_rng(1).random((1, 32, 32, 3), np.float32)])
    together = tf_slic(tf.constant(images), n_segments=16).numpy()
    for i in range(2):
        alone = tf_slic(tf.constant(images[i:i + 1]), n_segments=16).numpy()[0]
        np.testing.assert_array_equal(together[i], alone)


def test_eager_graph_xla_and_tf_data_agree() -> None:
    images = tf.constant(np.random.default_rng(2).random((2, 24, 24, 3), np.float32))
    eager = tf_slic(images, 12).numpy()
    np.testing.assert_array_equal(tf.function(lambda x: tf_slic(x, 12))(images).numpy(), eager)
    xla = tf.function(lambda x: tf_slic(x, 12), jit_compile=True)(images).numpy()
    assert (xla == eager).mean() > 0.99  # XLA may reorder float sums: a tie can flip a pixel
    ds = tf.data.Dataset.from_tensor_slices(images).batch(2).map(lambda x: tf_slic(x, 12))
    np.testing.assert_array_equal(next(iter(ds)).numpy(), eager)


def test_grayscale_and_lab() -> None:
    gray = tf.constant(_two_colours()[..., :1])
    assert tf_slic(gray, 9).shape == (2, 32, 32)
    rgb = np.random.default_rng(3).random((3, 4, 3)).astype(np.float32)
    np.testing.assert_allclose(rgb_to_lab(rgb).numpy(), rgb2lab(rgb), atol=1e-3)


def test_majority_filter_removes_isolated_pixels_and_keeps_regions() -> None:
    labels = np.zeros((1, 6, 6), np.int32)
    labels[:, :, 3:] = 1
    noisy = labels.copy()
    noisy[0, 2, 1] = 5
    np.testing.assert_array_equal(majority_filter(tf.constant(noisy)).numpy(), labels)


@pytest.mark.parametrize(
    "images, kwargs, match",
    [
        (np.zeros((8, 8, 3), np.float32), {}, "batch"),
        (np.zeros((1, 8, 8, 2), np.float32), {}, "1 or 3 channels"),
        (np.zeros((1, 8, 8, 3), np.float32), {"n_segments": 0}, "n_segments"),
        (np.zeros((1, 8, 8, 3), np.float32), {"iterations": 0}, "iterations"),
    ],
)
def test_bad_input_is_named(images, kwargs, match) -> None:
    with pytest.raises(ValueError, match=match):
        tf_slic(tf.constant(images), **kwargs)


def test_unknown_height_is_rejected() -> None:
    fn = tf.function(lambda x: tf_slic(x, 4), input_signature=[tf.TensorSpec([None, None, None, 3])])
    with pytest.raises(ValueError, match="static height and width"):
        fn.get_concrete_function()
