"""Edge cases that must work: through SLIC, the layers, the pipeline and HSMixModel.fit.

Constant images, tiny (8x8) and thin images, ``n_segments`` larger than the pixel count,
a batch of one (and an empty batch), every mask empty or every mask full, a single
class, uint16 images and non-square images. The random mixes over these (and over
dtypes, channels and classes) are in ``test_properties.py``; here each case is named.
"""

from __future__ import annotations

from typing import Any

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_hsmix import HardMix, HSMix, HSMixModel, SoftMix, slic_superpixels
from keras_hsmix.data import make_pipeline
from keras_hsmix.losses import DiceCELoss
from keras_hsmix.metrics import Dice
from keras_hsmix.models import unet
from tests.reliability._builders import random_superpixels

LAYERS = {"hard": HardMix, "soft": SoftMix, "hsmix": HSMix}


def _contiguous(labels: np.ndarray) -> bool:
    return bool(np.array_equal(np.unique(labels), np.arange(labels.max() + 1)))


# --------------------------------------------------------------------------------------
# SLIC
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("value", [0.0, 0.5, 1.0])
def test_slic_constant_image(channels: int, value: float) -> None:
    image = np.full((16, 20, channels), value, np.float32)
    one = slic_superpixels(image, n_segments=1).numpy()
    assert one.shape == (16, 20) and np.all(one == 0)  # a single superpixel
    many = slic_superpixels(image, n_segments=50).numpy()  # no colour edges: a regular grid
    assert _contiguous(many) and many.max() + 1 <= 16 * 20


@pytest.mark.parametrize("shape", [(8, 8, 3), (8, 8, 1), (1, 1, 3), (1, 9, 1), (3, 2, 3)])
def test_slic_more_segments_than_pixels(shape: tuple[int, int, int]) -> None:
    labels = slic_superpixels(np.random.default_rng(0).random(shape).astype(np.float32), n_segments=10_000).numpy()
    assert labels.shape == shape[:2] and _contiguous(labels) and labels.max() < shape[0] * shape[1]


@pytest.mark.parametrize("channels", [1, 3])
def test_slic_uint16_equals_scaled_float(channels: int) -> None:
    rng = np.random.default_rng(1)
    image = rng.integers(0, 65536, (2, 12, 20, channels)).astype(np.uint16)
    as_uint16 = slic_superpixels(image, n_segments=10).numpy()
    as_float = slic_superpixels(image / 65535.0, n_segments=10).numpy()
    assert as_uint16.shape == (2, 12, 20)
    np.testing.assert_array_equal(as_uint16, as_float)


def test_slic_empty_and_single_batch() -> None:
    assert slic_superpixels(np.zeros((0, 8, 8, 3), np.float32), n_segments=4).shape == (0, 8, 8)
    assert slic_superpixels(np.random.default_rng(0).random((1, 8, 12, 3)), n_segments=4).shape == (1, 8, 12)


# --------------------------------------------------------------------------------------
# layers
# --------------------------------------------------------------------------------------


