"""Tests for keras_hsmix.ops.saliency (fine-grained static saliency).

OpenCV (``opencv-contrib-python-headless``) is the oracle; it is a test-only
dependency and the package itself never imports it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from keras_hsmix.ops.saliency import static_saliency

GLAS_FILES = ("train/images/1.png", "train/images/14.png", "test/images/1.png")


def _opencv_saliency(image_rgb: np.ndarray) -> np.ndarray:
    """OpenCV's map (float32 in [0, 1]) for an RGB or single-channel uint8 image."""
    cv2 = pytest.importorskip("cv2")
    image = image_rgb[..., ::-1].copy() if image_rgb.ndim == 3 else image_rgb
    ok, sal = cv2.saliency.StaticSaliencyFineGrained_create().computeSaliency(image)
    assert ok
    return np.asarray(sal, np.float32)


def _read_glas(glas_dir: Path, rel: str, size: tuple[int, int] | None) -> np.ndarray:
    cv2 = pytest.importorskip("cv2")
    path = glas_dir / rel
    if not path.is_file():
        pytest.skip(f"{path} not found")
    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if size is not None:
        bgr = cv2.resize(bgr, size, interpolation=cv2.INTER_AREA)
    return bgr[..., ::-1].copy()


def _levels(sal: np.ndarray) -> np.ndarray:
    return np.round(np.asarray(sal) * 255.0).astype(np.int32)


