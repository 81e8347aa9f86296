"""Augmentation of single samples: geometric (images, masks and superpixels alike) and colour (images only)."""

from __future__ import annotations

import tensorflow as tf

SPATIAL_KEYS = ("images", "segmentation_masks", "superpixels", "saliency")


def with_element_draws(dataset: tf.data.Dataset, seed: int | None = None) -> tf.data.Dataset:
    """Pairs each element with an int64 draw from a seeded stream: ``(element, draw)``.

    The stream (``tf.data.Dataset.random``) is redrawn at every iteration (epoch), so
    each epoch gets new draws; with a ``seed`` every run gets the same ones. Turn a
    draw into stateless seeds with :func:`element_keys`: unlike stateful
    ``tf.random`` ops, the result does not depend on the order in which a parallel
    ``map`` happens to run its elements.

    Example:
        >>> import tensorflow as tf
        >>> ds = with_element_draws(tf.data.Dataset.range(3), seed=0)
        >>> [int(x) for x, _ in ds]
        [0, 1, 2]
    """
    draws = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True)
    return tf.data.Dataset.zip(dataset, draws)


def element_keys(draw: tf.Tensor, count: int) -> tf.Tensor:
    """``count`` distinct stateless seeds ``[count, 2]`` from one draw of :func:`with_element_draws`.

    Example:
        >>> element_keys(tf.constant(7, tf.int64), 2).numpy().tolist()
        [[7, 0], [7, 1]]
    """
    draw = tf.cast(draw, tf.int64)
    return tf.stack([tf.fill([count], draw), tf.range(count, dtype=tf.int64)], axis=1)


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


COLOR_JITTER_RANGES = {"brightness": 0.1, "contrast": 0.2, "saturation": 0.2, "hue": 0.05}


def random_color_jitter(element: dict, strength: float = 1.0, seed: tf.Tensor | None = None) -> dict:
    """Random brightness, contrast, saturation and hue of the image; masks and all other keys untouched.

    A light stain / colour augmentation for histology (H&E slides differ in stain from lab to lab
    and slide to slide). At ``strength=1``: brightness ``+U(-0.1, 0.1)``, contrast and saturation
    ``×U(0.8, 1.2)``, hue ``+U(-0.05, 0.05)`` turns (``COLOR_JITTER_RANGES``, all scaled by
    ``strength``), drawn once per image with ``tf.image.adjust_*``, then clipped to ``[0, 1]``
    (images in ``[0, 1]``, as the loaders make them). Saturation and hue apply to RGB images only;
    other channel counts get brightness and contrast. Pure TensorFlow: runs on ``tf.data`` service
    workers.

    Args:
        element: one unbatched sample with ``images`` ``[H, W, C]`` float in ``[0, 1]``.
        strength: scales every range; ``0`` returns the element unchanged.
        seed: optional stateless seed, shape ``[2]`` int; random when ``None``.

    Example:
        >>> import tensorflow as tf
        >>> element = {"images": tf.fill((4, 4, 3), 0.5), "segmentation_masks": tf.ones((4, 4, 1), tf.int32)}
        >>> out = random_color_jitter(element, seed=tf.constant([1, 2]))
        >>> bool(tf.reduce_all(out["segmentation_masks"] == 1)), bool(tf.reduce_any(out["images"] != 0.5))
        (True, True)
    """
    if not strength >= 0:
        raise ValueError(f"color jitter strength must be >= 0, got {strength}")
    if strength == 0:
        return element
    images = tf.convert_to_tensor(element["images"])
    if not images.dtype.is_floating:
        raise TypeError(f"color jitter needs float images in [0, 1], got dtype {images.dtype.name}")
    if seed is None:
        draws = tf.random.uniform([4], -1.0, 1.0)
    else:
        draws = tf.random.stateless_uniform([4], seed=seed, minval=-1.0, maxval=1.0)
    r = {k: v * strength for k, v in COLOR_JITTER_RANGES.items()}
    out = tf.image.adjust_brightness(images, draws[0] * r["brightness"])
    out = tf.image.adjust_contrast(out, 1.0 + draws[1] * r["contrast"])
    if images.shape[-1] == 3:
        out = tf.image.adjust_saturation(out, 1.0 + draws[2] * r["saturation"])
        out = tf.image.adjust_hue(out, draws[3] * r["hue"])
    return {**element, "images": tf.clip_by_value(out, 0.0, 1.0)}