def _batch(shape: tuple[int, int, int, int], dtype: str = "float32", classes: int = 2, fill: int | None = None,
           superpixels: str = "grid", seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    b, h, w, c = shape
    if dtype == "uint16":
        images = rng.integers(0, 65536, shape).astype(np.uint16)
    elif dtype == "constant":
        images = np.stack([np.full((h, w, c), (i + 1) / (b + 1), np.float32) for i in range(b)])
    else:
        images = rng.random(shape).astype(dtype)
    masks = rng.integers(0, classes, (b, h, w)) if fill is None else np.full((b, h, w), fill)
    batch = {"images": images, "segmentation_masks": masks.astype(np.int32)}
    if superpixels == "grid":
        batch["superpixels"] = random_superpixels(rng, b, h, w)
    elif superpixels == "one":
        batch["superpixels"] = np.zeros((b, h, w), np.int32)
    return batch


def _mix(kind: str, batch: dict[str, np.ndarray], **kwargs: Any) -> dict[str, np.ndarray]:
    kwargs.setdefault("num_classes", 2)
    kwargs.setdefault("seed", 0)
    out = LAYERS[kind](**kwargs)(batch)
    return {k: np.asarray(v) for k, v in out.items()}


@pytest.mark.parametrize("kind", sorted(LAYERS))
def test_constant_images_with_one_superpixel(kind: str) -> None:
    """One superpixel per image: hard mixing swaps whole images or nothing; soft mixing blends uniformly."""
    batch = _batch((4, 8, 8, 3), dtype="constant", superpixels="one")
    out = _mix(kind, batch, p=0.5)
    values = np.unique(batch["images"])
    for b in range(4):
        pixel = out["images"][b]
        assert np.allclose(pixel, pixel[0, 0])  # still one constant image
        if kind == "hard":
            assert pixel[0, 0, 0] in values
    np.testing.assert_allclose(out["segmentation_masks"].sum(-1), 1.0, atol=1e-5)


@pytest.mark.parametrize("kind", sorted(LAYERS))
@pytest.mark.parametrize("shape", [(3, 8, 8, 3), (2, 8, 8, 1), (2, 1, 7, 3), (2, 5, 1, 1), (2, 1, 1, 3)])
def test_tiny_and_thin_images_with_slic(kind: str, shape: tuple[int, int, int, int]) -> None:
    """SLIC with more segments than pixels, and static saliency on images under 2 pixels wide."""
    out = _mix(kind, _batch(shape, superpixels="slic"), n_segments=1000)
    assert out["images"].shape == shape and out["segmentation_masks"].shape == shape[:3] + (2,)
    np.testing.assert_allclose(out["segmentation_masks"].sum(-1), 1.0, atol=1e-5)


@pytest.mark.parametrize("kind", sorted(LAYERS))
def test_batch_of_one_and_empty_batch(kind: str) -> None:
    one = _batch((1, 8, 8, 3))
    out = _mix(kind, one)
    np.testing.assert_array_equal(out["images"], one["images"])
    np.testing.assert_array_equal(out["segmentation_masks"].argmax(-1), one["segmentation_masks"])
    empty = _mix(kind, _batch((0, 8, 8, 3), superpixels="slic"))
    assert empty["images"].shape == (0, 8, 8, 3) and empty["segmentation_masks"].shape == (0, 8, 8, 2)


@pytest.mark.parametrize("kind", sorted(LAYERS))
@pytest.mark.parametrize("fill", [0, 1])
def test_every_mask_empty_or_full(kind: str, fill: int) -> None:
    out = _mix(kind, _batch((4, 12, 12, 3), fill=fill), p=0.7)
    expected = np.zeros((4, 12, 12, 2), np.float32)
    expected[..., fill] = 1.0
    np.testing.assert_allclose(out["segmentation_masks"], expected, atol=1e-6)  # mixing equal labels keeps them


@pytest.mark.parametrize("kind", sorted(LAYERS))
def test_single_class(kind: str) -> None:
    out = _mix(kind, _batch((3, 8, 12, 3), fill=0), num_classes=1)
    np.testing.assert_array_equal(out["segmentation_masks"], np.ones((3, 8, 12, 1), np.float32))


@pytest.mark.parametrize("kind", sorted(LAYERS))
def test_uint16_non_square_images(kind: str) -> None:
    batch = _batch((3, 10, 26, 3), dtype="uint16", superpixels="slic")
    out = _mix(kind, batch, n_segments=(5, 20), probabilities=(0, 1, 0)) if kind == "hsmix" else _mix(
        kind, batch, n_segments=(5, 20))
    assert out["images"].dtype == np.uint16 and out["images"].shape == (3, 10, 26, 3)
    low, high = batch["images"].min(0), batch["images"].max(0)
    assert np.all(out["images"] >= low) and np.all(out["images"] <= high)  # no wrap-around


@pytest.mark.parametrize("channels", [2, 4])
def test_soft_static_saliency_with_other_channel_counts(channels: int) -> None:
    out = _mix("soft", _batch((3, 8, 8, channels)))
    assert out["images"].shape == (3, 8, 8, channels)


# --------------------------------------------------------------------------------------
# pipeline
# --------------------------------------------------------------------------------------


def _dataset(images: np.ndarray, masks: np.ndarray) -> tf.data.Dataset:
    return tf.data.Dataset.from_tensor_slices({"images": images, "segmentation_masks": masks})


PIPELINE_CASES = {
    "tiny_8x8_uint16_more_segments_than_pixels": ((4, 8, 8, 3), "uint16", None, 2, 2, 1000),
    "non_square": ((4, 12, 20, 3), "float32", None, 2, 2, 10),
    "constant_images": ((4, 16, 16, 3), "constant", None, 2, 2, 10),
    "every_mask_empty": ((4, 16, 16, 1), "float32", 0, 2, 2, 10),
    "every_mask_full": ((4, 16, 16, 1), "float32", 1, 2, 2, 10),
    "single_class": ((4, 16, 16, 3), "float32", 0, 1, 2, 10),
    "batch_of_one": ((3, 16, 16, 3), "float32", None, 2, 1, 10),
}


@pytest.mark.parametrize("name", sorted(PIPELINE_CASES))
def test_make_pipeline_edge_cases(name: str) -> None:
    shape, dtype, fill, classes, batch_size, n_segments = PIPELINE_CASES[name]
    batch = _batch(shape, dtype=dtype, classes=classes, fill=fill, superpixels="none")
    masks = batch["segmentation_masks"][..., None]
    pipeline = make_pipeline(_dataset(batch["images"], masks), batch_size=batch_size, num_classes=classes,
                             n_segments=n_segments, seed=0)
    batches = list(pipeline.take(2))
    assert len(batches) == 2
    for images, soft in batches:
        assert images.shape == (batch_size,) + shape[1:] and images.dtype == batch["images"].dtype
        assert soft.shape == (batch_size,) + shape[1:3] + (classes,)
        np.testing.assert_allclose(soft.numpy().sum(-1), 1.0, atol=1e-5)
        if fill is not None:  # every mask the same class: the soft labels are that class
            np.testing.assert_allclose(soft.numpy()[..., fill], 1.0, atol=1e-5)


# --------------------------------------------------------------------------------------
# HSMixModel.fit
# --------------------------------------------------------------------------------------

def _fit(images: np.ndarray, masks: np.ndarray, classes: int, batch_size: int, n_segments: int) -> dict:
    keras.utils.set_random_seed(0)
    model = HSMixModel(unet(images.shape[1:], num_classes=classes, base_filters=4, depth=1), num_classes=classes,
                       saliency="gradcam", probabilities=(0.5, 0.5, 0.0), n_segments=n_segments, seed=0)
    model.compile(optimizer="adam", loss=DiceCELoss(from_logits=True), metrics=[Dice(from_logits=True)])
    data = _dataset(images, masks[..., None]).batch(batch_size)  # the last batch may be smaller
    history = model.fit(data, epochs=1, verbose=0).history
    assert np.isfinite(history["loss"][0]) and np.isfinite(history["dice"][0]), history
    return history


# Each fit runs Grad-CAM soft mixing or hard mixing per batch, with SLIC computed in train_step.
# Cases share a fit where their shapes agree, as fits are the slow part of this file.


def test_fit_every_mask_empty_every_mask_full_and_batch_of_one() -> None:
    """Batches: two all-empty masks, two all-full masks, then a last batch of one."""
    batch = _batch((5, 16, 16, 3), superpixels="none")
    masks = np.stack([np.zeros((16, 16))] * 2 + [np.ones((16, 16))] * 2 + [batch["segmentation_masks"][4]])
    _fit(batch["images"], masks.astype(np.int32), classes=2, batch_size=2, n_segments=20)


def test_fit_single_class_uint16_non_square() -> None:
    batch = _batch((4, 16, 24, 3), dtype="uint16", fill=0, superpixels="none")
    _fit(batch["images"], batch["segmentation_masks"], classes=1, batch_size=2, n_segments=20)


def test_fit_tiny_8x8_constant_images_more_segments_than_pixels() -> None:
    batch = _batch((4, 8, 8, 1), dtype="constant", superpixels="none")
    _fit(batch["images"], batch["segmentation_masks"], classes=2, batch_size=2, n_segments=1000)
