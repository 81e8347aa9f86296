"""A small, randomly initialised DeepLabV3+-style model (Keras 3).

No pretrained backbone (nothing is downloaded): a few strided conv blocks form
the encoder, followed by an ASPP module and the DeepLabV3+ decoder.
"""

from __future__ import annotations

import functools
from typing import Sequence

import keras
from keras import layers

from keras_hsmix.models.unet import check_model_args, conv_bn_relu, output_dtype

__all__ = ["deeplab_v3_plus"]

OUTPUT_STRIDE = 16
ASPP_RATES = (6, 12, 18)


def deeplab_v3_plus(
    input_shape: Sequence[int] = (128, 128, 3),
    num_classes: int = 2,
    base_filters: int = 16,
    final_activation: str | None = None,
    name: str = "deeplab_v3_plus",
    sync_batch_norm: bool = False,
) -> keras.Model:
    """Build a compact DeepLabV3+ returning per-pixel logits.

    Architecture (``b = base_filters``):

    * backbone: ``stem`` (stride 2, ``b``), ``block1`` (stride 2, ``2b``; its
      output at 1/4 resolution is the low-level skip), ``block2`` (stride 2,
      ``4b``), ``block3`` (stride 2, ``8b``): output stride 16; each stage is
      two ``3x3 conv -> BN -> ReLU`` blocks, the first strided;
    * ASPP on the 1/16 features with ``8b`` filters: a ``1x1`` branch, three
      dilated ``3x3`` branches (rates 6, 12, 18), an image-pooling branch
      (global average pool, ``1x1`` conv, upsampled back), concatenated and
      projected by a ``1x1`` conv (``aspp_projection``, the deepest conv
      feature map);
    * decoder: ASPP output upsampled x4 (bilinear), concatenated with the
      ``1x1``-projected low-level features, two ``3x3`` conv blocks, a ``1x1``
      conv to ``num_classes`` (``logits_lowres``) and a final x4 bilinear
      upsampling to the input size (layer ``logits``); both in float32 under a
      mixed-precision policy.

    Args:
        input_shape: ``(H, W, C)`` with static ``H`` and ``W`` divisible by 16.
        num_classes: Output channels (``1`` for binary / sigmoid).
        base_filters: Width multiplier ``b``.
        final_activation: Optional activation after ``logits`` (layer
            ``final_activation``); default ``None`` outputs logits.
        name: Model name.
        sync_batch_norm: Synchronise the batch-norm statistics across the
            replicas of a ``tf.distribute`` strategy (see :func:`unet`).

    Returns:
        A functional ``keras.Model`` mapping ``[B, H, W, C]`` to
        ``[B, H, W, num_classes]``.

    Raises:
        ValueError: If ``H``/``W`` is unknown or not divisible by 16, or an
            argument is out of range.

    Example:

    >>> model = deeplab_v3_plus((32, 32, 3), num_classes=2, base_filters=4)
    >>> tuple(model.output.shape)
    (None, 32, 32, 2)
    """
    input_shape = check_model_args(input_shape, num_classes, base_filters)
    for dim, label in zip(input_shape[:2], ("height", "width")):
        if dim is None or dim % OUTPUT_STRIDE:
            raise ValueError(
                f"deeplab_v3_plus: input {label} {dim} (input_shape={input_shape}) must be "
                f"a known multiple of the output stride {OUTPUT_STRIDE}."
            )
    b = int(base_filters)
    height, width = input_shape[0], input_shape[1]

    block = functools.partial(conv_bn_relu, sync_batch_norm=sync_batch_norm)
    inputs = keras.Input(shape=input_shape, name="image")
    x = block(inputs, b, "stem_conv1", strides=2)
    x = block(x, b, "stem_conv2")
    x = block(x, 2 * b, "block1_conv1", strides=2)
    low_level = block(x, 2 * b, "block1_conv2")
    x = block(low_level, 4 * b, "block2_conv1", strides=2)
    x = block(x, 4 * b, "block2_conv2")
    x = block(x, 8 * b, "block3_conv1", strides=2)
    x = block(x, 8 * b, "block3_conv2")

    aspp_filters = 8 * b
    branches = [block(x, aspp_filters, "aspp_conv1x1", kernel_size=1)]
    for rate in ASPP_RATES:
        branches.append(block(x, aspp_filters, f"aspp_conv_rate{rate}", dilation_rate=rate))
    pooled = layers.GlobalAveragePooling2D(keepdims=True, name="aspp_image_pool")(x)
    pooled = block(pooled, aspp_filters, "aspp_pool_conv", kernel_size=1)
    pooled = layers.UpSampling2D(
        size=(height // OUTPUT_STRIDE, width // OUTPUT_STRIDE),
        interpolation="nearest",
        name="aspp_pool_upsample",
    )(pooled)
    branches.append(pooled)
    x = layers.Concatenate(axis=-1, name="aspp_concat")(branches)
    x = block(x, aspp_filters, "aspp_projection", kernel_size=1)

    x = layers.UpSampling2D(size=4, interpolation="bilinear", name="decoder_upsample")(x)
    skip = block(low_level, max(8, b), "decoder_lowlevel_proj", kernel_size=1)
    x = layers.Concatenate(axis=-1, name="decoder_concat")([x, skip])
    x = block(x, 4 * b, "decoder_conv1")
    x = block(x, 4 * b, "decoder_conv2")
    x = layers.Conv2D(num_classes, 1, padding="same", name="logits_lowres", dtype=output_dtype())(x)
    outputs = layers.UpSampling2D(size=4, interpolation="bilinear", name="logits", dtype=output_dtype())(x)
    if final_activation is not None:
        outputs = layers.Activation(final_activation, name="final_activation", dtype=output_dtype())(outputs)
    return keras.Model(inputs, outputs, name=name)
