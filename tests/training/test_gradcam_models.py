"""The models users bring: keras-hub segmenters, a U-Net on a keras.applications encoder, Sequential and
multi-output models; which Grad-CAM layer is chosen, that the saliency follows the input, HSMixModel.fit,
and the examples of docs/models.md.

All models are built from their constructors with random weights (no download) at tiny sizes.
"""

from __future__ import annotations

import re
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_hsmix import GradCAM, HSMixModel
from keras_hsmix.data import make_pipeline, make_synthetic_dataset

SIZE = 64


@pytest.fixture(scope="module")
def keras_hub():
    return pytest.importorskip("keras_hub", reason="keras-hub is not installed (it is in the test extras)")


def deeplab_v3(keras_hub):
    """DeepLabV3+ on a ResNet (basic blocks, one block per stack): 1/32 (2 x 2) at the ResNet's last stack."""
    encoder = keras_hub.models.ResNetBackbone(
        input_conv_filters=[64],  # keras-hub requires 64 here and as the first stack's width
        input_conv_kernel_sizes=[7],
        stackwise_num_filters=[64, 8, 16, 16],
        stackwise_num_blocks=[1, 1, 1, 1],
        stackwise_num_strides=[1, 2, 2, 2],
        block_type="basic_block",
        image_shape=(SIZE, SIZE, 3),
    )
    backbone = keras_hub.models.DeepLabV3Backbone(
        image_encoder=encoder,
        spatial_pyramid_pooling_key="P5",
        upsampling_size=8,
        dilation_rates=[1, 2],
        low_level_feature_key="P2",
        projection_filters=8,
        image_shape=(SIZE, SIZE, 3),
    )
    return keras_hub.models.DeepLabV3ImageSegmenter(backbone=backbone, num_classes=2), encoder


def segformer(keras_hub):
    """SegFormer on a two-stage MiT: tokens reshaped to 16 x 16 and 8 x 8 maps; the head runs at 1/4."""
    encoder = keras_hub.models.MiTBackbone(
        layerwise_depths=[1, 1],
        num_layers=2,
        layerwise_num_heads=[1, 1],
        layerwise_sr_ratios=[2, 1],
        max_drop_path_rate=0.0,
        layerwise_patch_sizes=[7, 3],
        layerwise_strides=[4, 2],
        hidden_dims=[8, 16],
        image_shape=(SIZE, SIZE, 3),
    )
    backbone = keras_hub.models.SegFormerBackbone(image_encoder=encoder, projection_filters=8)
    return keras_hub.models.SegFormerImageSegmenter(backbone=backbone, num_classes=2), encoder


SKIPS = ["conv1_relu", "conv2_block3_out", "conv3_block4_out", "conv4_block6_out"]


def applications_unet(num_classes: int = 2) -> keras.Model:
    """A U-Net whose encoder is keras.applications' ResNet50 (weights=None), used as a multi-output
    sub-model (skips at 1/2 .. 1/16, bottleneck ``conv5_block3_out`` at 1/32), as in TensorFlow's
    segmentation tutorial. (An untrained MobileNetV2 or EfficientNetB0 is no good here: their
    activations shrink to ~1e-8 by the last block, so any saliency of random weights is flat.)"""
    base = keras.applications.ResNet50(input_shape=(SIZE, SIZE, 3), include_top=False, weights=None)
    names = SKIPS + ["conv5_block3_out"]
    encoder = keras.Model(base.input, [base.get_layer(n).output for n in names], name="encoder")
    inputs = keras.Input((SIZE, SIZE, 3), name="image")
    *skips, x = encoder(inputs)
    for i, skip in enumerate(reversed(skips)):
        x = keras.layers.Conv2DTranspose(8, 3, strides=2, padding="same", activation="relu", name=f"up{i}")(x)
        x = keras.layers.Concatenate(name=f"concat{i}")([x, skip])
    outputs = keras.layers.Conv2DTranspose(num_classes, 3, strides=2, padding="same", name="logits")(x)
    return keras.Model(inputs, outputs, name="resnet50_unet")


