"""Grad-CAM for segmentation models (Seg-Grad-CAM), batched and graph-compatible."""

from __future__ import annotations

import weakref

import keras
import numpy as np
import tensorflow as tf

EPSILON = 1e-7

CONV_TYPES = (keras.layers.Conv2D, keras.layers.DepthwiseConv2D, keras.layers.SeparableConv2D)


def _spatial_size(layer: keras.layers.Layer) -> int | None:
    try:
        shape = layer.output.shape
    except (AttributeError, ValueError):
        return None
    if len(shape) != 4 or shape[1] is None or shape[2] is None:
        return None
    return int(shape[1]) * int(shape[2])


def find_feature_layer(model: keras.Model) -> keras.layers.Layer:
    """The deepest, lowest-resolution convolutional feature map of ``model`` (its bottleneck).

    Among the layers with a 4-D output that come after the first convolution,
    the ones with the fewest spatial positions are kept, and the last of them
    in the model's layer order is returned (e.g. the activation after the
    bottleneck convolutions of a UNet).

    Raises:
        ValueError: the model has no convolution with a known spatial output size
            (then pass ``layer=`` by name).
    """
    layers = list(model.layers)
    first_conv = next((i for i, layer in enumerate(layers) if isinstance(layer, CONV_TYPES)), None)
    if first_conv is None:
        raise ValueError(
            f"model {model.name!r} has no Conv2D layer; name the Grad-CAM feature layer with layer=..."
        )
    candidates = [(i, _spatial_size(layer)) for i, layer in enumerate(layers) if i >= first_conv]
    candidates = [(i, s) for i, s in candidates if s is not None]
    if not candidates:
        raise ValueError(
            f"model {model.name!r}: no 4-D feature map with a static spatial size; "
            "build the model with a fixed input size or name the Grad-CAM layer with layer=..."
        )
    smallest = min(s for _, s in candidates)
    index = max(i for i, s in candidates if s == smallest)
    return layers[index]


