"""random_color_jitter (images only) and its use in make_pipeline and the study."""

from __future__ import annotations

import colorsys

import numpy as np
import pytest
import tensorflow as tf

from keras_hsmix.data import make_pipeline, make_synthetic_dataset, random_color_jitter
from keras_hsmix.data.augment import COLOR_JITTER_RANGES


def _element(channels: int = 3) -> dict:
    rng = np.random.default_rng(0)
    return {"images": rng.uniform(0.2, 0.8, (16, 16, channels)).astype(np.float32),
            "segmentation_masks": rng.integers(0, 3, (16, 16, 1)).astype(np.int32),
            "superpixels": rng.integers(0, 9, (16, 16)).astype(np.int32)}


def test_only_the_image_changes_and_stays_in_range() -> None:
    element = _element()
    for i in range(6):
        out = random_color_jitter(element, strength=2.0, seed=tf.constant([i, 1]))
        np.testing.assert_array_equal(out["segmentation_masks"], element["segmentation_masks"])
        np.testing.assert_array_equal(out["superpixels"], element["superpixels"])
        assert out["superpixels"].dtype == np.int32
        image = out["images"].numpy()
        assert image.shape == (16, 16, 3) and image.dtype == np.float32
        assert image.min() >= 0.0 and image.max() <= 1.0
        assert not np.allclose(image, element["images"])
    np.testing.assert_array_equal(element["images"], _element()["images"])  # the input is not changed


def test_seeded_draws_repeat_and_differ() -> None:
    element = _element()
    a = random_color_jitter(element, seed=tf.constant([3, 4]))["images"].numpy()
    b = random_color_jitter(element, seed=tf.constant([3, 4]))["images"].numpy()
    c = random_color_jitter(element, seed=tf.constant([5, 4]))["images"].numpy()
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)


def test_shifts_stay_within_the_documented_ranges() -> None:
    """A flat grey-blue image: its mean brightness and hue move by no more than the ranges allow."""
    rgb = (0.4, 0.45, 0.6)
    element = {"images": np.tile(np.float32(rgb), (8, 8, 1))}
    hue0 = colorsys.rgb_to_hsv(*rgb)[0]
    hues, means = [], []
    for i in range(40):
        out = random_color_jitter(element, seed=tf.constant([i, 7]))["images"].numpy()
        hues.append(colorsys.rgb_to_hsv(*out[0, 0])[0])
        means.append(out.mean())
    dh = (np.asarray(hues) - hue0 + 0.5) % 1.0 - 0.5
    assert np.abs(dh).max() <= COLOR_JITTER_RANGES["hue"] + 1e-3 and np.abs(dh).max() > 0.01
    # brightness + saturation moves of a flat image: within brightness + saturation range of the channels
    assert np.abs(np.asarray(means) - np.mean(rgb)).max() <= COLOR_JITTER_RANGES["brightness"] + 0.05


def test_grayscale_gets_brightness_and_contrast_only() -> None:
    element = _element(channels=1)
    out = random_color_jitter(element, seed=tf.constant([1, 1]))["images"].numpy()
    assert out.shape == (16, 16, 1) and not np.allclose(out, element["images"])


def test_strength_zero_is_identity_and_bad_input_is_rejected() -> None:
    element = _element()
    assert random_color_jitter(element, 0.0) is element
    with pytest.raises(ValueError, match="strength must be >= 0"):
        random_color_jitter(element, -0.5)
    with pytest.raises(TypeError, match="float images"):
        random_color_jitter({"images": np.zeros((4, 4, 3), np.uint8)})


def test_pipeline_jitters_images_but_not_masks() -> None:
    base = make_synthetic_dataset(4, (32, 32))
    kw = dict(batch_size=4, mixer=None, n_segments=20, seed=0, augment=False, shuffle=None, output="dict")
    plain = next(iter(make_pipeline(base, **kw)))
    tf.random.set_seed(0)
    jittered = next(iter(make_pipeline(base, color_jitter=1.0, **kw)))
    np.testing.assert_array_equal(plain["segmentation_masks"], jittered["segmentation_masks"])
    np.testing.assert_array_equal(plain["superpixels"], jittered["superpixels"])
    assert not np.allclose(plain["images"], jittered["images"])
    assert float(tf.reduce_min(jittered["images"])) >= 0.0 and float(tf.reduce_max(jittered["images"])) <= 1.0
    with pytest.raises(ValueError, match="color_jitter must be >= 0"):
        make_pipeline(base, color_jitter=-1.0)


def test_colour_methods_of_a_comparison_jitter_their_training_images() -> None:
    from keras_hsmix.runs.compare import CompareConfig, Method, build_run, reference_method

    cfg = CompareConfig(data_dir=None, size=16, base_filters=2, depth=1, n_segments=(4, 8), epochs=1,
                        batch_size=4)
    images = np.full((4, 16, 16, 3), 0.5, np.float32)
    masks = np.zeros((4, 16, 16, 1), np.int32)
    assert reference_method("hsmix_gradcam+flips+color") == "flips+color"
    assert reference_method("mixup+flips+color") == "flips+color"
    methods = {m.name: m for m in (Method("flips", "none", True), Method("flips+color", "none", True, color=1.0),
                                   Method("hsmix_gradcam+flips+color", "hsmix", True, color=1.0),
                                   Method("mixup+flips+color", "mixup", True, color=1.0))}
    for name, unchanged in (("flips", True), ("flips+color", False), ("hsmix_gradcam+flips+color", False),
                            ("mixup+flips+color", False)):
        _, dataset = build_run(methods[name], cfg, 0, images, masks)
        batch = next(iter(dataset))
        x = batch["images"] if isinstance(batch, dict) else batch[0]
        assert np.allclose(x.numpy(), 0.5) == unchanged, name
