"""Geometric augmentation applied to images, masks and superpixels alike."""

from __future__ import annotations

import tensorflow as tf

SPATIAL_KEYS = ("images", "segmentation_masks", "superpixels", "saliency")


def random_flip_rotate(element: dict, seed: tf.Tensor | None = None) -> dict:
    """Random horizontal / vertical flips and, for square images, a random 90° rotation.

    The same draw applies to every spatial key of one element (``images``,
    ``segmentation_masks``, ``superpixels``, ``saliency``), so cached superpixels
    stay valid. Pure TensorFlow: runs on ``tf.data`` service workers.

    Args:
        element: one unbatched sample, each spatial value ``[H, W]`` or ``[H, W, C]``.
        seed: optional stateless seed, shape ``[2]`` int; random when ``None``.

    Example:
        >>> import tensorflow as tf
        >>> out = random_flip_rotate({"images": tf.zeros((8, 8, 3)),
        ...                           "segmentation_masks": tf.zeros((8, 8, 1), tf.int32)})
        >>> out["images"].shape
        TensorShape([8, 8, 3])
    """
    if seed is None:
        draws = tf.random.uniform([3])
    else:
        draws = tf.random.stateless_uniform([3], seed=seed)
    images = element["images"]
    square = images.shape[0] is not None and images.shape[0] == images.shape[1]
    out = dict(element)
    for key in SPATIAL_KEYS:
        if key not in element:
            continue
        value = tf.convert_to_tensor(element[key])
        expanded = value.shape.rank == 2
        if expanded:
            value = value[..., tf.newaxis]
        value = tf.cond(draws[0] < 0.5, lambda v=value: tf.reverse(v, [1]), lambda v=value: v)
        value = tf.cond(draws[1] < 0.5, lambda v=value: tf.reverse(v, [0]), lambda v=value: v)
        if square:
            value = tf.cond(draws[2] < 0.5, lambda v=value: tf.transpose(v, [1, 0, 2]), lambda v=value: v)
        out[key] = value[..., 0] if expanded else value
    return out
