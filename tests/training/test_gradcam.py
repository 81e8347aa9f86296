"""Grad-CAM: shapes, normalisation, per-sample weights, layer choice, graph mode."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_hsmix import GradCAM, HSMixModel, grad_cam
from keras_hsmix.models import deeplab_v3_plus, unet
from keras_hsmix.training.gradcam import _CACHE, find_feature_layer


@pytest.fixture(scope="module")
def small_unet():
    keras.utils.set_random_seed(0)
    return unet((32, 32, 3), num_classes=2, base_filters=4, depth=2)


def test_shape_range_and_no_gradient(small_unet):
    images = tf.random.uniform((3, 32, 32, 3), seed=1)
    cam = grad_cam(small_unet, images)
    assert cam.shape == (3, 32, 32) and cam.dtype == tf.float32
    values = cam.numpy()
    assert values.min() >= 0 and values.max() <= 1 + 1e-6
    with tf.GradientTape() as tape:
        tape.watch(images)
        out = grad_cam(small_unet, images)
    assert tape.gradient(out, images) is None


def test_default_layer_is_the_bottleneck(small_unet):
    layer = find_feature_layer(small_unet)
    assert "bottleneck" in layer.name
    assert layer.output.shape[1:3] == (8, 8)


def test_per_sample_not_batch_averaged(small_unet):
    images = tf.random.uniform((4, 32, 32, 3), seed=2)
    masks = tf.one_hot(tf.cast(tf.random.uniform((4, 32, 32), seed=3) > 0.5, tf.int32), 2)
    batch = grad_cam(small_unet, images, masks).numpy()
    for i in range(4):
        alone = grad_cam(small_unet, images[i : i + 1], masks[i : i + 1]).numpy()[0]
        np.testing.assert_allclose(batch[i], alone, atol=1e-4)


def test_all_zero_map_gives_zeros_not_nan():
    inputs = keras.Input((16, 16, 3))
    x = keras.layers.Conv2D(4, 3, padding="same", kernel_initializer="zeros", name="conv")(inputs)
    outputs = keras.layers.Conv2D(2, 1, kernel_initializer="zeros")(x)
    with pytest.warns(UserWarning, match="has the output's resolution"):  # no bottleneck in this model
        cam = grad_cam(keras.Model(inputs, outputs), tf.random.uniform((2, 16, 16, 3))).numpy()
    assert np.all(np.isfinite(cam)) and np.all(cam == 0)


def test_target_region_moves_the_map():
    """A model whose output copies the input's first channel: the map follows the target region."""
    inputs = keras.Input((16, 16, 1))
    feat = keras.layers.Conv2D(1, 1, use_bias=False, kernel_initializer="ones", name="feat")(inputs)
    outputs = keras.layers.Conv2D(1, 1, use_bias=False, kernel_initializer="ones")(feat)
    model = keras.Model(inputs, outputs)
    images = tf.ones((1, 16, 16, 1))
    # Weights are spatial means of gradients, so a uniform feature map is highlighted uniformly;
    # with a zero target there is no gradient and the map is zero.
    zero = grad_cam(model, images, tf.zeros((1, 16, 16, 1)), layer="feat").numpy()
    assert np.all(zero == 0)
    some = grad_cam(model, images * tf.reshape(tf.range(16, dtype=tf.float32), (1, 16, 1, 1)),
                    tf.ones((1, 16, 16, 1)), layer="feat").numpy()
    assert some[0, 15, 0] > some[0, 1, 0]


def test_sequential_model_and_named_layer():
    model = keras.Sequential(
        [
            keras.Input((16, 16, 3)),
            keras.layers.Conv2D(4, 3, padding="same", activation="relu", name="c1"),
            keras.layers.MaxPooling2D(),
            keras.layers.Conv2D(4, 3, padding="same", activation="relu", name="c2"),
            keras.layers.UpSampling2D(),
            keras.layers.Conv2D(2, 1, name="head"),
        ]
    )
    assert find_feature_layer(model).name == "c2"
    assert grad_cam(model, tf.random.uniform((2, 16, 16, 3)), layer="c1").shape == (2, 16, 16)
    with pytest.raises(ValueError, match="not a layer"):
        GradCAM(model, layer="nope")


def test_deeplab_family_works():
    model = deeplab_v3_plus((32, 32, 3), num_classes=3, base_filters=4)
    assert grad_cam(model, tf.random.uniform((2, 32, 32, 3))).shape == (2, 32, 32)


def test_submodel_built_once_and_graph_mode(small_unet):
    grad_cam(small_unet, tf.zeros((1, 32, 32, 3)))
    cached = dict(_CACHE[small_unet])
    grad_cam(small_unet, tf.zeros((1, 32, 32, 3)))
    assert all(_CACHE[small_unet][k] is v for k, v in cached.items())

    cam = GradCAM(small_unet)
    traced = tf.function(lambda x: cam(x))
    out = traced(tf.random.uniform((2, 32, 32, 3)))
    assert out.shape == (2, 32, 32)


