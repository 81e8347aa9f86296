"""Tests for keras_hsmix.losses.DiceCELoss."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_hsmix.losses import DiceCELoss

RNG = np.random.default_rng(1234)


def _softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _reference(y_true, probs, binary, smooth=1e-5, dice_w=1.0, ce_w=1.0, include_bg=True):
    """Per-sample NumPy reference of DiceCELoss on probabilities, float64."""
    y = y_true.astype(np.float64)
    p = probs.astype(np.float64)
    if binary:
        ce = -(y * np.log(p) + (1 - y) * np.log(1 - p)).mean(axis=(1, 2, 3))
    else:
        ce = -(y * np.log(p)).sum(-1).mean(axis=(1, 2))
        if not include_bg:
            y, p = y[..., 1:], p[..., 1:]
    inter = (p * y).sum(axis=(1, 2))
    den = p.sum(axis=(1, 2)) + y.sum(axis=(1, 2))
    dice = 1 - ((2 * inter + smooth) / (den + smooth)).mean(-1)
    return dice_w * dice + ce_w * ce


def _per_sample(loss: DiceCELoss, y_true, y_pred) -> np.ndarray:
    y_true = tf.convert_to_tensor(y_true, tf.float32)
    y_pred = tf.convert_to_tensor(y_pred, tf.float32)
    return keras.ops.convert_to_numpy(loss.call(y_true, y_pred))


def test_perfect_prediction_is_near_zero_multiclass_and_binary():
    labels = RNG.integers(0, 3, size=(2, 8, 8))
    one_hot = np.eye(3, dtype="float32")[labels]
    assert float(DiceCELoss(from_logits=False)(one_hot, one_hot)) < 1e-4
    # Large logits of the right class, from_logits=True.
    assert float(DiceCELoss(from_logits=True)(labels, 30.0 * (2 * one_hot - 1))) < 1e-4

    mask = RNG.integers(0, 2, size=(2, 8, 8, 1)).astype("float32")
    assert float(DiceCELoss(from_logits=False)(mask, mask)) < 1e-4
    assert float(DiceCELoss(from_logits=True)(mask, 30.0 * (2 * mask - 1))) < 1e-4


def test_known_hand_values_binary():
    # One image with two pixels: p = (0.8, 0.4), y = (1, 0).
    y_true = np.array([1.0, 0.0], "float32").reshape(1, 1, 2, 1)
    y_pred = np.array([0.8, 0.4], "float32").reshape(1, 1, 2, 1)
    ce = -(np.log(0.8) + np.log(0.6)) / 2
    dice = 1 - (2 * 0.8 + 1e-5) / (1.2 + 1.0 + 1e-5)
    got = float(DiceCELoss(from_logits=False)(y_true, y_pred))
    np.testing.assert_allclose(got, ce + dice, rtol=1e-5)
    got_weighted = float(DiceCELoss(from_logits=False, dice_weight=0.5, ce_weight=2.0)(y_true, y_pred))
    np.testing.assert_allclose(got_weighted, 2 * ce + 0.5 * dice, rtol=1e-5)


def test_known_hand_values_multiclass():
    # Two pixels, three classes.
    y_true = np.array([[1, 0, 0], [0, 0, 1]], "float32").reshape(1, 1, 2, 3)
    y_pred = np.array([[0.7, 0.2, 0.1], [0.1, 0.3, 0.6]], "float32").reshape(1, 1, 2, 3)
    ce = -(np.log(0.7) + np.log(0.6)) / 2
    s = 1e-5
    d0 = (2 * 0.7 + s) / (0.8 + 1 + s)
    d1 = (0 + s) / (0.5 + 0 + s)
    d2 = (2 * 0.6 + s) / (0.7 + 1 + s)
    dice = 1 - (d0 + d1 + d2) / 3
    np.testing.assert_allclose(float(DiceCELoss(from_logits=False)(y_true, y_pred)), ce + dice, rtol=1e-5)
    no_bg = 1 - (d1 + d2) / 2
    got = float(DiceCELoss(from_logits=False, include_background=False)(y_true, y_pred))
    np.testing.assert_allclose(got, ce + no_bg, rtol=1e-5)


def test_soft_targets_match_reference():
    logits = RNG.normal(size=(3, 6, 6, 4)).astype("float32")
    soft = _softmax(RNG.normal(size=(3, 6, 6, 4)) * 2).astype("float32")  # soft labels
    got = _per_sample(DiceCELoss(from_logits=True), soft, logits)
    np.testing.assert_allclose(got, _reference(soft, _softmax(logits), binary=False), rtol=1e-4)

    # Binary soft foreground maps (e.g. an HSMix-mixed binary mask).
    logits1 = RNG.normal(size=(3, 6, 6, 1)).astype("float32")
    soft1 = RNG.uniform(size=(3, 6, 6, 1)).astype("float32")
    got1 = _per_sample(DiceCELoss(from_logits=True), soft1, logits1)
    np.testing.assert_allclose(got1, _reference(soft1, _sigmoid(logits1), binary=True), rtol=1e-4)


def test_int_targets_equal_one_hot_targets():
    logits = RNG.normal(size=(2, 5, 5, 3)).astype("float32")
    labels = RNG.integers(0, 3, size=(2, 5, 5))
    one_hot = np.eye(3, dtype="float32")[labels]
    loss = DiceCELoss(from_logits=True)
    ref = float(loss(one_hot, logits))
    np.testing.assert_allclose(float(loss(labels, logits)), ref, rtol=1e-6)
    np.testing.assert_allclose(float(loss(labels[..., None], logits)), ref, rtol=1e-6)
    np.testing.assert_allclose(float(loss(labels.astype("uint8"), logits)), ref, rtol=1e-6)

    # Binary: [B, H, W] 0/1 ints == [B, H, W, 1] floats.
    logits1 = RNG.normal(size=(2, 5, 5, 1)).astype("float32")
    mask = RNG.integers(0, 2, size=(2, 5, 5))
    as_float = mask[..., None].astype("float32")
    from_ints = float(loss(mask, logits1))
    np.testing.assert_allclose(from_ints, float(loss(as_float, logits1)), rtol=1e-6)


@pytest.mark.parametrize("num_channels", [1, 3])
def test_from_logits_equivalence(num_channels):
    logits = RNG.normal(size=(2, 6, 6, num_channels)).astype("float32") * 3
    if num_channels == 1:
        y = RNG.uniform(size=logits.shape).astype("float32")
        probs = _sigmoid(logits)
    else:
        y = _softmax(RNG.normal(size=logits.shape)).astype("float32")
        probs = _softmax(logits)
    a = float(DiceCELoss(from_logits=True)(y, logits))
    b = float(DiceCELoss(from_logits=False)(y, probs.astype("float32")))
    np.testing.assert_allclose(a, b, rtol=1e-4)


def test_binary_multilabel_mode():
    # K independent sigmoid channels with mode="binary".
    logits = RNG.normal(size=(2, 4, 4, 3)).astype("float32")
    y = RNG.integers(0, 2, size=(2, 4, 4, 3)).astype("float32")
    got = _per_sample(DiceCELoss(from_logits=True, mode="binary"), y, logits)
    np.testing.assert_allclose(got, _reference(y, _sigmoid(logits), binary=True), rtol=1e-4)
    # ... which differs from the softmax interpretation.
    assert not np.allclose(got, _per_sample(DiceCELoss(from_logits=True), y, logits))


@pytest.mark.parametrize("num_channels", [1, 3])
def test_gradients_finite_for_extreme_logits(num_channels):
    extreme = RNG.choice([-1e4, 0.0, 1e4], size=(2, 4, 4, num_channels)).astype("float32")
    logits = tf.Variable(extreme)
    if num_channels == 1:
        y = RNG.integers(0, 2, size=(2, 4, 4, 1)).astype("float32")
    else:
        y = np.eye(num_channels, dtype="float32")[RNG.integers(0, num_channels, size=(2, 4, 4))]
    with tf.GradientTape() as tape:
        value = DiceCELoss(from_logits=True)(y, logits)
    grad = tape.gradient(value, logits)
    assert np.isfinite(float(value))
    assert np.all(np.isfinite(grad.numpy()))

    # Probabilities with exact zeros and ones are clipped, not NaN.
    if num_channels == 1:
        hard_probs = 1.0 - y  # every pixel confidently wrong
    else:
        hard_probs = np.roll(y, 1, axis=-1)
    probs = tf.Variable(hard_probs)
    with tf.GradientTape() as tape:
        value = DiceCELoss(from_logits=False)(y, probs)
    assert np.isfinite(float(value))
    assert np.all(np.isfinite(tape.gradient(value, probs).numpy()))


def test_per_sample_output_reduction_and_sample_weight():
    logits = RNG.normal(size=(3, 4, 4, 2)).astype("float32")
    labels = RNG.integers(0, 2, size=(3, 4, 4))
    no_reduction = DiceCELoss(from_logits=True, reduction=None)
    per_sample = keras.ops.convert_to_numpy(no_reduction(labels, logits))
    assert per_sample.shape == (3,)
    mean = float(DiceCELoss(from_logits=True)(labels, logits))
    np.testing.assert_allclose(mean, per_sample.mean(), rtol=1e-6)
    w = np.array([1.0, 0.0, 2.0], "float32")
    weighted = float(DiceCELoss(from_logits=True)(labels, logits, sample_weight=w))
    np.testing.assert_allclose(weighted, (per_sample * w).sum() / 3, rtol=1e-5)


def test_get_config_round_trip():
    loss = DiceCELoss(
        from_logits=True,
        mode="multiclass",
        dice_weight=0.3,
        ce_weight=0.7,
        smooth=1e-3,
        name="dc",
        reduction="sum",
        include_background=False,
    )
    config = loss.get_config()
    clone = DiceCELoss.from_config(config)
    assert clone.get_config() == config
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(loss))
    assert isinstance(restored, DiceCELoss)
    assert restored.get_config() == config
    logits = RNG.normal(size=(2, 4, 4, 3)).astype("float32")
    labels = RNG.integers(0, 3, size=(2, 4, 4))
    expected = float(loss(labels, logits))
    np.testing.assert_allclose(float(restored(labels, logits)), expected, rtol=1e-6)


def test_invalid_arguments_and_shapes():
    with pytest.raises(ValueError, match="mode"):
        DiceCELoss(mode="softmax")
    with pytest.raises(ValueError, match="K > 1"):
        DiceCELoss(mode="multiclass")(np.zeros((1, 4, 4, 1)), np.zeros((1, 4, 4, 1)))
    with pytest.raises(ValueError, match=r"\(1, 4, 4, 2\)"):
        DiceCELoss()(np.zeros((1, 4, 4, 2)), np.zeros((1, 4, 4, 3)))
    with pytest.raises(ValueError, match="dice_weight"):
        DiceCELoss(dice_weight=-1)


def test_smooth_zero_empty_channels_have_zero_dice_loss():
    y = np.zeros((1, 4, 4, 1), "float32")
    loss = DiceCELoss(from_logits=False, smooth=0.0, ce_weight=0.0)
    assert float(loss(y, y)) == pytest.approx(0.0, abs=1e-6)