def _structured_images(n: int, h: int, w: int, channels: int = 3, seed: int = 0) -> np.ndarray:
    """Random blobs + noise, uint8: content with saliency at several scales."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:h, :w]
    out = np.empty((n, h, w, channels), np.uint8)
    for i in range(n):
        img = np.full((h, w, channels), rng.uniform(40, 200), np.float64)
        for _ in range(6):
            cy, cx, r = rng.uniform(0, h), rng.uniform(0, w), rng.uniform(2, max(h, w) / 3)
            img[(yy - cy) ** 2 + (xx - cx) ** 2 < r * r] = rng.uniform(0, 255, channels)
        img += rng.normal(0, 12, img.shape)
        out[i] = np.clip(img, 0, 255).astype(np.uint8)
    return out


# --------------------------------------------------------------------------- OpenCV agreement


@pytest.mark.parametrize("size", [None, (224, 224)], ids=["full", "224"])
def test_matches_opencv_on_glas(glas_dir: Path, size: tuple[int, int] | None) -> None:
    pytest.importorskip("cv2")
    for rel in GLAS_FILES:
        rgb = _read_glas(glas_dir, rel, size)
        ref = _opencv_saliency(rgb)
        ours = static_saliency(tf.constant(rgb)).numpy()
        assert ours.shape == ref.shape
        corr = np.corrcoef(ours.ravel(), ref.ravel())[0, 1]
        assert corr >= 0.9, f"{rel} {size}: Pearson r = {corr:.4f}"
        # In practice the port is bit-exact on the 8-bit levels.
        assert np.mean(_levels(ours) == _levels(ref)) >= 0.999, rel


@pytest.mark.parametrize("shape", [(37, 53, 3), (64, 48, 1), (5, 9, 3), (130, 300, 3)])
def test_matches_opencv_on_synthetic(shape: tuple[int, int, int]) -> None:
    pytest.importorskip("cv2")
    h, w, c = shape
    for i, img in enumerate(_structured_images(2, h, w, c, seed=sum(shape))):
        ref = _opencv_saliency(img if c == 3 else img[..., 0])
        ours = static_saliency(img).numpy()
        np.testing.assert_array_equal(_levels(ours), _levels(ref), err_msg=f"image {i}, shape {shape}")


# --------------------------------------------------------------------------- shapes and dtypes


def test_single_image_and_batch_shapes() -> None:
    batch = _structured_images(3, 40, 56)
    single = static_saliency(batch[0])
    assert single.shape == (40, 56) and single.dtype == tf.float32
    out = static_saliency(batch)
    assert out.shape == (3, 40, 56) and out.dtype == tf.float32
    gray = static_saliency(batch[..., :1])
    assert gray.shape == (3, 40, 56)


def test_gray_channel_equals_rgb_with_equal_channels() -> None:
    gray = _structured_images(2, 33, 45, channels=1, seed=3)
    rgb = np.repeat(gray, 3, axis=-1)
    np.testing.assert_array_equal(static_saliency(gray).numpy(), static_saliency(rgb).numpy())


def test_dtypes_give_the_same_map() -> None:
    img = _structured_images(2, 48, 40, seed=5)
    ref = static_saliency(img).numpy()
    for dtype in (tf.float16, tf.float32, tf.float64, tf.bfloat16):
        x = tf.cast(tf.constant(img, tf.float64) / 255.0, dtype)
        if dtype in (tf.float16, tf.bfloat16):
            # Low-precision floats cannot represent every level k/255; compare loosely.
            corr = np.corrcoef(static_saliency(x).numpy().ravel(), ref.ravel())[0, 1]
            assert corr > 0.95, dtype
        else:
            np.testing.assert_array_equal(static_saliency(x).numpy(), ref, err_msg=dtype.name)
    x16 = tf.constant(img.astype(np.uint16) * 257)  # 255 * 257 == 65535
    np.testing.assert_array_equal(static_saliency(x16).numpy(), ref)


def test_range_is_zero_to_one() -> None:
    out = static_saliency(_structured_images(4, 50, 50, seed=7)).numpy()
    assert np.isfinite(out).all()
    assert out.min() >= 0.0 and out.max() <= 1.0
    np.testing.assert_allclose(out.reshape(4, -1).max(axis=1), 1.0)
    # Like OpenCV's float map, values are multiples of 1/255.
    np.testing.assert_allclose(out * 255.0, np.round(out * 255.0), atol=1e-4)


@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("value", [0, 77, 255])
def test_constant_image_gives_zeros(channels: int, value: int) -> None:
    img = np.full((2, 30, 20, channels), value, np.uint8)
    for x in (img, img.astype(np.float32) / 255.0):
        out = static_saliency(x).numpy()
        assert np.isfinite(out).all()
        np.testing.assert_array_equal(out, np.zeros((2, 30, 20), np.float32))


def test_input_validation() -> None:
    with pytest.raises(ValueError, match="channel count"):
        tf.function(static_saliency, input_signature=[tf.TensorSpec([None, 8, 8, None])]).get_concrete_function()
    with pytest.raises(ValueError):
        static_saliency(tf.zeros([8, 8]))
    with pytest.raises(TypeError):
        static_saliency(tf.zeros([8, 8, 3], tf.int32))


# --------------------------------------------------------------------------- graph modes


def test_batch_entries_are_independent() -> None:
    batch = _structured_images(3, 36, 44, seed=11)
    batch[2] = 128  # a constant image must not disturb its neighbours
    together = static_saliency(batch).numpy()
    for i in range(3):
        np.testing.assert_array_equal(together[i], static_saliency(batch[i]).numpy())


def test_tf_function_dynamic_and_static_shapes() -> None:
    batch = _structured_images(2, 31, 47, seed=13)
    eager = static_saliency(batch).numpy()
    dynamic = tf.function(static_saliency, input_signature=[tf.TensorSpec([None, None, None, 3], tf.uint8)])
    np.testing.assert_array_equal(dynamic(batch).numpy(), eager)
    np.testing.assert_array_equal(dynamic(batch[:1, :20, :25]).numpy(), static_saliency(batch[:1, :20, :25]).numpy())
    static = tf.function(static_saliency).get_concrete_function(tf.TensorSpec([2, 31, 47, 3], tf.uint8))
    assert static.output_shapes.as_list() == [2, 31, 47]
    partial = tf.function(static_saliency).get_concrete_function(tf.TensorSpec([None, 31, 47, 3], tf.float32))
    assert partial.output_shapes.as_list() == [None, 31, 47]


def test_xla_matches_eager() -> None:
    batch = _structured_images(2, 40, 40, seed=17)
    xla = tf.function(static_saliency, jit_compile=True)
    np.testing.assert_array_equal(xla(tf.constant(batch)).numpy(), static_saliency(batch).numpy())


def test_inside_tf_data_map() -> None:
    images = _structured_images(4, 28, 36, seed=19)
    eager = static_saliency(images).numpy()
    ds = tf.data.Dataset.from_tensor_slices(images).map(static_saliency)
    assert ds.element_spec.shape.as_list() == [28, 36]
    got = np.stack([x.numpy() for x in ds])
    np.testing.assert_array_equal(got, eager)
    batched = tf.data.Dataset.from_tensor_slices(images).batch(3).map(static_saliency)
    np.testing.assert_array_equal(np.concatenate([x.numpy() for x in batched]), eager)

    def gen():
        yield images[0]
        yield images[1, :20, :30]

    ragged = tf.data.Dataset.from_generator(gen, output_signature=tf.TensorSpec([None, None, 3], tf.uint8))
    outs = [x.numpy() for x in ragged.map(static_saliency)]
    np.testing.assert_array_equal(outs[0], eager[0])
    np.testing.assert_array_equal(outs[1], static_saliency(images[1, :20, :30]).numpy())


def test_other_channel_counts_use_the_channel_mean() -> None:
    rgb = _structured_images(2, 20, 24, seed=5).astype(np.float32) / 255.0
    two = np.concatenate([rgb[..., :1], rgb[..., :1]], axis=-1)  # mean of equal channels = that channel
    np.testing.assert_array_equal(static_saliency(two).numpy(), static_saliency(two[..., :1]).numpy())
    five = np.repeat(rgb[..., 1:2], 5, axis=-1)
    np.testing.assert_array_equal(static_saliency(five).numpy(), static_saliency(rgb[..., 1:2]).numpy())


@pytest.mark.parametrize("shape", [(2, 1, 9, 3), (2, 7, 1, 1), (0, 8, 8, 3)])
def test_thin_images_and_empty_batches(shape) -> None:
    out = static_saliency(tf.random.uniform(shape, seed=1))
    assert out.shape == shape[:3]
    assert np.all(np.isfinite(out.numpy())) and (out.numpy().size == 0 or out.numpy().max() <= 1.0)


@pytest.mark.parametrize("scale, shift", [(255.0, 0.0), (4095.0, 0.0), (4.0, -2.0)])  # [0, 255], 12-bit, standardised
def test_float_images_on_another_scale_are_refused_not_blanked(scale: float, shift: float) -> None:
    from keras_hsmix import SoftMix

    images = np.random.default_rng(0).random((2, 24, 24, 3)).astype(np.float32) * scale + shift
    message = "float images must lie in \\[0, 1\\]"
    with pytest.raises(tf.errors.InvalidArgumentError, match=message):
        static_saliency(images)
    with pytest.raises(tf.errors.InvalidArgumentError, match=message):
        tf.function(static_saliency)(images)
    with pytest.raises(tf.errors.InvalidArgumentError, match=message):
        list(tf.data.Dataset.from_tensor_slices(images).map(static_saliency))
    masks = np.zeros((2, 24, 24), np.int32)
    with pytest.raises(tf.errors.InvalidArgumentError, match=message):
        SoftMix(num_classes=2, seed=0, jit_compile=False)({"images": images, "segmentation_masks": masks})


def test_float_images_slightly_outside_unit_range_are_clipped() -> None:
    images = np.random.default_rng(1).random((2, 24, 24, 3)).astype(np.float32)
    stretched = (images - 0.5) * 1.1 + 0.5  # e.g. after a contrast jitter: about -0.05 .. 1.05
    expected = static_saliency(np.clip(stretched, 0.0, 1.0)).numpy()
    np.testing.assert_array_equal(static_saliency(stretched).numpy(), expected)
