"""One call per mix: everything hard or soft mixing does to a batch, compiled with XLA.

:func:`hard_mix_batch` and :func:`soft_mix_batch` chain the functions of
:mod:`keras_hsmix.ops.mixing` (partner region, mixed superpixel map, λ, blend or
paste of images, masks and optional maps). By default they run as one
``tf.function(jit_compile=True)``, so XLA fuses the gathers and element-wise
passes over the batch into a few loops; this halves the cost on CPU (see
``docs/performance.md``) and is what runs on an accelerator inside
``train_step``. ``jit_compile=False`` runs the same ops unfused (for
debugging, or a platform without XLA); both give the same result. ``jit_compile="auto"`` (the layers'
default) compiles in graph mode (``tf.data``, ``tf.function``, ``train_step``) and runs the plain ops when
called eagerly, where a one-off call would pay a compilation for each new input shape.

XLA compiles once per input shape. The per-superpixel tables (``picked``,
random draws) have a width that follows the number of superpixels of each
batch, so it is padded to a multiple of :data:`SEGMENT_BUCKET` with slots that
no pixel uses: a pipeline whose SLIC gives 200-400 superpixels compiles a
handful of times, not once per batch. The padding never changes the result.
"""

from __future__ import annotations

from typing import NamedTuple

import tensorflow as tf

from keras_hsmix.ops import mixing

#: Per-superpixel tables are padded to a multiple of this many id slots (bounds XLA recompilations).
SEGMENT_BUCKET = 64


class Mixed(NamedTuple):
    """Output of :func:`hard_mix_batch` / :func:`soft_mix_batch`."""

    images: tf.Tensor
    masks: tf.Tensor
    superpixels: tf.Tensor  # the mixed map: A's ids, partner's ids + num_segments
    maps: tf.Tensor | None  # the optional per-pixel map (e.g. saliency), mixed alike


def pad_segments(table: tf.Tensor, multiple: int = SEGMENT_BUCKET) -> tf.Tensor:
    """Pads axis 1 of a per-superpixel table ``[B, N, ...]`` to a multiple of ``multiple``.

    The new slots are zeros / ``False``: ids that no pixel holds, so they are
    never read.

    Example:
        >>> import tensorflow as tf
        >>> pad_segments(tf.ones((2, 3)), multiple=4).shape
        TensorShape([2, 4])
    """
    n = tf.shape(table)[1]
    padded = (n + multiple - 1) // multiple * multiple
    paddings = tf.concat([[[0, 0], [0, padded - n]], tf.zeros([tf.rank(table) - 2, 2], tf.int32)], 0)
    return tf.pad(table, paddings)


def _hard(images, masks, superpixels, partner, picked, num_segments, maps, num_classes):
    region = mixing.partner_region(superpixels, partner, picked)
    out_images, out_masks = mixing.hard_mix(images, masks, partner, region, num_classes)
    mixed = mixing.mixed_superpixels(superpixels, partner, region, num_segments)
    out_maps = None if maps is None else mixing.paste(maps, partner, region)
    return out_images, out_masks, mixed, out_maps


def soft_coefficients(
    superpixels: tf.Tensor,
    partner: tf.Tensor,
    picked: tf.Tensor,
    num_segments: tf.Tensor,
    saliency: tf.Tensor | None = None,
    draws: tf.Tensor | None = None,
    soft_lambda: str = "mean",
) -> tuple[tf.Tensor, tf.Tensor]:
    """λ of a soft mix and the mixed superpixel map: ``(lam [B, H, W], mixed [B, H, W])``.

    The chain :func:`soft_mix_batch` runs before it blends (partner region, mixed map, then λ from
    ``saliency`` or from ``draws``), for inspection (``SoftMix.coefficients``, plots, tests).
    ``soft_lambda``: how the saliency aggregates per superpixel (``"mean"`` or ``"area"``, see
    :func:`keras_hsmix.ops.mixing.saliency_coefficients`).

    Example:
        >>> import tensorflow as tf
        >>> sp = tf.zeros((2, 1, 2), tf.int32)
        >>> lam, mixed = soft_coefficients(sp, tf.constant([1, 0]), tf.ones((2, 1), bool), 1,
        ...                                draws=tf.fill((2, 2), 0.25))
        >>> lam.numpy().tolist()
        [[[0.25, 0.25]], [[0.25, 0.25]]]
    """
    region = mixing.partner_region(superpixels, partner, picked)
    mixed = mixing.mixed_superpixels(superpixels, partner, region, num_segments)
    if draws is not None:
        return mixing.random_coefficients(draws, mixed), mixed
    # Slots from the (padded) table width: a compile-time constant under XLA.
    slots = 2 * tf.shape(picked)[1]
    return mixing.saliency_coefficients(saliency, partner, mixed, slots, aggregate=soft_lambda), mixed


def _soft(images, masks, superpixels, partner, picked, num_segments, saliency, draws, maps, num_classes,
          soft_lambda):
    lam, mixed = soft_coefficients(superpixels, partner, picked, num_segments, saliency, draws, soft_lambda)
    out_images, out_masks = mixing.soft_mix(images, masks, partner, lam, num_classes)
    out_maps = None if maps is None else mixing.blend_maps(maps, partner, lam)
    return out_images, out_masks, mixed, out_maps