class GradCAM:
    """Grad-CAM of a segmentation model, with the feature sub-model built once.

    Target score (Seg-Grad-CAM): the sum of each class's output over a region,
    ``sum_k sum_{pixels} y_k * M_k``, over the foreground classes (``k >= 1``
    for a multi-class output, the single channel for a binary one). ``M`` is
    the given target mask, or the model's own prediction. The gradients of the
    score with respect to the feature map are averaged over space per sample
    (not over the batch) to weight the channels; then ReLU, bilinear upsampling
    to the image size, and per-image normalisation to [0, 1] with an epsilon
    (an all-zero map stays zero, never NaN). The result carries no gradient.

    Args:
        model: a functional or Sequential Keras model ``[B, H, W, C] -> [B, H, W, K]``.
        layer: the feature layer (name or layer); default: :func:`find_feature_layer`.
        from_logits: whether the model outputs logits (a binary prediction is then
            ``output > 0``) or probabilities (``output > 0.5``).

    Example:
        >>> from keras_hsmix.models import unet
        >>> import tensorflow as tf
        >>> cam = GradCAM(unet((32, 32, 3), num_classes=2, base_filters=4, depth=2))
        >>> cam(tf.random.uniform((2, 32, 32, 3))).shape
        TensorShape([2, 32, 32])
    """

    def __init__(self, model: keras.Model, layer: str | keras.layers.Layer | None = None, from_logits: bool = True):
        try:
            model.inputs
        except AttributeError as err:  # subclassed models, Sequential models without an input shape
            raise ValueError(
                f"Grad-CAM reads a feature map inside model {model.name!r}, which needs a functional or Sequential "
                f"model with a known input (this one has no symbolic inputs: {err}); build it as "
                "keras.Model(inputs, outputs) or start the Sequential model with keras.Input(shape=...), "
                "or (in HSMixModel) use saliency='static'"
            ) from err
        if isinstance(layer, str):
            try:
                layer = model.get_layer(layer)
            except ValueError as err:
                names = [x.name for x in model.layers]
                raise ValueError(f"layer={layer!r} is not a layer of model {model.name!r}; layers: {names}") from err
        self.layer = layer if layer is not None else find_feature_layer(model)
        self.model = model
        self.from_logits = from_logits
        self.feature_model = keras.Model(model.inputs, [self.layer.output, model.outputs[0]], name=f"{model.name}_gradcam")

    def _region(self, outputs: tf.Tensor) -> tf.Tensor:
        if outputs.shape[-1] == 1:
            threshold = 0.0 if self.from_logits else 0.5
            return tf.cast(outputs > threshold, outputs.dtype)
        return tf.one_hot(tf.argmax(outputs, axis=-1), tf.shape(outputs)[-1], dtype=outputs.dtype)

    def __call__(self, images: tf.Tensor, target_masks: tf.Tensor | None = None) -> tf.Tensor:
        images = tf.convert_to_tensor(images)
        with tf.GradientTape() as tape:
            features, outputs = self.feature_model(images, training=False)
            tape.watch(features)
            outputs = tf.cast(outputs, tf.float32)
            region = self._region(outputs) if target_masks is None else tf.cast(target_masks, tf.float32)
            if outputs.shape[-1] == 1 and region.shape[-1] is not None and region.shape[-1] > 1:
                # A one-channel (sigmoid) model with one-hot / soft target masks: the region is the foreground.
                region = tf.reduce_sum(region[..., 1:], axis=-1, keepdims=True)
            region = tf.stop_gradient(region)
            if outputs.shape[-1] is not None and outputs.shape[-1] > 1:
                score = tf.reduce_sum(outputs[..., 1:] * region[..., 1:])
            else:
                score = tf.reduce_sum(outputs * region)
        grads = tape.gradient(score, features)
        features = tf.cast(features, tf.float32)
        grads = tf.cast(grads, tf.float32)
        weights = tf.reduce_mean(grads, axis=[1, 2], keepdims=True)  # per sample, per channel
        cam = tf.nn.relu(tf.reduce_sum(weights * features, axis=-1, keepdims=True))
        cam = tf.image.resize(cam, tf.shape(images)[1:3], method="bilinear")[..., 0]
        low = tf.reduce_min(cam, axis=[1, 2], keepdims=True)
        high = tf.reduce_max(cam, axis=[1, 2], keepdims=True)
        cam = (cam - low) / (high - low + EPSILON)
        return tf.stop_gradient(cam)


_CACHE: "weakref.WeakKeyDictionary[keras.Model, dict]" = weakref.WeakKeyDictionary()


def grad_cam(
    model: keras.Model,
    images: tf.Tensor,
    target_masks: tf.Tensor | None = None,
    layer: str | None = None,
    from_logits: bool = True,
) -> tf.Tensor:
    """Grad-CAM saliency ``[B, H, W]`` in [0, 1] for a segmentation model.

    The feature sub-model is built on the first call for a (model, layer) pair
    and reused afterwards. See :class:`GradCAM` for the method.

    Args:
        model: functional or Sequential segmentation model.
        images: ``[B, H, W, C]``.
        target_masks: ``[B, H, W, K]`` one-hot or soft masks defining the target
            region of each class; ``None`` uses the model's own prediction.
        layer: name of the feature layer; default: the bottleneck.
        from_logits: whether the model outputs logits.

    Example:
        >>> from keras_hsmix.models import unet
        >>> import tensorflow as tf
        >>> model = unet((32, 32, 3), num_classes=2, base_filters=4, depth=2)
        >>> grad_cam(model, tf.random.uniform((2, 32, 32, 3))).shape
        TensorShape([2, 32, 32])
    """
    per_model = _CACHE.setdefault(model, {})
    key = (layer, from_logits)
    if key not in per_model:
        per_model[key] = GradCAM(model, layer, from_logits)
    return per_model[key](images, target_masks)
