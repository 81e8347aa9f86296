"""The serving contract of docs/serving.md, checked through what a client loads: ``tf.saved_model.load(path)
.signatures[...]``, TFLite's signature runner and (when the ``[onnx]`` extra is installed) ONNX Runtime."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_hsmix import HSMixModel
from keras_hsmix.models import unet
from keras_hsmix.training.serving import export_for_serving

SIZE = 32


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    keras.utils.set_random_seed(0)
    model = unet((SIZE, SIZE, 3), num_classes=2, base_filters=4, depth=1)
    path = tmp_path_factory.mktemp("serving") / "saved_model"
    contract = export_for_serving(HSMixModel(model, num_classes=2, seed=0), path)
    images = np.random.default_rng(0).random((2, SIZE, SIZE, 3)).astype("float32")
    return model, path, contract, images


def _signature(path, name="serving_default"):
    return tf.saved_model.load(str(path)).signatures[name]


def test_signature_names_dtypes_and_shapes(exported):
    _, path, contract, _ = exported
    serving = _signature(path)
    inputs = serving.structured_input_signature[1]
    assert list(inputs) == ["image"] and inputs["image"].dtype == tf.float32
    outputs = serving.structured_outputs
    assert {name: (spec.dtype, spec.shape.as_list()) for name, spec in outputs.items()} == {
        "probabilities": (tf.float32, [None, SIZE, SIZE, 2]),
        "class_ids": (tf.int32, [None, SIZE, SIZE]),
        "logits": (tf.float32, [None, SIZE, SIZE, 2]),
    }
    assert _signature(path, "serving_uint8").structured_input_signature[1]["image"].dtype == tf.uint8
    written = json.loads((path / "serving.json").read_text())
    assert written == contract
    assert written["signatures"]["serving_default"]["inputs"]["image"] == {
        "dtype": "float32", "shape": [-1, SIZE, SIZE, 3], "range": [0.0, 1.0]}


def test_outputs_are_what_a_client_uses_directly(exported):
    model, path, _, images = exported
    out = _signature(path)(image=tf.constant(images))
    logits = model(images, training=False).numpy()
    np.testing.assert_allclose(out["logits"].numpy(), logits, atol=1e-5)
    np.testing.assert_allclose(out["probabilities"].numpy(), tf.nn.softmax(logits).numpy(), atol=1e-6)
    np.testing.assert_allclose(out["probabilities"].numpy().sum(-1), 1.0, atol=1e-6)
    np.testing.assert_array_equal(out["class_ids"].numpy(), logits.argmax(-1))


def test_uint8_signature_divides_by_255(exported):
    _, path, _, images = exported
    pixels = np.round(images * 255).astype("uint8")
    from_uint8 = _signature(path, "serving_uint8")(image=tf.constant(pixels))
    from_float = _signature(path)(image=tf.constant(pixels.astype("float32") / 255))
    for name in ("probabilities", "logits"):
        np.testing.assert_allclose(from_uint8[name].numpy(), from_float[name].numpy(), atol=1e-5)


@pytest.mark.parametrize(
    ("image", "message"),
    [
        (tf.zeros([1, 2 * SIZE, 2 * SIZE, 3]), rf"must be float32 of shape \[batch, {SIZE}, {SIZE}, 3\]"),
        (tf.zeros([1, SIZE, SIZE, 1]), rf"must be float32 of shape \[batch, {SIZE}, {SIZE}, 3\]"),
        (tf.zeros([1, SIZE, SIZE, 3], tf.uint8), "expected to be a float tensor but is a uint8 tensor"),
        (tf.fill([1, SIZE, SIZE, 3], 255.0), r"must hold values in \[0.0, 1.0\].*serving_uint8"),
    ],
    ids=["size", "channels", "dtype", "range"],
)
def test_wrong_input_names_the_expected_one(exported, image, message):
    with pytest.raises(tf.errors.InvalidArgumentError, match=message):
        _signature(exported[1])(image=image)


def test_uint8_signature_checks_the_shape_too(exported):
    with pytest.raises(tf.errors.InvalidArgumentError, match=rf"must be uint8 of shape \[batch, {SIZE}, {SIZE}, 3\]"):
        _signature(exported[1], "serving_uint8")(image=tf.zeros([1, SIZE, SIZE + 8, 3], tf.uint8))


def test_value_range_none_turns_the_range_check_off(tmp_path):
    path = tmp_path / "standardised"
    contract = export_for_serving(unet((SIZE, SIZE, 1), num_classes=3, base_filters=4, depth=1), path,
                                  value_range=None)
    assert contract["outputs"]["probabilities"]["shape"] == [-1, SIZE, SIZE, 3]
    out = _signature(path)(image=tf.fill([1, SIZE, SIZE, 1], -3.0))
    assert out["class_ids"].shape == (1, SIZE, SIZE)


def test_a_model_without_a_fixed_size_is_refused(tmp_path):
    inputs = keras.Input((None, None, 3))
    model = keras.Model(inputs, keras.layers.Conv2D(2, 1)(inputs))
    with pytest.raises(ValueError, match=r"fixed input size \[H, W, C\]"):
        export_for_serving(model, tmp_path / "x")


def test_hsmix_model_export_still_writes_the_plain_model(tmp_path):
    """``HSMixModel.export`` (Keras' own export of the wrapped model) keeps working beside the serving export."""
    model = HSMixModel(unet((SIZE, SIZE, 3), num_classes=2, base_filters=4, depth=1), num_classes=2, seed=0)
    model.export(str(tmp_path / "plain"), verbose=False)
    assert tf.saved_model.load(str(tmp_path / "plain")).serve(tf.zeros([1, SIZE, SIZE, 3])).shape == (1, SIZE, SIZE, 2)


# tf.lite.Interpreter warns that it moves to ai-edge-litert (LiteRT) in TF 2.20+; it is what TF 2.21 ships.
@pytest.mark.filterwarnings("ignore:.*tf.lite.Interpreter is deprecated:UserWarning")
@pytest.mark.filterwarnings("ignore:.*LiteRT:UserWarning")
def test_tflite_conversion_gives_the_same_outputs(exported):
    _, path, _, images = exported
    interpreter = tf.lite.Interpreter(model_content=tf.lite.TFLiteConverter.from_saved_model(str(path)).convert())
    assert set(interpreter.get_signature_list()) == {"serving_default", "serving_uint8"}
    runner = interpreter.get_signature_runner("serving_default")
    lite = runner(image=images)
    served = _signature(path)(image=tf.constant(images))
    for name in ("probabilities", "logits"):
        np.testing.assert_allclose(lite[name], served[name].numpy(), atol=1e-5)
    np.testing.assert_array_equal(lite["class_ids"], served["class_ids"].numpy())
    with pytest.raises(RuntimeError, match="RESHAPE"):  # TFLite drops the assert; the reshape still refuses
        runner(image=np.zeros([1, 2 * SIZE, 2 * SIZE, 3], "float32"))


@pytest.mark.slow
def test_onnx_conversion_gives_the_same_outputs(request, tmp_path):
    missing = [name for name in ("onnx", "tf2onnx", "onnxruntime") if importlib.util.find_spec(name) is None]
    if missing:
        pytest.skip(f"the [onnx] extra is not installed (missing {', '.join(missing)}): pip install -e \".[onnx]\"")
    import onnxruntime

    _, path, _, images = request.getfixturevalue("exported")  # after the skip: exporting costs seconds
    onnx_file = tmp_path / "model.onnx"
    subprocess.run([sys.executable, "-m", "tf2onnx.convert", "--saved-model", str(path), "--signature_def",
                    "serving_default", "--output", str(onnx_file)], check=True, capture_output=True)
    session = onnxruntime.InferenceSession(str(onnx_file), providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == ["image"]
    names = [o.name for o in session.get_outputs()]
    served = _signature(path)(image=tf.constant(images))
    for name, value in zip(names, session.run(None, {"image": images})):
        np.testing.assert_allclose(value, served[name].numpy(), atol=1e-5)
    with pytest.raises(Exception, match="Reshape"):  # ONNX drops the assert; the reshape still refuses
        session.run(None, {"image": np.zeros([1, 2 * SIZE, 2 * SIZE, 3], "float32")})