def test_binary_single_channel_output():
    model = unet((32, 32, 3), num_classes=1, base_filters=4, depth=2)
    assert grad_cam(model, tf.random.uniform((2, 32, 32, 3))).shape == (2, 32, 32)


def test_models_without_symbolic_inputs_are_refused_with_the_remedy():
    class Net(keras.Model):  # a subclassed model: no intermediate outputs to read
        def __init__(self):
            super().__init__()
            self.conv = keras.layers.Conv2D(2, 1)

        def call(self, x):
            return self.conv(x)

    subclassed = Net()
    subclassed(np.zeros((1, 8, 8, 3), "float32"))
    unbuilt = keras.Sequential([keras.layers.Conv2D(4, 3), keras.layers.Conv2D(2, 1)])
    for model in (subclassed, unbuilt):
        with pytest.raises(ValueError, match="needs a functional or Sequential model with a known input"):
            GradCAM(model)
        with pytest.raises(ValueError, match="saliency='static'"):
            HSMixModel(model, num_classes=2)
    HSMixModel(subclassed, num_classes=2, saliency="static")  # static saliency needs no feature map


def _nested_model():
    """A task model around a backbone sub-model (with a Sequential stage inside), a squeeze-excite
    block at 1 x 1, and a head at the backbone's resolution followed by resizing."""
    image = keras.Input((32, 32, 3))
    x = keras.layers.Conv2D(4, 3, strides=2, padding="same", activation="relu", name="stem")(image)
    x = keras.Sequential(
        [keras.layers.Conv2D(8, 3, strides=2, padding="same", activation="relu", name="down"),
         keras.layers.Conv2D(8, 3, padding="same", activation="relu", name="deep")], name="stage")(x)
    squeeze = keras.layers.GlobalAveragePooling2D(keepdims=True, name="squeeze")(x)
    squeeze = keras.layers.Conv2D(8, 1, activation="sigmoid", name="excite")(squeeze)
    x = keras.layers.Multiply(name="scale")([x, squeeze])
    backbone = keras.Model(image, x, name="backbone")
    inputs = keras.Input((32, 32, 3))
    features = backbone(inputs)
    features = keras.layers.Conv2D(8, 3, padding="same", activation="relu", name="neck")(features)
    logits = keras.layers.Conv2D(2, 1, name="logits")(features)
    outputs = keras.layers.Resizing(32, 32, name="resize")(logits)
    return keras.Model(inputs, outputs, name="task"), backbone


def test_search_descends_into_sub_models_and_skips_one_by_one_maps_and_the_head():
    model, _ = _nested_model()
    cam = GradCAM(model)
    # lowest resolution 8 x 8: backbone/stage/deep and backbone/scale at depth 2 and 1, neck and logits
    # at depth 0; the deepest nesting wins; the 1 x 1 squeeze-excite maps never do.
    assert cam.layer_path == "backbone/stage/deep"
    assert find_feature_layer(model).name == "deep"
    assert cam.feature_model.outputs[0].shape[1:] == (8, 8, 8)
    images = tf.random.uniform((2, 32, 32, 3), seed=4)
    np.testing.assert_allclose(cam.feature_model(images)[1].numpy(), model(images).numpy(), atol=1e-6)


def test_layers_inside_sub_models_by_path_name_or_object():
    model, backbone = _nested_model()
    for layer in ("backbone/stage/down", "backbone/down", "task/backbone/stage/down", "down",
                  backbone.get_layer("stage").get_layer("down")):
        assert GradCAM(model, layer).layer_path == "backbone/stage/down"
    assert GradCAM(model, "backbone").layer_path == "backbone"  # a whole sub-model, as before
    assert GradCAM(model, backbone).layer_path == "backbone"
    cam = GradCAM(model, "backbone/scale")
    assert cam(tf.random.uniform((2, 32, 32, 3))).shape == (2, 32, 32)
    with pytest.raises(ValueError, match="is not a layer of model 'task' nor of its sub-models"):
        GradCAM(model, "backbone/nope")
    with pytest.raises(ValueError, match="is not a layer of model"):
        GradCAM(model, keras.layers.Conv2D(2, 1))


def test_a_shared_layer_is_ambiguous():
    inputs = keras.Input((16, 16, 3))
    conv = keras.layers.Conv2D(3, 3, padding="same", name="shared")
    x = keras.layers.MaxPooling2D()(conv(conv(inputs)))
    outputs = keras.layers.Conv2D(2, 1)(keras.layers.UpSampling2D()(x))
    model = keras.Model(inputs, outputs)
    with pytest.raises(ValueError, match="matches several layer calls"):
        GradCAM(model, "shared")


def test_nested_model_in_graph_mode():
    model, _ = _nested_model()
    cam = GradCAM(model)
    out = tf.function(lambda x: cam(x))(tf.random.uniform((2, 32, 32, 3)))
    assert out.shape == (2, 32, 32) and np.all(np.isfinite(out.numpy()))
