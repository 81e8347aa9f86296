"""Grad-CAM for segmentation models (Seg-Grad-CAM), batched and graph-compatible."""

from __future__ import annotations

import dataclasses
import warnings
import weakref
from typing import Any

import keras
import tensorflow as tf

from keras_hsmix.layers.backend import require_tensorflow_backend

EPSILON = 1e-7

PATH_SEPARATOR = "/"


@dataclasses.dataclass(frozen=True)
class FeatureMap:
    """One layer call found while tracing a model: where it is and what it outputs.

    Attributes:
        path: the layer's names through the nesting, ``"/"``-separated, without the
            outer model's name (``"deep_lab_v3_backbone/functional/stack3_block0_out"``).
        layer: the layer (or sub-model) that was called.
        tensor: its output in the traced graph of the outer model.
        depth: how many sub-models it lies in (0: a layer of the outer model itself).
        is_model: whether ``layer`` is a sub-model (its records follow its inner layers').
    """

    path: str
    layer: keras.layers.Layer
    tensor: Any
    depth: int
    is_model: bool

    @property
    def spatial_size(self) -> int | None:
        """``H * W`` of a 4-D output with a static size, else None."""
        shape = self.tensor.shape
        if len(shape) != 4 or shape[1] is None or shape[2] is None:
            return None
        return int(shape[1]) * int(shape[2])


def _is_graph_model(layer: keras.layers.Layer) -> bool:
    """Whether the search can look inside ``layer``: a Functional or Sequential model."""
    if isinstance(layer, keras.Sequential):
        return True
    if not isinstance(layer, keras.Model):
        return False
    try:
        layer.input
        layer.output
    except (AttributeError, ValueError):  # a subclassed model: its call is Python code, not a graph
        return False
    return True


def _fresh_inputs(like: Any) -> Any:
    return keras.tree.map_structure(lambda t: keras.Input(batch_shape=t.shape, dtype=t.dtype), like)


def _trace(model: keras.Model, inputs: Any, prefix: str = "", depth: int = 0) -> tuple[Any, list[FeatureMap]]:
    """Calls ``model``'s layers again on the symbolic ``inputs``, descending into sub-models.

    Every layer is the model's own (weights are shared, nothing is copied). A
    Functional or Sequential sub-model is traced in turn and called as one model
    that also returns its inner layers' outputs, so that those become tensors of
    the outer graph. Returns ``model``'s outputs and one :class:`FeatureMap` per
    layer call with a single-tensor output, in execution order.
    """
    records: list[FeatureMap] = []

    def call(layer: keras.layers.Layer, *args: Any, **kwargs: Any) -> Any:
        path = prefix + layer.name
        if _is_graph_model(layer) and len(args) == 1:
            sub_inputs = _fresh_inputs(args[0])
            if not isinstance(layer, keras.Sequential):  # e.g. a model built on [input] called on a tensor
                sub_inputs = keras.tree.pack_sequence_as(layer.input, keras.tree.flatten(sub_inputs))
            sub_outputs, sub_records = _trace(layer, sub_inputs, path + PATH_SEPARATOR, depth + 1)
            extended = keras.Model(sub_inputs, (sub_outputs, [r.tensor for r in sub_records]))
            outputs, tensors = extended(args[0], **kwargs)
            records.extend(dataclasses.replace(r, tensor=t) for r, t in zip(sub_records, tensors))
        else:
            outputs = layer(*args, **kwargs)
        if isinstance(outputs, keras.KerasTensor):
            records.append(FeatureMap(path, layer, outputs, depth, _is_graph_model(layer)))
        return outputs

    if isinstance(model, keras.Sequential):
        outputs = inputs
        for layer in model.layers:
            outputs = call(layer, outputs)
        return outputs, records
    # A plain Functional view of the model (a keras-hub task is a compiled subclass; its clone would be compiled too).
    view = keras.Model(model.input, model.output)
    clone = keras.models.clone_model(view, input_tensors=inputs, clone_function=lambda layer: layer, call_function=call)
    return clone.output, records


