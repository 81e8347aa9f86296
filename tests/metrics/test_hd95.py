"""Tests for keras_hsmix.metrics.hd95."""

from __future__ import annotations

import math

import numpy as np
import pytest
import tensorflow as tf

from keras_hsmix.metrics import hd95, hd95_mean


def _square(size: int = 32, top: int = 8, left: int = 8, side: int = 12) -> np.ndarray:
    mask = np.zeros((size, size), bool)
    mask[top : top + side, left : left + side] = True
    return mask


@pytest.mark.parametrize("d", [1, 3, 5])
def test_shifted_squares_give_offset(d):
    a = _square()[None]
    b = _square(left=8 + d)[None]
    np.testing.assert_allclose(hd95(a, b), [d])
    np.testing.assert_allclose(hd95(b, a), [d])  # symmetric
    down = _square(top=8 + d)[None]
    np.testing.assert_allclose(hd95(a, down), [d])


def test_identical_masks_give_zero():
    a = _square()[None]
    np.testing.assert_allclose(hd95(a, a), [0.0])


def test_spacing_scales_distances():
    a = _square()[None]
    b = _square(left=11)[None]  # shifted 3 columns
    np.testing.assert_allclose(hd95(a, b, spacing=(1.0, 0.5)), [1.5])
    np.testing.assert_allclose(hd95(a, b, spacing=2.0), [6.0])
    c = _square(top=11)[None]  # shifted 3 rows
    np.testing.assert_allclose(hd95(a, c, spacing=(0.5, 4.0)), [1.5])
    with pytest.raises(ValueError, match="spacing"):
        hd95(a, b, spacing=(1.0, -1.0))
    with pytest.raises(ValueError, match="spacing"):
        hd95(a, b, spacing=(1.0, 1.0, 1.0))


def test_empty_conventions():
    empty = np.zeros((1, 32, 32), bool)
    a = _square()[None]
    np.testing.assert_allclose(hd95(empty, empty), [0.0])
    assert np.isnan(hd95(a, empty)[0])
    assert np.isnan(hd95(empty, a)[0])
    np.testing.assert_allclose(hd95(a, empty, empty_value=99.0), [99.0])
    np.testing.assert_allclose(hd95(empty, a, empty_value="diagonal"), [math.hypot(32, 32)])
    np.testing.assert_allclose(
        hd95(empty, a, empty_value="diagonal", spacing=(2.0, 1.0)), [math.hypot(64, 32)]
    )
    with pytest.raises(ValueError, match="empty_value"):
        hd95(a, a, empty_value="max")


def test_hd95_mean_skips_undefined_images():
    a = np.stack([_square(), _square(), np.zeros((32, 32), bool)])
    b = np.stack([_square(left=10), np.zeros((32, 32), bool), np.zeros((32, 32), bool)])
    values = hd95(a, b)
    np.testing.assert_allclose(values[[0, 2]], [2.0, 0.0])
    assert np.isnan(values[1])
    assert hd95_mean(a, b) == pytest.approx(1.0)  # mean of 2.0 and 0.0
    assert hd95_mean(a, b, empty_value=10.0) == pytest.approx(4.0)
    assert math.isnan(hd95_mean(a[1:2], b[1:2]))


def test_input_layouts_and_tensors():
    a = _square()[None]
    b = _square(left=12)[None]
    expected = hd95(a, b)
    # [B, H, W, 1] float probabilities, thresholded at 0.5; TF tensors accepted.
    probs = tf.constant(np.where(b, 0.8, 0.1)[..., None].astype("float32"))
    np.testing.assert_allclose(hd95(a.astype("uint8")[..., None], probs), expected)
    # Per-class maps [B, H, W, K]: argmax == class_id (default 1).
    labels_a = a.astype(int) * 2  # class 2
    labels_b = b.astype(int) * 2
    onehot_b = np.eye(3)[labels_b]
    np.testing.assert_allclose(hd95(labels_a, onehot_b, class_id=2), expected)
    np.testing.assert_allclose(hd95(np.eye(3)[labels_a], onehot_b, class_id=2), expected)
    np.testing.assert_allclose(hd95(np.eye(3)[labels_a], onehot_b, class_id=1), [0.0])  # empty


def test_shape_validation():
    with pytest.raises(ValueError, match=r"\(1, 32, 32\).*\(1, 16, 16\)"):
        hd95(np.zeros((1, 32, 32)), np.zeros((1, 16, 16)))
    with pytest.raises(ValueError, match=r"\(32, 32\)"):
        hd95(np.zeros((32, 32)), np.zeros((32, 32)))
    with pytest.raises(ValueError, match="class_id"):
        hd95(np.zeros((1, 8, 8, 3)), np.zeros((1, 8, 8, 3)), class_id=5)
