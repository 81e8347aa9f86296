"""A SavedModel with a documented serving contract (docs/serving.md): what a TF Serving, TFLite or ONNX client sends
and gets back.

``export_for_serving(model, path)`` writes two signatures:

- ``serving_default``: input ``image``, float32 ``[batch, H, W, C]`` with values in ``[0, 1]``;
- ``serving_uint8``: input ``image``, uint8 ``[batch, H, W, C]`` with values in ``[0, 255]`` (divided by 255).

Both return ``probabilities`` (float32 ``[batch, H, W, K]``, softmax over the classes), ``class_ids`` (int32
``[batch, H, W]``, the argmax) and ``logits`` (float32 ``[batch, H, W, K]``). ``H``, ``W``, ``C`` are the model's
input size; an input of another shape fails with a message that names the expected shape. The contract is also
written to ``serving.json`` beside ``saved_model.pb``. Inference only: no augmentation is exported.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import keras
import tensorflow as tf

from keras_hsmix.training.model import HSMixModel

INPUT_NAME = "image"
OUTPUT_NAMES = ("probabilities", "class_ids", "logits")
CONTRACT_FILE = "serving.json"


def serving_contract(model: keras.Model, value_range: tuple[float, float] | None = (0.0, 1.0)) -> dict[str, Any]:
    """The contract that :func:`export_for_serving` writes for ``model``, as a JSON-ready dict."""
    height, width, channels = _image_shape(_inner(model))
    classes = _num_classes(_inner(model))
    return {
        "signatures": {
            "serving_default": {
                "inputs": {INPUT_NAME: {"dtype": "float32", "shape": [-1, height, width, channels],
                                        "range": list(value_range) if value_range else None}},
            },
            "serving_uint8": {
                "inputs": {INPUT_NAME: {"dtype": "uint8", "shape": [-1, height, width, channels], "range": [0, 255]}},
            },
        },
        "outputs": {
            "probabilities": {"dtype": "float32", "shape": [-1, height, width, classes]},
            "class_ids": {"dtype": "int32", "shape": [-1, height, width]},
            "logits": {"dtype": "float32", "shape": [-1, height, width, classes]},
        },
    }


def export_for_serving(
    model: keras.Model,
    path: str | Path,
    *,
    from_logits: bool = True,
    value_range: tuple[float, float] | None = (0.0, 1.0),
    verbose: bool = False,
) -> dict[str, Any]:
    """Writes a SavedModel for serving at ``path`` and returns its contract (also saved as ``serving.json``).

    Args:
        model: an :class:`HSMixModel` (its wrapped model is exported) or a Keras segmentation model
            ``[B, H, W, C] -> [B, H, W, K]`` with a fixed input size.
        path: the SavedModel folder.
        from_logits: whether the model outputs logits (softmax applied for ``probabilities``); ``False`` for a model
            that ends with a softmax (then ``logits`` are the log-probabilities).
        value_range: ``(low, high)`` that ``serving_default`` checks its float input against, or ``None`` for no
            check (a model trained on other ranges, e.g. standardised images).
        verbose: print Keras' summary of the written endpoints.

    Example:
        >>> import tempfile, numpy as np, tensorflow as tf
        >>> from keras_hsmix.models import unet
        >>> path = tempfile.mkdtemp() + "/served"
        >>> _ = export_for_serving(unet((32, 32, 3), num_classes=2, base_filters=4, depth=2), path)
        >>> out = tf.saved_model.load(path).signatures["serving_default"](image=tf.zeros([1, 32, 32, 3]))
        >>> sorted(out), tuple(out["class_ids"].shape)
        (['class_ids', 'logits', 'probabilities'], (1, 32, 32))
    """
    inner = _inner(model)
    height, width, channels = _image_shape(inner)
    expected = f"[batch, {height}, {width}, {channels}]"

    def outputs(image: tf.Tensor) -> dict[str, tf.Tensor]:
        raw = tf.cast(inner(image, training=False), tf.float32)
        if raw.shape[-1] == 1:  # one sigmoid / logit channel: two classes, background and foreground
            raw = tf.concat([tf.zeros_like(raw), raw], -1) if from_logits else tf.concat([1.0 - raw, raw], -1)
        logits = raw if from_logits else tf.math.log(tf.maximum(raw, 1e-7))
        probabilities = tf.nn.softmax(logits, axis=-1)
        return {"probabilities": probabilities, "class_ids": tf.argmax(logits, -1, output_type=tf.int32),
                "logits": logits}

    def checked(image: tf.Tensor, dtype: str) -> tf.Tensor:
        """``image`` with its static shape, after a check that names the expected shape."""
        check = tf.debugging.assert_equal(
            tf.shape(image)[1:], tf.constant([height, width, channels]),
            message=f"serving: input '{INPUT_NAME}' must be {dtype} of shape {expected}; got [H, W, C] =",
            summarize=4,
        )
        # TFLite and ONNX drop the assert; for them the reshape fails instead: the batch size is set to 0 when the
        # shape differs, so a wrong size can never be silently reshaped into another batch.
        same = tf.reduce_all(tf.equal(tf.shape(image)[1:], [height, width, channels]))
        batch = tf.shape(image)[0] * tf.cast(same, tf.int32)
        with tf.control_dependencies([check] if check is not None else []):
            return tf.reshape(image, tf.stack([batch, height, width, channels]))  # the model's static shape

    def serve_float(image: tf.Tensor) -> dict[str, tf.Tensor]:
        image = checked(image, "float32")
        if value_range is not None:
            low, high = value_range
            tf.debugging.assert_greater_equal(
                tf.reduce_min(image), tf.constant(low, tf.float32),
                message=f"serving: input '{INPUT_NAME}' must hold values in [{low}, {high}] (8-bit pixels: divide "
                        "by 255 or use the serving_uint8 signature); got a minimum of")
            tf.debugging.assert_less_equal(
                tf.reduce_max(image), tf.constant(high, tf.float32),
                message=f"serving: input '{INPUT_NAME}' must hold values in [{low}, {high}] (8-bit pixels: divide "
                        "by 255 or use the serving_uint8 signature); got a maximum of")
        return outputs(image)

    def serve_uint8(image: tf.Tensor) -> dict[str, tf.Tensor]:
        return outputs(tf.cast(checked(image, "uint8"), tf.float32) / 255.0)

    # The batch, height, width and channels are left open in the signatures so that a wrong size reaches the check
    # above (with the expected shape in its message) instead of failing inside a convolution; the reshape after it
    # gives the model its static shape.
    open_shape = [None, None, None, None]
    archive = keras.export.ExportArchive()
    archive.track(inner)
    archive.add_endpoint("serving_default", serve_float,
                         input_signature=[tf.TensorSpec(open_shape, tf.float32, name=INPUT_NAME)])
    archive.add_endpoint("serving_uint8", serve_uint8,
                         input_signature=[tf.TensorSpec(open_shape, tf.uint8, name=INPUT_NAME)])
    archive.write_out(str(path), verbose=verbose)
    contract = serving_contract(inner, value_range)
    (Path(path) / CONTRACT_FILE).write_text(json.dumps(contract, indent=2))
    return contract


def _inner(model: keras.Model) -> keras.Model:
    return model.model if isinstance(model, HSMixModel) else model


def _image_shape(model: keras.Model) -> tuple[int, int, int]:
    try:
        shape = tuple(model.inputs[0].shape[1:])
    except (AttributeError, IndexError, TypeError, ValueError):
        shape = ()
    if len(shape) != 3 or any(dim is None for dim in shape):
        raise ValueError(
            "export_for_serving needs a model with a fixed input size [H, W, C] (e.g. keras_hsmix.models.unet"
            f"((128, 128, 3), ...)); this model's input shape is {shape or 'unknown'}"
        )
    return tuple(int(dim) for dim in shape)  # type: ignore[return-value]


def _num_classes(model: keras.Model) -> int:
    channels = model.outputs[0].shape[-1]
    return 2 if channels == 1 else int(channels)