def _saliency_follows_the_input(model: keras.Model, cam: GradCAM) -> None:
    """The traced graph computes the model's output; different images give different, non-trivial maps."""
    images = tf.random.uniform((2, SIZE, SIZE, 3), seed=7)
    other = tf.concat([tf.ones((2, SIZE, SIZE // 2, 3)), tf.zeros((2, SIZE, SIZE // 2, 3))], axis=2) * images
    _, output = cam.feature_model(images)
    np.testing.assert_allclose(output.numpy(), model(images).numpy(), atol=1e-5)
    target = tf.one_hot(tf.ones((2, SIZE, SIZE), tf.int32), 2)  # foreground everywhere
    first = tf.function(cam.__call__)(images, target).numpy()  # graph mode, as in train_step
    second = cam(other, target).numpy()
    assert first.shape == (2, SIZE, SIZE) and np.all(np.isfinite(first)) and np.all(np.isfinite(second))
    assert first.max() > 0 and second.max() > 0
    assert np.abs(first - second).max() > 0.05


# ----------------------------------------------------------------------------------------- keras-hub
def test_deeplab_v3_resnet_picks_the_last_resnet_stack(keras_hub):
    keras.utils.set_random_seed(0)
    model, encoder = deeplab_v3(keras_hub)
    cam = GradCAM(model)
    # The ResNet sits in a sub-model ("functional", a pyramid-output view of it) inside the backbone;
    # its last stack at 1/32 is chosen, not the ASPP output at the same resolution one level up,
    # and never "segmentation_output" (the logits).
    parts = cam.layer_path.split("/")
    assert parts[0] == model.backbone.name and parts[-1] == "stack3_block0_out" and len(parts) == 3
    assert cam.layer is encoder.get_layer("stack3_block0_out")
    assert tuple(cam.feature_model.outputs[0].shape[1:3]) == (SIZE // 32, SIZE // 32)
    _saliency_follows_the_input(model, cam)


def test_deeplab_v3_layers_by_path_and_by_object(keras_hub):
    keras.utils.set_random_seed(0)
    model, encoder = deeplab_v3(keras_hub)
    backbone = model.backbone.name  # "deep_lab_v3_backbone", with a suffix when several were built
    by_path = GradCAM(model, f"{backbone}/stack2_block0_out")
    assert by_path.layer is encoder.get_layer("stack2_block0_out")
    by_object = GradCAM(model, encoder.get_layer("stack2_block0_out"))
    assert by_object.layer_path == by_path.layer_path
    aspp = next(layer.name for layer in model.backbone.layers if layer.name.startswith("spatial_pyramid_pooling"))
    assert GradCAM(model, f"{backbone}/{aspp}").layer_path == f"{backbone}/{aspp}"  # a layer of the backbone itself
    with pytest.raises(ValueError, match=f"e.g. '{backbone}/"):
        GradCAM(model, "stack9_block0_out")
    images = tf.random.uniform((2, SIZE, SIZE, 3))
    assert by_object(images).shape == (2, SIZE, SIZE)


def test_segformer_mit_picks_the_last_mit_stage(keras_hub):
    keras.utils.set_random_seed(0)
    model, encoder = segformer(keras_hub)
    cam = GradCAM(model)
    # Not the logits conv at 1/4 nor the decoder's projection of the last stage (same 1/8, one level up).
    parts = cam.layer_path.split("/")
    assert parts[0] == model.backbone.name and parts[-1] == "output_level_1" and len(parts) == 3
    assert cam.layer is encoder.get_layer("output_level_1")
    assert tuple(cam.feature_model.outputs[0].shape[1:3]) == (SIZE // 8, SIZE // 8)
    _saliency_follows_the_input(model, cam)


# ------------------------------------------------------------------------------ keras.applications
def test_applications_unet_picks_the_encoder_bottleneck():
    keras.utils.set_random_seed(0)
    model = applications_unet()
    cam = GradCAM(model)
    assert cam.layer_path == "encoder/conv5_block3_out"
    assert tuple(cam.feature_model.outputs[0].shape[1:3]) == (SIZE // 32, SIZE // 32)
    _saliency_follows_the_input(model, cam)


# --------------------------------------------------------------------------- HSMixModel.fit with them
def _fit_two_steps(model: keras.Model, **kwargs) -> HSMixModel:
    """Two soft-mixing (Grad-CAM) steps of fit, in a tf.function."""
    wrapped = HSMixModel(model, num_classes=2, probabilities=(0, 1, 0), n_segments=16, seed=0, **kwargs)
    wrapped.compile(optimizer=keras.optimizers.Adam(1e-3),
                    loss=keras.losses.CategoricalCrossentropy(from_logits=True))
    data = make_pipeline(make_synthetic_dataset(4, (SIZE, SIZE), num_classes=2, seed=0), batch_size=2,
                         mixer=None, n_segments=16, output="dict", seed=0)
    before = [w.numpy().copy() for w in model.trainable_weights]
    history = wrapped.fit(data, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    assert any(np.any(b != w.numpy()) for b, w in zip(before, model.trainable_weights))
    return wrapped


def test_hsmix_model_trains_a_keras_hub_segmenter_with_its_own_compile_ignored(keras_hub):
    keras.utils.set_random_seed(0)
    model, encoder = deeplab_v3(keras_hub)
    assert model.compiled  # keras-hub tasks compile themselves (Adam 5e-5, sparse cross-entropy)
    wrapped = _fit_two_steps(model, gradcam_layer=encoder.get_layer("stack3_block0_out"))
    assert wrapped.optimizer is not model.optimizer  # HSMixModel's compile is the one that trains
    assert wrapped.gradcam_layer.endswith("/stack3_block0_out")  # a layer object is kept as its path
    assert wrapped.get_config()["gradcam_layer"] == wrapped.gradcam_layer


def test_hsmix_model_trains_a_sequential_model():
    keras.utils.set_random_seed(0)
    model = keras.Sequential([
        keras.Input((SIZE, SIZE, 3)),
        keras.layers.Conv2D(8, 3, padding="same", activation="relu", name="conv1"),
        keras.layers.MaxPooling2D(4, name="pool"),
        keras.layers.Conv2D(8, 3, padding="same", activation="relu", name="deep"),
        keras.layers.UpSampling2D(4, interpolation="bilinear", name="up"),
        keras.layers.Conv2D(2, 1, name="logits"),
    ])
    wrapped = _fit_two_steps(model)
    assert wrapped.gradcam.layer_path == "deep"


def test_hsmix_model_refuses_several_outputs_and_trains_a_one_output_view():
    inputs = keras.Input((SIZE, SIZE, 3))
    x = keras.layers.Conv2D(8, 3, strides=2, padding="same", activation="relu", name="down")(inputs)
    main = keras.layers.UpSampling2D(2, name="up")(keras.layers.Conv2D(2, 1, name="main_logits")(x))
    aux = keras.layers.UpSampling2D(2, name="aux_up")(keras.layers.Conv2D(2, 1, name="aux_logits")(x))
    model = keras.Model(inputs, [main, aux], name="deep_supervision")
    with pytest.raises(ValueError, match=r"'deep_supervision' has 2 outputs .*keras.Model\(model.inputs, "
                                         r"model.outputs\[0\]\)"):
        HSMixModel(model, num_classes=2)
    keras.utils.set_random_seed(0)
    view = keras.Model(model.inputs, model.outputs[0])  # shares the layers: trains `model`'s main branch
    wrapped = _fit_two_steps(view)
    assert wrapped.gradcam.layer_path == "down"


# ------------------------------------------------------------------------------------ docs/models.md
DOC = Path(__file__).resolve().parents[2] / "docs" / "models.md"
# Tracing fit's step for a ResNet50 costs minutes on 2 busy cores; the examples' steps run eagerly here
# (fit in a tf.function is tested above with a keras-hub model), and one step of the ResNet50 example (an eager
# Adam step on its 24M weights takes seconds) instead of two.
EAGER = {"model.compile(": "model.compile(run_eagerly=True, ",
         "make_pipeline(make_synthetic_dataset(4, (size, size)), batch_size=2,":
             "make_pipeline(make_synthetic_dataset(2, (size, size)), batch_size=2,"}


def _doc_blocks() -> list[str]:
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(encoding="utf-8"), flags=re.S)
    assert len(blocks) >= 4, "docs/models.md lost its examples"
    return blocks


@pytest.mark.parametrize("index", range(len(_doc_blocks())))
def test_models_doc_examples_run_and_print_what_they_say(index, capsys):
    block = _doc_blocks()[index]
    if "import keras_hub" in block:
        pytest.importorskip("keras_hub", reason="keras-hub is not installed (it is in the test extras)")
    for old, new in EAGER.items():
        block = block.replace(old, new)
    if "keras.applications.ResNet50" in block:
        assert "make_synthetic_dataset(2, (size, size))" in block, "the one-step replacement no longer applies"
    keras.utils.set_random_seed(0)
    exec(compile(block, str(DOC), "exec"), {})  # noqa: S102 - our own documentation
    printed = capsys.readouterr().out.split()
    promised = re.findall(r"print\(GradCAM\(\w+\)\.layer_path\)\s+# ([\w/]+)", block)
    assert len(printed) == len(promised)
    for path, expected in zip(printed, promised):
        # keras numbers repeated automatic names ("functional_3") when a process builds several models
        assert re.fullmatch("/".join(rf"{re.escape(p)}(_\d+)?" for p in expected.split("/")), path), path
