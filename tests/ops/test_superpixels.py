"""slic_superpixels: SLIC through tf.numpy_function."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from keras_hsmix import slic_superpixels


def _smooth_images(shape, seed=0) -> np.ndarray:
    """Smooth random images in [0, 1] (SLIC merges pure pixel noise into one segment)."""
    from scipy.ndimage import gaussian_filter

    x = gaussian_filter(np.random.default_rng(seed).random(shape), sigma=(0, 3, 3, 0)[: len(shape)] if len(shape) == 4 else (3, 3, 0))
    return (x - x.min()) / (x.max() - x.min())


def _contiguous(labels: np.ndarray) -> bool:
    return np.array_equal(np.unique(labels), np.arange(labels.max() + 1))


@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("dtype", ["uint8", "float32", "uint16"])
def test_single_image_and_batch(channels, dtype):
    x = _smooth_images((2, 40, 30, channels))
    if dtype != "float32":
        x = (x * np.iinfo(dtype).max).astype(dtype)
    else:
        x = x.astype(np.float32)
    batch = slic_superpixels(x, n_segments=20)
    assert batch.shape == (2, 40, 30) and batch.dtype == tf.int32
    single = slic_superpixels(x[0], n_segments=20)
    assert single.shape == (40, 30)
    np.testing.assert_array_equal(single.numpy(), batch[0].numpy())
    for labels in batch.numpy():
        assert _contiguous(labels)
        assert 1 < labels.max() + 1 <= 60


def test_uint8_and_float_agree():
    x = (_smooth_images((32, 32, 3), seed=1) * 255).astype(np.uint8)
    a = slic_superpixels(x, n_segments=16).numpy()
    b = slic_superpixels(x.astype(np.float32) / 255.0, n_segments=16).numpy()
    np.testing.assert_array_equal(a, b)


def test_graph_mode_restores_static_shape():
    ds = tf.data.Dataset.from_tensor_slices(np.random.rand(3, 24, 24, 3).astype(np.float32))
    ds = ds.map(lambda x: slic_superpixels(x, n_segments=12))
    assert ds.element_spec.shape == (24, 24)
    assert ds.element_spec.dtype == tf.int32

    @tf.function
    def f(x):
        return slic_superpixels(x, n_segments=10)

    assert f(tf.random.uniform((2, 16, 16, 3))).shape == (2, 16, 16)


def test_per_image_counts_and_no_randomness():
    x = _smooth_images((3, 64, 64, 3), seed=2).astype(np.float32)
    a = slic_superpixels(x, n_segments=tf.constant([10, 30, 60])).numpy()
    b = slic_superpixels(x, n_segments=tf.constant([10, 30, 60])).numpy()
    np.testing.assert_array_equal(a, b)  # the op draws nothing
    counts = [int(labels.max()) + 1 for labels in a]
    assert counts[0] < counts[1] < counts[2], counts
    np.testing.assert_array_equal(a[1], slic_superpixels(x[1], n_segments=30).numpy())


def test_range_is_refused_with_where_to_draw():
    with pytest.raises(ValueError, match="range.*seeded layer or pipeline step"):
        slic_superpixels(np.zeros((8, 8, 3), np.float32), n_segments=(5, 10))
    # A degenerate range is one value.
    assert slic_superpixels(np.zeros((8, 8, 3), np.float32), n_segments=(4, 4)).shape == (8, 8)


def test_constant_image_and_tiny_image():
    constant = slic_superpixels(np.full((16, 16, 3), 0.5, np.float32), n_segments=4).numpy()
    assert _contiguous(constant)
    tiny = slic_superpixels(np.random.rand(8, 8, 1).astype(np.float32), n_segments=1000).numpy()
    assert _contiguous(tiny) and tiny.max() < 64


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"n_segments": 0}, ValueError, "n_segments"),
        ({"n_segments": (5, 2)}, ValueError, "n_segments"),
        ({"n_segments": (1, 2, 3)}, ValueError, "n_segments"),
    ],
)
def test_bad_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        slic_superpixels(np.zeros((8, 8, 3), np.float32), **kwargs)


def test_bad_images():
    with pytest.raises(ValueError, match="rank"):
        slic_superpixels(np.zeros((8, 8), np.float32))
    with pytest.raises(ValueError, match="at least one channel"):
        slic_superpixels(np.zeros((8, 8, 0), np.float32))
    bad = np.zeros((8, 8, 3), np.float32)
    bad[0, 0, 0] = np.nan
    with pytest.raises((ValueError, tf.errors.InvalidArgumentError), match="NaN or Inf"):
        slic_superpixels(bad)


def _segmentation_accuracy(labels: np.ndarray, truth: np.ndarray) -> float:
    """Share of pixels whose superpixel's majority region is their own (1.0: no superpixel crosses an edge)."""
    return sum(np.bincount(truth[labels == s]).max() for s in np.unique(labels)) / truth.size


@pytest.mark.parametrize("scale", [1.0, 4095.0])  # [0, 1] floats, and 12-bit values as in CT / X-ray files
def test_grayscale_superpixels_follow_edges_as_rgb_ones_do(scale):
    # scikit-image rescales each image to [0, 1] before SLIC and measures RGB in CIELAB (L in 0..100):
    # a grayscale image needs compactness / 100 to weigh intensity as RGB weighs colour; without it the
    # superpixels of a grayscale image are a near-regular grid that cuts across the edges.
    yy, xx = np.mgrid[:64, :64]
    disk = ((yy - 30) ** 2 + (xx - 35) ** 2 < 17**2).astype(np.int64)
    noise = np.random.default_rng(0).normal(0, 0.01, disk.shape)
    gray = ((0.35 + 0.3 * disk + noise)[..., None] * scale).astype(np.float32)
    rgb = np.repeat(gray, 3, axis=-1)
    accuracy = {
        name: _segmentation_accuracy(slic_superpixels(x, n_segments=16).numpy(), disk)
        for name, x in (("gray", gray), ("rgb", rgb))
    }
    assert accuracy["rgb"] > 0.99
    assert accuracy["gray"] > 0.99, accuracy


def test_multichannel_images_such_as_mri_sequences():
    # Four co-registered sequences (BraTS: T1, T1ce, T2, FLAIR); the edge shows in one sequence only.
    yy, xx = np.mgrid[:64, :64]
    disk = ((yy - 30) ** 2 + (xx - 35) ** 2 < 17**2).astype(np.int64)
    rng = np.random.default_rng(0)
    sequences = np.stack([0.5 + rng.normal(0, 0.01, disk.shape) for _ in range(4)], axis=-1)
    sequences[..., 3] += 0.3 * disk
    labels = slic_superpixels(sequences.astype(np.float32), n_segments=16).numpy()
    assert labels.shape == (64, 64) and _contiguous(labels)
    assert _segmentation_accuracy(labels, disk) > 0.99
