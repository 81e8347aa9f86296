"""Tests for keras_hsmix.data.synthetic."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from keras_hsmix.data.folder import load_folder
from keras_hsmix.data.synthetic import make_synthetic_dataset, synthetic_arrays


@pytest.mark.parametrize("image_size", [(128, 128), (48, 80)])
def test_arrays_shapes_dtypes_ranges(image_size):
    images, masks = synthetic_arrays(num_images=6, image_size=image_size, seed=0)
    assert images.shape == (6, *image_size, 3) and images.dtype == np.float32
    assert masks.shape == (6, *image_size, 1) and masks.dtype == np.int32
    assert images.min() >= 0.0 and images.max() <= 1.0
    assert np.isfinite(images).all()
    assert set(np.unique(masks)) == {0, 1}


@pytest.mark.parametrize("num_classes", [2, 3, 4, 6])
def test_every_class_present(num_classes):
    _, masks = synthetic_arrays(num_images=8, image_size=(128, 128), num_classes=num_classes, seed=2)
    assert set(np.unique(masks)) == set(range(num_classes))
    assert masks.min() >= 0 and masks.max() < num_classes
    for mask in masks:  # every image has some foreground
        assert (mask > 0).any()


def test_foreground_fraction_plausible():
    _, masks = synthetic_arrays(num_images=16, seed=0)
    fraction = float((masks > 0).mean())
    assert 0.1 < fraction < 0.6, fraction


def test_masks_match_image_content():
    """Blob pixels must look different from the background (the task is learnable)."""
    images, masks = synthetic_arrays(num_images=8, seed=4)
    for image, mask in zip(images, masks[..., 0]):
        inside, outside = image[mask == 1], image[mask == 0]
        # stroma is pink (red >> green); glands have purple rims and pale lumens
        assert abs(inside.mean(axis=0) - outside.mean(axis=0)).max() > 0.03
        assert np.std(inside[:, 0]) > np.std(outside[:, 0])


def test_histology_like_colours():
    images, _ = synthetic_arrays(num_images=4, seed=0)
    mean = images.reshape(-1, 3).mean(axis=0)
    assert mean[0] > mean[1] and mean[2] > mean[1]  # pink / purple, not green
    assert 0.4 < mean.mean() < 0.95
    assert images.std() > 0.03  # textured, not flat


def test_deterministic_and_seeded():
    a_images, a_masks = synthetic_arrays(num_images=4, image_size=(64, 64), seed=7)
    b_images, b_masks = synthetic_arrays(num_images=4, image_size=(64, 64), seed=7)
    np.testing.assert_array_equal(a_images, b_images)
    np.testing.assert_array_equal(a_masks, b_masks)
    c_images, _ = synthetic_arrays(num_images=4, image_size=(64, 64), seed=8)
    assert not np.array_equal(a_images, c_images)
    # image i depends only on (seed, i), not on how many images are made
    more_images, more_masks = synthetic_arrays(num_images=6, image_size=(64, 64), seed=7)
    np.testing.assert_array_equal(more_images[:4], a_images)
    np.testing.assert_array_equal(more_masks[:4], a_masks)
    # the images differ from each other
    assert not np.array_equal(a_masks[0], a_masks[1])


def test_dataset_matches_arrays_and_folder_spec(tmp_path):
    ds = make_synthetic_dataset(num_images=3, image_size=(32, 40), num_classes=3, seed=1)
    images, masks = synthetic_arrays(num_images=3, image_size=(32, 40), num_classes=3, seed=1)
    assert int(ds.cardinality()) == 3
    elements = list(ds)
    for i, e in enumerate(elements):
        np.testing.assert_array_equal(e["images"].numpy(), images[i])
        np.testing.assert_array_equal(e["segmentation_masks"].numpy(), masks[i])

    # the same element spec as load_folder, so the two are interchangeable
    for i in range(3):
        (tmp_path / "images").mkdir(exist_ok=True)
        (tmp_path / "masks").mkdir(exist_ok=True)
        Image.fromarray((images[i] * 255).round().astype(np.uint8)).save(tmp_path / "images" / f"{i}.png")
        Image.fromarray((masks[i, ..., 0] > 0).astype(np.uint8) * 255).save(tmp_path / "masks" / f"{i}.png")
    folder_ds = load_folder(tmp_path, image_size=(32, 40))
    assert folder_ds.element_spec == ds.element_spec
    assert ds.element_spec == {
        "images": tf.TensorSpec((32, 40, 3), tf.float32),
        "segmentation_masks": tf.TensorSpec((32, 40, 1), tf.int32),
    }
    loaded = next(iter(folder_ds))
    np.testing.assert_allclose(loaded["images"].numpy(), images[0], atol=1 / 255)


def test_dataset_in_pipeline():
    ds = make_synthetic_dataset(num_images=5, image_size=(32, 32)).batch(2)
    batches = list(ds)
    assert [int(b["images"].shape[0]) for b in batches] == [2, 2, 1]


@pytest.mark.parametrize(
    "kwargs, pattern",
    [
        ({"num_images": 0}, "num_images"),
        ({"num_images": 2.5}, "num_images"),
        ({"image_size": (8, 8)}, "image_size"),
        ({"image_size": (64,)}, "image_size"),
        ({"image_size": None}, "image_size"),
        ({"num_classes": 1}, "num_classes"),
        ({"num_classes": True}, "num_classes"),
        ({"seed": -1}, "seed"),
        ({"seed": None}, "seed"),
    ],
)
def test_argument_errors(kwargs, pattern):
    with pytest.raises(ValueError, match=pattern):
        synthetic_arrays(**kwargs)
    with pytest.raises(ValueError, match=pattern):
        make_synthetic_dataset(**kwargs)


def test_square_int_image_size():
    images, masks = synthetic_arrays(num_images=1, image_size=40)
    assert images.shape == (1, 40, 40, 3) and masks.shape == (1, 40, 40, 1)
