"""Tests for keras_hsmix.models (U-Net and DeepLabV3+)."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from keras_hsmix.models.deeplab import deeplab_v3_plus
from keras_hsmix.models.unet import unet
from keras_hsmix.losses import DiceCELoss
from keras_hsmix.metrics import Dice

RNG = np.random.default_rng(3)

# TF variables' __array__ predates NumPy 2's copy keyword; noise from Keras internals.
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")


@pytest.mark.parametrize("num_classes", [1, 3])
def test_unet_output_shape_and_bottleneck(num_classes):
    model = unet((32, 32, 3), num_classes=num_classes, base_filters=4, depth=2)
    assert tuple(model.output.shape) == (None, 32, 32, num_classes)
    bottleneck = model.get_layer("bottleneck_conv2")
    assert isinstance(bottleneck, keras.layers.Conv2D)
    assert tuple(bottleneck.output.shape) == (None, 8, 8, 16)
    # It is the lowest-resolution conv feature map of the network.
    conv_sizes = [
        layer.output.shape[1]
        for layer in model.layers
        if isinstance(layer, keras.layers.Conv2D)
        and not isinstance(layer, keras.layers.Conv2DTranspose)
    ]
    assert min(conv_sizes) == 8
    out = model(RNG.normal(size=(2, 32, 32, 3)).astype("float32"))
    assert tuple(out.shape) == (2, 32, 32, num_classes)


def test_unet_final_activation_and_validation():
    model = unet((32, 32, 1), num_classes=3, base_filters=2, depth=1, final_activation="softmax")
    out = keras.ops.convert_to_numpy(model(np.ones((1, 32, 32, 1), "float32")))
    np.testing.assert_allclose(out.sum(-1), 1.0, rtol=1e-5)
    with pytest.raises(ValueError, match="divisible by 2\\*\\*depth = 4"):
        unet((30, 32, 3), depth=2)
    with pytest.raises(ValueError, match="width 20"):
        unet((32, 20, 3), depth=3)
    with pytest.raises(ValueError, match="num_classes"):
        unet((32, 32, 3), num_classes=0)
    # Unknown spatial size is allowed (checked by the caller's data).
    dynamic = unet((None, None, 3), num_classes=2, base_filters=2, depth=2)
    assert tuple(dynamic(np.zeros((1, 16, 24, 3), "float32")).shape) == (1, 16, 24, 2)


@pytest.mark.parametrize("num_classes", [1, 3])
def test_deeplab_output_shape(num_classes):
    model = deeplab_v3_plus((32, 32, 3), num_classes=num_classes, base_filters=4)
    assert tuple(model.output.shape) == (None, 32, 32, num_classes)
    assert tuple(model.get_layer("aspp_projection").output.shape)[1:3] == (2, 2)
    assert tuple(model.get_layer("block1_conv2").output.shape)[1:3] == (8, 8)
    with pytest.raises(ValueError, match="output stride 16"):
        deeplab_v3_plus((40, 32, 3), num_classes=2)
    with pytest.raises(ValueError, match="output stride 16"):
        deeplab_v3_plus((None, 32, 3), num_classes=2)


@pytest.mark.parametrize(
    ("builder", "num_classes"),
    [
        (lambda: unet((32, 32, 3), num_classes=1, base_filters=4, depth=2), 1),
        (lambda: deeplab_v3_plus((32, 32, 3), num_classes=3, base_filters=4), 3),
    ],
    ids=["unet-binary", "deeplab-3class"],
)
@pytest.mark.eager
def test_fit_one_step_and_keras_round_trip(builder, num_classes, tmp_path):
    keras.utils.set_random_seed(0)
    model = builder()
    model.compile(
        optimizer="sgd",
        loss=DiceCELoss(from_logits=True),
        metrics=[Dice(num_classes=num_classes, from_logits=True)],
    )
    x = RNG.normal(size=(4, 32, 32, 3)).astype("float32")
    labels = RNG.integers(0, max(num_classes, 2), size=(4, 32, 32))
    if num_classes == 1:
        y = labels[..., None].astype("float32")
    else:
        y = np.eye(num_classes, dtype="float32")[labels]
    weights_before = [w.numpy().copy() for w in model.trainable_weights]
    history = model.fit(x, y, batch_size=4, epochs=1, verbose=0)  # one step
    assert np.isfinite(history.history["loss"][0])
    assert 0.0 <= history.history["dice"][0] <= 1.0
    assert any(
        not np.allclose(a, b.numpy())
        for a, b in zip(weights_before, model.trainable_weights)
    )

    before = keras.ops.convert_to_numpy(model(x, training=False))
    path = tmp_path / "model.keras"
    model.save(path)
    restored = keras.saving.load_model(path)  # custom loss / metric are registered
    after = keras.ops.convert_to_numpy(restored(x, training=False))
    np.testing.assert_allclose(after, before, rtol=1e-5, atol=1e-5)
    assert isinstance(restored.loss, DiceCELoss)


@pytest.fixture
def mixed_float16():
    keras.mixed_precision.set_global_policy("mixed_float16")
    yield
    keras.mixed_precision.set_global_policy("float32")


@pytest.mark.parametrize("final_activation", [None, "softmax"])
@pytest.mark.parametrize("builder", [unet, deeplab_v3_plus], ids=["unet", "deeplab"])
def test_output_is_float32_under_mixed_precision(builder, final_activation, mixed_float16):
    model = builder((32, 32, 3), num_classes=2, base_filters=4, final_activation=final_activation)
    assert model.get_layer("enc0_conv1" if builder is unet else "stem_conv1").compute_dtype == "float16"
    assert model.output.dtype == "float32"
    out = model(np.ones((1, 32, 32, 3), "float32"))
    assert keras.backend.standardize_dtype(out.dtype) == "float32"


def test_output_follows_the_global_policy_without_mixed_precision():
    assert unet((32, 32, 3), base_filters=2, depth=1).output.dtype == "float32"
    keras.mixed_precision.set_global_policy("float64")
    try:
        assert unet((32, 32, 3), base_filters=2, depth=1).output.dtype == "float64"
    finally:
        keras.mixed_precision.set_global_policy("float32")
