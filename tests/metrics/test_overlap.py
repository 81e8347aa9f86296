"""Tests for keras_hsmix.metrics.overlap (Dice / Jaccard)."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_hsmix.losses import DiceCELoss
from keras_hsmix.metrics import Dice, Jaccard

RNG = np.random.default_rng(7)


def _binary_batch():
    """Three 4x4 images with hand-countable overlaps.

    image 0: true fg 4 px, pred fg 3 px, overlap 2 -> TP 2, FP 1, FN 2
    image 1: both empty                            -> per-image score 1.0
    image 2: true fg 1 px, pred empty              -> TP 0, FP 0, FN 1
    """
    y_true = np.zeros((3, 4, 4), "float32")
    y_pred = np.zeros((3, 4, 4, 1), "float32")
    y_true[0, 0, 0:4] = 1
    y_pred[0, 0, 2:4, 0] = 0.9
    y_pred[0, 1, 0, 0] = 0.6
    y_pred[0, 2, 2, 0] = 0.4  # below threshold
    y_true[2, 3, 3] = 1
    y_pred[2, 3, 3, 0] = 0.49
    return y_true, y_pred


def _result(metric, y_true, y_pred, sample_weight=None):
    metric.update_state(y_true, y_pred, sample_weight=sample_weight)
    return float(metric.result())


def test_binary_hand_values_per_image_and_micro():
    y_true, y_pred = _binary_batch()
    assert _result(Dice(), y_true, y_pred) == pytest.approx((4 / 7 + 1 + 0) / 3, abs=1e-6)
    assert _result(Jaccard(), y_true, y_pred) == pytest.approx((2 / 5 + 1 + 0) / 3, abs=1e-6)
    # micro: TP 2, FP 1, FN 3 over all pixels.
    assert _result(Dice(average="micro"), y_true, y_pred) == pytest.approx(4 / 8, abs=1e-6)
    assert _result(Jaccard(average="micro"), y_true, y_pred) == pytest.approx(2 / 6, abs=1e-6)
    # For one class, macro == micro.
    macro = Dice(num_classes=1, average="macro")
    assert _result(macro, y_true, y_pred) == pytest.approx(0.5, abs=1e-6)


def test_threshold_and_from_logits():
    y_true, y_pred = _binary_batch()
    # threshold 0.35 also catches the 0.4 and 0.49 pixels.
    # image 0: TP 2, FP 2, FN 2 -> 4/8; image 1: 1.0; image 2: TP 1 -> 1.0
    assert _result(Dice(threshold=0.35), y_true, y_pred) == pytest.approx((0.5 + 1 + 1) / 3)
    logits = np.log(y_pred + 1e-7) - np.log(1 - y_pred + 1e-7)
    expected = _result(Dice(), y_true, y_pred)
    assert _result(Dice(from_logits=True), y_true, logits) == pytest.approx(expected, abs=1e-6)


def test_multiclass_hand_values_and_averages():
    # One 2x3 image, K=3. Rows: true [[0,1,1],[2,2,0]], pred [[0,1,2],[2,1,0]].
    true = np.array([[[0, 1, 1], [2, 2, 0]]])
    pred = np.eye(3, dtype="float32")[np.array([[[0, 1, 2], [2, 1, 0]]])]
    # class 1: TP 1, FP 1, FN 1 -> DSC 2/4, JAC 1/3; class 2: same counts.
    assert _result(Dice(), true, pred) == pytest.approx(0.5)
    assert _result(Jaccard(), true, pred) == pytest.approx(1 / 3)
    assert _result(Dice(class_ids=[0]), true, pred) == pytest.approx(1.0)
    assert _result(Dice(class_ids=[0, 1, 2], average="micro"), true, pred) == pytest.approx(
        2 * 4 / (2 * 4 + 2 + 2)
    )
    # Second image: class 1 everywhere in truth and prediction, class 2 absent.
    true2 = np.ones((1, 2, 3), "int32")
    pred2 = np.eye(3, dtype="float32")[true2]
    both_true = np.concatenate([true, true2])
    both_pred = np.concatenate([pred, pred2])
    # per_image: image 0 -> 0.5, image 1 -> mean(1.0, empty-empty 1.0) = 1.0
    assert _result(Dice(), both_true, both_pred) == pytest.approx(0.75)
    # micro over classes 1 and 2: TP 1+1+6 = 8, FP 2, FN 2 -> 16 / 20
    assert _result(Dice(average="micro"), both_true, both_pred) == pytest.approx(0.8)
    # macro: class 1: TP 7, FP 1, FN 1 -> 14/16; class 2: TP 1, FP 1, FN 1 -> 2/4
    macro = Dice(num_classes=3, average="macro")
    assert _result(macro, both_true, both_pred) == pytest.approx((14 / 16 + 0.5) / 2)


@pytest.mark.parametrize("average", ["per_image", "micro"])
def test_per_image_scores_hand_values_mean_to_the_per_image_result_and_leave_state(average):
    y_true, y_pred = _binary_batch()
    for cls, first in ((Dice, 2 * 2 / (2 * 2 + 1 + 2)), (Jaccard, 2 / (2 + 1 + 2))):
        metric = cls(average=average)
        before = [np.asarray(v).copy() for v in metric.variables]
        scores = np.asarray(metric.per_image_scores(y_true, y_pred))
        np.testing.assert_allclose(scores, [first, 1.0, 0.0], rtol=1e-6)
        for old, new in zip(before, metric.variables):  # no state touched
            np.testing.assert_array_equal(old, np.asarray(new))
        assert _result(cls(), y_true, y_pred) == pytest.approx(scores.mean())
    true = np.array([[[0, 1, 1], [2, 2, 0]]])
    pred = np.eye(3, dtype="float32")[np.array([[[0, 1, 2], [2, 1, 0]]])]
    np.testing.assert_allclose(np.asarray(Dice().per_image_scores(true, pred)), [0.5])
    with pytest.raises(ValueError, match="cannot match targets"):
        Dice().per_image_scores(np.zeros((1, 2, 3, 2)), pred)


def test_accumulation_over_batches_and_reset():
    y_true = RNG.integers(0, 3, size=(6, 8, 8))
    logits = RNG.normal(size=(6, 8, 8, 3)).astype("float32")
    for average in ("per_image", "micro", "macro"):
        whole = Dice(num_classes=3, average=average)
        whole.update_state(y_true, logits)
        parts = Dice(num_classes=3, average=average)
        parts.update_state(y_true[:2], logits[:2])
        parts.update_state(y_true[2:], logits[2:])
        assert float(parts.result()) == pytest.approx(float(whole.result()), abs=1e-6)
        parts.reset_state()
        assert all(np.all(v.numpy() == 0) for v in parts.variables)
        parts.update_state(y_true[:1], logits[:1])
        single = Dice(num_classes=3, average=average)
        single.update_state(y_true[:1], logits[:1])
        assert float(parts.result()) == pytest.approx(float(single.result()), abs=1e-6)
    assert float(Dice().result()) == 0.0  # no image seen yet


def test_soft_targets_and_target_layouts():
    labels = RNG.integers(0, 3, size=(4, 8, 8))
    logits = RNG.normal(size=(4, 8, 8, 3)).astype("float32")
    one_hot = np.eye(3, dtype="float32")[labels]
    soft = 0.6 * one_hot + 0.4 * np.roll(one_hot, 1, axis=-1) * 0.5 + 0.1  # argmax == labels
    assert np.array_equal(soft.argmax(-1), labels)
    ref = _result(Dice(), labels, logits)
    assert _result(Dice(), one_hot, logits) == pytest.approx(ref)
    assert _result(Dice(), soft, logits) == pytest.approx(ref)
    assert _result(Dice(), labels[..., None], logits) == pytest.approx(ref)
    assert _result(Dice(), labels.astype("float32"), logits) == pytest.approx(ref)

    # Binary soft targets: foreground where >= 0.5.
    y_true, y_pred = _binary_batch()
    soft_true = np.where(y_true > 0, 0.7, 0.2)[..., None].astype("float32")
    assert _result(Dice(), soft_true, y_pred) == pytest.approx(_result(Dice(), y_true, y_pred))


def test_sample_weight():
    y_true, y_pred = _binary_batch()
    # Per-image weights: weighted mean of per-image scores (4/7, 1, 0).
    w = np.array([2.0, 0.0, 1.0], "float32")
    assert _result(Dice(), y_true, y_pred, w) == pytest.approx((2 * 4 / 7 + 0) / 3, abs=1e-6)
    # micro: counts weighted: TP 4, FP 2, FN 4 + 1.
    assert _result(Dice(average="micro"), y_true, y_pred, w) == pytest.approx(8 / 15, abs=1e-6)
    # Pixel mask hiding the false negative in image 2: that image becomes empty-empty.
    pix = np.ones((3, 4, 4), "float32")
    pix[2, 3, 3] = 0.0
    assert _result(Dice(), y_true, y_pred, pix) == pytest.approx((4 / 7 + 1 + 1) / 3, abs=1e-6)


def test_config_round_trip_and_validation():
    metric = Jaccard(num_classes=4, class_ids=[1, 3], average="macro", threshold=0.3, name="jac")
    config = metric.get_config()
    clone = Jaccard.from_config(config)
    assert clone.get_config() == config
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(metric))
    assert isinstance(restored, Jaccard) and restored.get_config() == config
    with pytest.raises(ValueError, match="average"):
        Dice(average="weighted")
    with pytest.raises(ValueError, match="macro"):
        Dice(average="macro")
    with pytest.raises(ValueError, match="num_classes=2"):
        Dice(num_classes=2).update_state(np.zeros((1, 4, 4)), np.zeros((1, 4, 4, 3)))
    with pytest.raises(ValueError, match="out of range"):
        Dice(num_classes=3, class_ids=[3])


def _tiny_model(num_classes: int) -> keras.Model:
    inputs = keras.Input((16, 16, 3))
    x = keras.layers.Conv2D(4, 3, padding="same", activation="relu")(inputs)
    outputs = keras.layers.Conv2D(num_classes, 1)(x)
    return keras.Model(inputs, outputs)


def _soft_data(n: int = 8, num_classes: int = 3):
    x = RNG.normal(size=(n, 16, 16, 3)).astype("float32")
    labels = RNG.integers(0, num_classes, size=(n, 16, 16))
    one_hot = np.eye(num_classes, dtype="float32")[labels]
    lam = RNG.uniform(0.55, 1.0, size=(n, 16, 16, 1)).astype("float32")
    soft = lam * one_hot + (1 - lam) * np.roll(one_hot, 1, axis=0)  # HSMix-like soft labels
    return x, soft


def test_compile_fit_logs_match_eager_computation():
    keras.utils.set_random_seed(0)
    model = _tiny_model(3)
    metrics = [
        Dice(),
        Jaccard(average="micro"),
        Dice(num_classes=3, average="macro", name="dice_macro"),
    ]
    # learning_rate=0 keeps the weights fixed, so the epoch's metric values can be
    # recomputed eagerly from the model's predictions.
    model.compile(
        optimizer=keras.optimizers.SGD(learning_rate=0.0),
        loss=DiceCELoss(from_logits=True),
        metrics=metrics,
    )
    x, soft = _soft_data()
    history = model.fit(x, soft, batch_size=3, epochs=1, verbose=0, shuffle=False)
    logs = {k: v[0] for k, v in history.history.items()}
    assert set(logs) == {"loss", "dice", "jaccard", "dice_macro"}
    preds = model(x, training=False)
    expected = {
        "dice": Dice(),
        "jaccard": Jaccard(average="micro"),
        "dice_macro": Dice(num_classes=3, average="macro"),
    }
    for key, metric in expected.items():
        metric.update_state(soft, preds)
        assert logs[key] == pytest.approx(float(metric.result()), abs=1e-5)
    assert np.isfinite(logs["loss"])


def test_fit_under_distribution_strategy_binary():
    strategy = tf.distribute.MirroredStrategy(["/cpu:0"])
    with strategy.scope():
        model = _tiny_model(1)
        model.compile(
            optimizer="sgd",
            loss=DiceCELoss(from_logits=True),
            metrics=[Dice(from_logits=True), Jaccard(from_logits=True, average="micro")],
        )
    x = RNG.normal(size=(4, 16, 16, 3)).astype("float32")
    y = RNG.uniform(size=(4, 16, 16, 1)).astype("float32")
    history = model.fit(x, y, batch_size=2, epochs=1, verbose=0)
    assert 0.0 <= history.history["dice"][0] <= 1.0
    assert 0.0 <= history.history["jaccard"][0] <= 1.0




def test_update_state_compiles_with_xla():
    # Keras compiles train/eval steps with XLA on GPU by default (loss included here).
    labels = RNG.integers(0, 3, size=(2, 8, 8))
    soft = np.eye(3, dtype="float32")[labels] * 0.8 + 0.2 / 3
    logits = RNG.normal(size=(2, 8, 8, 3)).astype("float32")

    def make():
        averages = ("per_image", "micro", "macro")
        return [cls(num_classes=3, average=a) for cls in (Dice, Jaccard) for a in averages]

    eager, compiled = make(), make()
    for metric in eager:
        metric.update_state(labels, logits)

    loss_fn = DiceCELoss(from_logits=True)

    @tf.function(jit_compile=True)
    def step(y, p):
        for metric in compiled:
            metric.update_state(y, p)
        return loss_fn(y, p), [metric.result() for metric in compiled]

    loss_value, values = step(tf.constant(soft), tf.constant(logits))
    for value, metric in zip(values, eager):
        assert float(value) == pytest.approx(float(metric.result()), abs=1e-6)
    assert float(loss_value) == pytest.approx(float(loss_fn(soft, logits)), rel=1e-5)