# autograph=False: the mixing is written in graph ops (no Python control flow on tensors), so converting its source
# only costs time at every first trace.
_hard_xla = tf.function(_hard, jit_compile=True, reduce_retracing=True, autograph=False)
_soft_xla = tf.function(_soft, jit_compile=True, reduce_retracing=True, autograph=False)


def check_jit_compile(jit_compile: bool | str) -> bool | str:
    """``jit_compile`` as stored: ``"auto"``, or a bool; any other string is refused by name.

    Example:
        >>> check_jit_compile("auto"), check_jit_compile(1)
        ('auto', True)
    """
    if isinstance(jit_compile, str):
        if jit_compile != "auto":
            raise ValueError(f"jit_compile must be True, False or 'auto', got {jit_compile!r}")
        return jit_compile
    return bool(jit_compile)


def use_xla(jit_compile: bool | str) -> bool:
    """Whether a mix runs as one XLA computation: ``True`` / ``False``, or ``"auto"``: in graph mode only.

    Example:
        >>> use_xla("auto"), use_xla(False)  # eagerly: XLA would compile once per new input shape
        (False, False)
    """
    value = check_jit_compile(jit_compile)
    return not tf.executing_eagerly() if value == "auto" else value


def hard_mix_batch(
    images: tf.Tensor,
    masks: tf.Tensor,
    superpixels: tf.Tensor,
    partner: tf.Tensor,
    picked: tf.Tensor,
    num_segments: tf.Tensor,
    maps: tf.Tensor | None = None,
    num_classes: int | None = None,
    jit_compile: bool | str = True,
) -> Mixed:
    """Hard mixing of a canonical batch: the partner's picked superpixels pasted into images, masks and maps.

    Args:
        images: ``[B, H, W, C]``; superpixels: int32 ``[B, H, W]``.
        masks: float ``[B, H, W, K]``, or int32 class ids ``[B, H, W]`` with ``num_classes``
            (one-hot encoded inside the kernel); the output masks are float ``[B, H, W, K]``.
        partner: ``[B]`` partner order. picked: bool ``[B, N]`` over the partner's superpixel ids.
        num_segments: ``N`` (int32 scalar), the id slots per image; offsets the partner's ids.
        maps: optional float ``[B, H, W]`` map pasted with the same region.
        num_classes: the number of classes when ``masks`` holds class ids.
        jit_compile: run as one XLA computation (default), as plain ops (``False``), or ``"auto"`` (see
            :func:`use_xla`).

    Example:
        >>> import tensorflow as tf
        >>> a = tf.concat([tf.zeros((1, 2, 2, 1)), tf.ones((1, 2, 2, 1))], 0)
        >>> sp = tf.constant([[[0, 0], [1, 1]]] * 2)
        >>> out = hard_mix_batch(a, a, sp, tf.constant([1, 0]), tf.constant([[False, True]] * 2), 2)
        >>> out.images[0, ..., 0].numpy()
        array([[0., 0.],
               [1., 1.]], dtype=float32)
    """
    fn = _hard_xla if use_xla(jit_compile) else _hard
    num_segments = tf.cast(num_segments, tf.int32)
    return Mixed(*fn(images, masks, superpixels, partner, pad_segments(picked), num_segments, maps, num_classes))


def soft_mix_batch(
    images: tf.Tensor,
    masks: tf.Tensor,
    superpixels: tf.Tensor,
    partner: tf.Tensor,
    picked: tf.Tensor,
    num_segments: tf.Tensor,
    saliency: tf.Tensor | None = None,
    draws: tf.Tensor | None = None,
    maps: tf.Tensor | None = None,
    num_classes: int | None = None,
    jit_compile: bool | str = True,
    soft_lambda: str = "mean",
) -> Mixed:
    """Soft mixing of a canonical batch: ``(1-λ)·A + λ·B`` with λ constant on each mixed superpixel.

    λ comes from ``saliency`` ``[B, H, W]`` (:func:`mixing.saliency_coefficients`) or,
    when ``draws`` ``[B, 2N]`` is given, from one draw per mixed superpixel id.
    Other arguments as in :func:`hard_mix_batch`; ``maps`` is blended with the same λ; ``soft_lambda`` as in
    :func:`soft_coefficients`.

    Example:
        >>> import tensorflow as tf
        >>> a = tf.concat([tf.zeros((1, 1, 2, 1)), tf.ones((1, 1, 2, 1))], 0)
        >>> sp = tf.zeros((2, 1, 2), tf.int32)
        >>> out = soft_mix_batch(a, a, sp, tf.constant([1, 0]), tf.ones((2, 1), bool), 1,
        ...                      draws=tf.fill((2, 2), 0.25))
        >>> out.images[:, 0, 0, 0].numpy()
        array([0.25, 0.75], dtype=float32)
    """
    if (saliency is None) == (draws is None):
        raise ValueError("soft_mix_batch needs exactly one of `saliency` and `draws`")
    fn = _soft_xla if use_xla(jit_compile) else _soft
    num_segments = tf.cast(num_segments, tf.int32)
    if draws is not None:
        draws = pad_segments(tf.cast(draws, tf.float32), 2 * SEGMENT_BUCKET)
    return Mixed(*fn(images, masks, superpixels, partner, pad_segments(picked), num_segments, saliency, draws, maps,
                     num_classes, soft_lambda))