def trace_feature_maps(model: keras.Model) -> tuple[Any, Any, list[FeatureMap]]:
    """Rebuilds ``model``'s graph on new inputs with every inner layer output reachable.

    Returns ``(inputs, outputs, feature_maps)``: ``keras.Model(inputs, [m.tensor, outputs])``
    for any ``m`` in ``feature_maps`` runs ``model``'s own layers (shared weights) and
    returns that layer's output beside the model's, also for a layer deep inside a
    backbone sub-model.

    Example:
        >>> from keras_hsmix.models import unet
        >>> inputs, outputs, maps = trace_feature_maps(unet((32, 32, 3), num_classes=2, base_filters=4, depth=2))
        >>> maps[-1].path, tuple(outputs.shape)
        ('logits', (None, 32, 32, 2))
    """
    _check_graph_model(model)
    like = model.inputs[0] if isinstance(model, keras.Sequential) else model.input
    inputs = _fresh_inputs(like)
    outputs, records = _trace(model, inputs)
    return inputs, outputs, records


def _check_graph_model(model: keras.Model) -> None:
    try:
        model.inputs
    except AttributeError as err:  # subclassed models, Sequential models without an input shape
        raise ValueError(
            f"Grad-CAM reads a feature map inside model {model.name!r}, which needs a functional or Sequential "
            f"model with a known input (this one has no symbolic inputs: {err}); build it as "
            "keras.Model(inputs, outputs) or start the Sequential model with keras.Input(shape=...), "
            "or (in HSMixModel) use saliency='static'"
        ) from err


def _head(records: list[FeatureMap], output_channels: int | None) -> set[int]:
    """Indices of the output head: the trailing layer calls whose outputs have the output's channel count
    (the logits layer and the resizing / activation after it)."""
    head: set[int] = set()
    for index in range(len(records) - 1, -1, -1):
        record = records[index]
        if record.is_model:
            continue
        if index != len(records) - 1 and record.tensor.shape[-1] != output_channels:
            break
        head.add(index)
    return head


def choose_feature_map(model: keras.Model, records: list[FeatureMap], outputs: Any) -> FeatureMap:
    """The automatic Grad-CAM layer among traced layer calls: the encoder's bottleneck.

    Candidates are the layers (not sub-models) with a 4-D output of static size
    larger than 1 x 1 (one position cannot localise anything), outside the output
    head (the trailing layers with the output's channel count: logits, resizing,
    activation). Among those at the lowest resolution, the ones nested deepest
    are kept (a backbone inside a task model is the encoder; in a flat model all
    are at depth 0), and the last of them in execution order is chosen.
    Warns when that map has the output's resolution (a model without a bottleneck).

    Raises:
        ValueError: no candidate (then name the layer).
    """
    output = keras.tree.flatten(outputs)[0]
    head = _head(records, output.shape[-1])
    candidates = [
        r for i, r in enumerate(records)
        if i not in head and not r.is_model and r.spatial_size is not None and r.spatial_size > 1
    ]
    if not candidates:
        raise ValueError(
            f"model {model.name!r}: no 4-D feature map with a static spatial size outside the output head; "
            "build the model with a fixed input size or name the Grad-CAM layer with layer=..."
        )
    smallest = min(r.spatial_size for r in candidates)
    lowest = [r for r in candidates if r.spatial_size == smallest]
    deepest = max(r.depth for r in lowest)
    chosen = [r for r in lowest if r.depth == deepest][-1]
    if len(output.shape) == 4 and tuple(chosen.tensor.shape[1:3]) == tuple(output.shape[1:3]):
        warnings.warn(
            f"Grad-CAM: the feature map chosen for model {model.name!r}, {chosen.path!r}, has the output's "
            f"resolution {tuple(output.shape[1:3])}: the model has no lower-resolution map outside its output "
            "head, so the saliency follows the output rather than encoder features. Name a layer with "
            "layer=... (HSMixModel: gradcam_layer=...) or use saliency='static'.",
            stacklevel=3,
        )
    return chosen


def _matches(path: str, name: str) -> bool:
    """``name`` is the path, or its parts appear in order along the path ending with the layer's name."""
    if path == name:
        return True
    parts, wanted = path.split(PATH_SEPARATOR), name.split(PATH_SEPARATOR)
    if parts[-1] != wanted[-1]:
        return False
    remaining = iter(parts[:-1])
    return all(part in remaining for part in wanted[:-1])


