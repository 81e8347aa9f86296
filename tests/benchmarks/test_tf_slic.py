"""SLIC in pure TensorFlow (the stretch of issue 5): shapes, graph modes, edges kept, bad input."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf
from skimage.color import rgb2lab

from benchmarks.tf_slic import (
    connected_components,
    enforce_connectivity,
    grid_shape,
    majority_filter,
    rgb_to_lab,
    tf_slic,
)


def _two_colours(batch: int = 2, size: int = 32) -> np.ndarray:
    """Left part red, right part blue (edge at a column that is not a grid line), with a little noise."""
    rng = np.random.default_rng(0)
    images = np.zeros((batch, size, size, 3), np.float32)
    images[:, :, : size // 2 + 3, 0] = 0.9
    images[:, :, size // 2 + 3:, 2] = 0.9
    return np.clip(images + rng.normal(0, 0.02, images.shape), 0, 1).astype(np.float32)


def _assert_no_superpixel_crosses_the_edge(sp: np.ndarray, left: np.ndarray) -> None:
    for b in range(len(sp)):
        for label in np.unique(sp[b]):
            side = left[b][sp[b] == label]
            assert side.all() or not side.any(), f"superpixel {label} of image {b} crosses the edge"


def test_shape_dtype_and_id_range() -> None:
    sp = tf_slic(tf.constant(_two_colours()), n_segments=16)
    assert sp.shape == (2, 32, 32) and sp.dtype == tf.int32
    rows, cols = grid_shape(32, 32, 16)
    assert 0 <= int(tf.reduce_min(sp)) and int(tf.reduce_max(sp)) < rows * cols
    assert len(np.unique(sp[0].numpy())) > 4


def test_superpixels_do_not_cross_a_colour_edge() -> None:
    images = _two_colours()
    sp = tf_slic(tf.constant(images), n_segments=16, sigma=0.0).numpy()
    _assert_no_superpixel_crosses_the_edge(sp, images[..., 0] > 0.5)


def test_each_image_is_segmented_on_its_own() -> None:
    images = np.concatenate([_two_colours(1), np.random.default_rng(1).random((1, 32, 32, 3), np.float32)])
    together = tf_slic(tf.constant(images), n_segments=16).numpy()
    for i in range(2):
        alone = tf_slic(tf.constant(images[i:i + 1]), n_segments=16).numpy()[0]
        np.testing.assert_array_equal(together[i], alone)


def test_eager_graph_xla_and_tf_data_agree() -> None:
    images = tf.constant(np.random.default_rng(2).random((2, 24, 24, 3), np.float32))

    def slic(x):  # three k-means iterations: the graph is unrolled, and the modes agree at any count
        return tf_slic(x, 12, iterations=3)

    eager = slic(images).numpy()
    np.testing.assert_array_equal(tf.function(slic)(images).numpy(), eager)
    xla = tf.function(slic, jit_compile=True)(images).numpy()
    assert (xla == eager).mean() > 0.99  # XLA may reorder float sums: a tie can flip a pixel
    ds = tf.data.Dataset.from_tensor_slices(images).batch(2).map(slic)
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
        (np.zeros((1, 8, 8, 0), np.float32), {}, "channel count >= 1"),
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


def _random_labels(seed: int, shape=(3, 19, 23), num_labels: int = 4) -> np.ndarray:
    """Blocky random label maps (nearest-upsampled noise), full of pieces that touch, enclose and wrap."""
    rng = np.random.default_rng(seed)
    coarse = rng.integers(0, num_labels, (shape[0], shape[1] // 3 + 1, shape[2] // 3 + 1))
    labels = np.repeat(np.repeat(coarse, 3, axis=1), 3, axis=2)[:, : shape[1], : shape[2]]
    flip = rng.random(shape) < 0.1  # single stray pixels too
    return np.where(flip, rng.integers(0, num_labels, shape), labels).astype(np.int32)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_connected_components_match_scikit_image(seed: int) -> None:
    from skimage.measure import label

    labels = _random_labels(seed)
    ours = connected_components(tf.constant(labels)).numpy()
    for i in range(len(labels)):
        theirs = label(labels[i], background=-1, connectivity=1)
        # The same partition, each piece named by its smallest flat pixel index.
        flat = np.arange(labels[i].size).reshape(labels[i].shape)
        for piece in np.unique(theirs):
            inside = theirs == piece
            assert np.all(ours[i][inside] == flat[inside].min())
        assert len(np.unique(ours[i])) == theirs.max()


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_enforce_connectivity_leaves_one_region_per_label(seed: int) -> None:
    from skimage.measure import label

    labels = _random_labels(seed)
    out = enforce_connectivity(tf.constant(labels), 4).numpy()
    assert out.dtype == np.int32 and out.min() >= 0 and out.max() < 4
    for i in range(len(labels)):
        before = label(labels[i], background=-1, connectivity=1)
        after = label(out[i], background=-1, connectivity=1)
        assert after.max() == len(np.unique(out[i]))  # every label is one 4-connected region
        for piece in range(1, before.max() + 1):
            inside = before == piece
            new = np.unique(out[i][inside])
            assert len(new) == 1  # a piece moves whole
            same_label = labels[i] == labels[i][inside][0]
            sizes = np.bincount(before[same_label])
            if inside.sum() == sizes.max() and new[0] != labels[i][inside][0]:
                # only a tie for the largest piece may move, and then another piece of equal size keeps the label
                assert np.sum(sizes == sizes.max()) > 1
    # Labels that were already connected are returned unchanged.
    blocks = np.repeat(np.repeat(np.arange(4).reshape(1, 2, 2), 5, 1), 6, 2).astype(np.int32)
    np.testing.assert_array_equal(enforce_connectivity(tf.constant(blocks), 4).numpy(), blocks)


def test_tf_slic_superpixels_are_connected_on_real_tissue(glas_dir) -> None:
    from PIL import Image
    from skimage.measure import label

    files = sorted((glas_dir / "train" / "images").iterdir())[:2]
    images = np.stack([np.asarray(Image.open(f).convert("RGB").resize((96, 96)), np.float32) / 255 for f in files])
    for connectivity, connected in ((True, True), (False, False)):
        sp = tf_slic(tf.constant(images), 60, connectivity=connectivity).numpy()
        regions = [label(s, background=-1, connectivity=1).max() for s in sp]
        distinct = [len(np.unique(s)) for s in sp]
        assert (regions == distinct) is connected, (connectivity, regions, distinct)


def test_value_range_does_not_matter_as_in_scikit_image() -> None:
    images = _two_colours()
    unit = tf_slic(tf.constant(images), n_segments=16).numpy()
    for scaled in (images * 0.4 + 0.1, images * 4095.0):  # low contrast; 12-bit values
        other = tf_slic(tf.constant(scaled.astype(np.float32)), n_segments=16).numpy()
        assert (other == unit).mean() > 0.99
    gray = images[..., :1] * 0.3 + 0.35
    sp = tf_slic(tf.constant(gray), n_segments=16, sigma=0.0).numpy()
    _assert_no_superpixel_crosses_the_edge(sp, images[..., 0] > 0.5)


def test_multichannel_images_follow_an_edge_in_one_channel() -> None:
    images = _two_colours()
    stack = np.concatenate([np.full_like(images[..., :3], 0.5), images[..., :1]], axis=-1)  # 4 channels
    sp = tf_slic(tf.constant(stack), n_segments=16, sigma=0.0).numpy()
    _assert_no_superpixel_crosses_the_edge(sp, images[..., 0] > 0.5)
