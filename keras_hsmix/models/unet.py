"""A plain functional U-Net for 2-D segmentation (Keras 3)."""

from __future__ import annotations

import functools
from typing import Any, Sequence

import keras
from keras import layers

__all__ = ["unet", "conv_bn_relu", "output_dtype"]


def conv_bn_relu(
    x: Any,
    filters: int,
    name: str,
    kernel_size: int = 3,
    dilation_rate: int = 1,
    strides: int = 1,
    sync_batch_norm: bool = False,
) -> Any:
    """``Conv2D -> BatchNormalization -> ReLU`` block.

    The layers are named ``{name}`` (the bias-free conv), ``{name}_bn`` and
    ``{name}_relu``.

    Args:
        x: Input tensor ``[B, H, W, C]``.
        filters: Output channels.
        name: Name of the conv layer (prefix of the other two).
        kernel_size: Conv kernel size.
        dilation_rate: Conv dilation rate.
        strides: Conv strides.
        sync_batch_norm: Batch statistics over all replicas of a
            ``tf.distribute`` strategy (``BatchNormalization(synchronized=True)``)
            instead of per replica.

    Returns:
        The block's output tensor.
    """
    x = layers.Conv2D(
        filters,
        kernel_size,
        strides=strides,
        padding="same",
        dilation_rate=dilation_rate,
        use_bias=False,
        kernel_initializer="he_normal",
        name=name,
    )(x)
    x = layers.BatchNormalization(synchronized=sync_batch_norm, name=f"{name}_bn")(x)
    return layers.ReLU(name=f"{name}_relu")(x)


def check_model_args(
    input_shape: Sequence[int | None], num_classes: int, base_filters: int
) -> tuple:
    """Checks the arguments every model builder shares; returns ``input_shape`` as a tuple.

    Example:
        >>> check_model_args([64, 64, 3], num_classes=2, base_filters=8)
        (64, 64, 3)
    """
    input_shape = tuple(input_shape)
    if len(input_shape) != 3:
        raise ValueError(f"input_shape must be (H, W, C), got {input_shape}.")
    if int(num_classes) < 1:
        raise ValueError(f"num_classes must be >= 1, got {num_classes}.")
    if int(base_filters) < 1:
        raise ValueError(f"base_filters must be >= 1, got {base_filters}.")
    return input_shape


def output_dtype() -> str | None:
    """``"float32"`` under a mixed-precision global policy, else ``None`` (the policy's dtype).

    Keras' mixed-precision guide keeps a model's last layers in float32 so that
    the logits and the loss are not computed in float16; the model builders
    pass this as the ``dtype`` of their output layers.
    """
    return "float32" if keras.mixed_precision.global_policy().name.startswith("mixed") else None


def unet(
    input_shape: Sequence[int | None] = (128, 128, 3),
    num_classes: int = 2,
    base_filters: int = 16,
    depth: int = 4,
    final_activation: str | None = None,
    name: str = "unet",
    sync_batch_norm: bool = False,
) -> keras.Model:
    """Build a U-Net returning per-pixel logits (or activations).

    Encoder level ``i`` (``0..depth-1``) has two ``3x3 conv -> BN -> ReLU``
    blocks with ``base_filters * 2**i`` filters (layers ``enc{i}_conv1``,
    ``enc{i}_conv2``) then ``2x2`` max pooling; the bottleneck has two blocks
    with ``base_filters * 2**depth`` filters, ``bottleneck_conv1`` and
    ``bottleneck_conv2`` (the deepest, lowest-resolution conv feature map, the
    natural Grad-CAM target). Decoder level ``i`` upsamples with a stride-2
    ``Conv2DTranspose`` (``dec{i}_upconv``), concatenates the encoder skip
    (``dec{i}_concat``) and applies two conv blocks (``dec{i}_conv1/2``).
    A ``1x1`` conv named ``logits`` gives ``num_classes`` channels (in
    float32 under a mixed-precision policy, as Keras recommends).

    Args:
        input_shape: ``(H, W, C)``; ``H`` and ``W`` must be divisible by
            ``2**depth`` (``None`` allows any size that is).
        num_classes: Output channels; ``1`` for a binary (sigmoid) output,
            ``K > 1`` for softmax over ``K`` classes.
        base_filters: Filters of the first level.
        depth: Number of down-sampling steps.
        final_activation: Optional activation (e.g. ``"softmax"``,
            ``"sigmoid"``) applied after ``logits`` in a layer named
            ``final_activation``. Default ``None``: the model outputs logits
            (use ``from_logits=True`` in the loss).
        name: Model name.
        sync_batch_norm: Synchronise the batch-norm statistics across the
            replicas of a ``tf.distribute`` strategy (small per-replica batches,
            as in segmentation, give noisy per-replica statistics). No effect
            without a strategy.

    Returns:
        A functional ``keras.Model`` mapping ``[B, H, W, C]`` to
        ``[B, H, W, num_classes]``.

    Raises:
        ValueError: If ``H`` or ``W`` is not divisible by ``2**depth`` or an
            argument is out of range.

    Example:

    >>> model = unet((32, 32, 3), num_classes=3, base_filters=4, depth=2)
    >>> tuple(model.output.shape)
    (None, 32, 32, 3)
    """
    input_shape = check_model_args(input_shape, num_classes, base_filters)
    if int(depth) < 1:
        raise ValueError(f"depth must be >= 1, got {depth}.")
    factor = 2**depth
    for dim, label in zip(input_shape[:2], ("height", "width")):
        if dim is not None and dim % factor:
            raise ValueError(
                f"unet: input {label} {dim} (input_shape={input_shape}) must be divisible "
                f"by 2**depth = {factor}; pad or resize the input, or lower depth."
            )

    block = functools.partial(conv_bn_relu, sync_batch_norm=sync_batch_norm)
    inputs = keras.Input(shape=input_shape, name="image")
    x = inputs
    skips = []
    for i in range(depth):
        filters = base_filters * 2**i
        x = block(x, filters, f"enc{i}_conv1")
        x = block(x, filters, f"enc{i}_conv2")
        skips.append(x)
        x = layers.MaxPooling2D(2, name=f"enc{i}_pool")(x)

    bottleneck_filters = base_filters * 2**depth
    x = block(x, bottleneck_filters, "bottleneck_conv1")
    x = block(x, bottleneck_filters, "bottleneck_conv2")

    for i in reversed(range(depth)):
        filters = base_filters * 2**i
        x = layers.Conv2DTranspose(
            filters,
            2,
            strides=2,
            padding="same",
            kernel_initializer="he_normal",
            name=f"dec{i}_upconv",
        )(x)
        x = layers.Concatenate(axis=-1, name=f"dec{i}_concat")([x, skips[i]])
        x = block(x, filters, f"dec{i}_conv1")
        x = block(x, filters, f"dec{i}_conv2")

    outputs = layers.Conv2D(num_classes, 1, padding="same", name="logits", dtype=output_dtype())(x)
    if final_activation is not None:
        outputs = layers.Activation(final_activation, name="final_activation", dtype=output_dtype())(outputs)
    return keras.Model(inputs, outputs, name=name)