def select_feature_map(
    model: keras.Model, records: list[FeatureMap], layer: str | keras.layers.Layer
) -> FeatureMap:
    """The traced layer call named by ``layer``: a path (``"backbone/block_out"``, parts may be
    skipped while the result is unique; a leading outer model name is allowed), a layer name,
    or a layer object (also one inside a sub-model)."""
    if isinstance(layer, str):
        name = layer.removeprefix(model.name + PATH_SEPARATOR)
        found = [r for r in records if r.path == name] or [r for r in records if _matches(r.path, name)]
        what = f"layer={layer!r}"
    else:
        found = [r for r in records if r.layer is layer]
        what = f"layer {getattr(layer, 'name', layer)!r}"
    if not found:
        top = [r.path for r in records if r.depth == 0]
        nested = [r.path for r in records if r.depth > 0]
        example = f"; name a layer of a sub-model by its path, e.g. {nested[-1]!r}" if nested else ""
        raise ValueError(
            f"{what} is not a layer of model {model.name!r} nor of its sub-models (with a single-tensor output); "
            f"its layers: {top}{example}"
        )
    if len(found) > 1:
        raise ValueError(
            f"{what} matches several layer calls of model {model.name!r}: {[r.path for r in found]}; "
            "name one by its full path"
        )
    return found[0]


def find_feature_layer(model: keras.Model) -> keras.layers.Layer:
    """The deepest, lowest-resolution feature map of ``model``'s encoder (its bottleneck).

    Looks inside nested Functional and Sequential sub-models (a keras-hub backbone
    in its task model, a ``keras.applications`` encoder used as a layer). See
    :func:`choose_feature_map` for the rule; :attr:`GradCAM.layer_path` tells
    where the layer sits.

    Example:
        >>> from keras_hsmix.models import unet
        >>> find_feature_layer(unet((32, 32, 3), num_classes=2, base_filters=4, depth=2)).name
        'bottleneck_conv2_relu'

    Raises:
        ValueError: the model has no 4-D feature map with a known spatial size
            outside its output head (then pass ``layer=`` by name).
    """
    _, outputs, records = trace_feature_maps(model)
    return choose_feature_map(model, records, outputs).layer


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
        model: a functional or Sequential Keras model ``[B, H, W, C] -> [B, H, W, K]``, which may
            hold sub-models (a keras-hub backbone, a ``keras.applications`` encoder used as a layer);
            a model with several outputs is explained through its first output.
        layer: the feature layer: a name, a path through the nesting
            (``"deep_lab_v3_backbone/stack3_block0_out"``; intermediate names may be left out
            while the match is unique), or a layer object, also one inside a sub-model;
            default: the bottleneck (:func:`choose_feature_map`).
        from_logits: whether the model outputs logits (a binary prediction is then
            ``output > 0``) or probabilities (``output > 0.5``).

    Attributes:
        layer: the feature layer; ``layer_path``: its path through the nesting.

    Example:
        >>> from keras_hsmix.models import unet
        >>> import tensorflow as tf
        >>> cam = GradCAM(unet((32, 32, 3), num_classes=2, base_filters=4, depth=2))
        >>> cam.layer_path
        'bottleneck_conv2_relu'
        >>> cam(tf.random.uniform((2, 32, 32, 3))).shape
        TensorShape([2, 32, 32])
    """

    def __init__(
        self, model: keras.Model, layer: str | keras.layers.Layer | None = None, from_logits: bool = True
    ) -> None:
        require_tensorflow_backend("GradCAM", "it takes the gradients of the model with tf.GradientTape")
        inputs, outputs, records = trace_feature_maps(model)
        if layer is None:
            chosen = choose_feature_map(model, records, outputs)
        else:
            chosen = select_feature_map(model, records, layer)
        self.layer = chosen.layer
        self.layer_path = chosen.path
        self.model = model
        self.from_logits = from_logits
        output = keras.tree.flatten(outputs)[0]
        self.feature_model = keras.Model(inputs, [chosen.tensor, output], name=f"{model.name}_gradcam")

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
    layer: str | keras.layers.Layer | None = None,
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
        layer: the feature layer (name, path or layer, as in :class:`GradCAM`); default: the bottleneck.
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
