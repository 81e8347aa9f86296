"""Reference augmentations for segmentation (what ``keras-hsmix compare`` sets HSMix against), all keeping
the masks valid labels.

* :class:`CutMixSeg` — square CutMix (Yun et al., 2019) with the masks cut the same way, written on the
  library's mixing core (:func:`keras_hsmix.ops.mixing.hard_mix` with a rectangle as the region).
* :class:`MixUpSeg` — MixUp (Zhang et al., 2018) with one λ ~ Beta(α, α) per sample broadcast to all
  pixels, on :func:`keras_hsmix.ops.mixing.soft_mix`; the one-hot masks become soft labels.
* :class:`KerasImageAugment` — wraps Keras' ``RandAugment`` / ``AugMix`` so that the masks stay valid:
  masks go through the layer one-hot (geometric ops move them with the image; AugMix's blends of
  one-hot maps are convex combinations, i.e. soft labels), then are clipped and renormalised to sum 1.

All take the same dicts as :class:`keras_hsmix.HardMix` (``{"images", "segmentation_masks"}``, class ids
with ``num_classes`` or float masks with ``num_classes=None``) and return float32 one-hot / soft masks
``[B, H, W, K]``. Other keys (e.g. ``"superpixels"``) are dropped from the output, since the
baselines do not keep them consistent.
"""

from __future__ import annotations

from typing import Any

import keras
import tensorflow as tf

from keras_hsmix.ops import mixing
from keras_hsmix.ops.masks import to_soft_masks

IMAGES = "images"
MASKS = "segmentation_masks"


def _check_batch(layer: keras.layers.Layer, data: dict) -> tuple[tf.Tensor, tf.Tensor]:
    if not isinstance(data, dict) or IMAGES not in data or MASKS not in data:
        raise ValueError(f"{type(layer).__name__} expects a dict with '{IMAGES}' and '{MASKS}'")
    images = tf.convert_to_tensor(data[IMAGES])
    if images.shape.rank != 4:
        raise ValueError(f"{IMAGES}: expected a batch [B, H, W, C], got shape {images.shape}")
    masks = to_soft_masks(data[MASKS], layer.num_classes)
    return images, masks


def _beta(shape: tf.Tensor, alpha: float, seed: Any) -> tf.Tensor:
    """Beta(α, α) draws from two Gamma draws (works in tf.data graphs)."""
    a = keras.random.gamma(shape, alpha, seed=seed)
    b = keras.random.gamma(shape, alpha, seed=seed)
    return tf.cast(a / tf.maximum(a + b, 1e-12), tf.float32)


def rectangle_region(height: int | tf.Tensor, width: int | tf.Tensor, lam: tf.Tensor,
                     centre_y: tf.Tensor, centre_x: tf.Tensor) -> tf.Tensor:
    """Boolean ``[B, H, W]`` CutMix boxes: side ratio ``sqrt(1 - λ)``, centred at (cy, cx) in [0, 1), clipped.

    Example:
        >>> import tensorflow as tf
        >>> r = rectangle_region(4, 4, tf.constant([0.75]), tf.constant([0.5]), tf.constant([0.5]))
        >>> int(tf.reduce_sum(tf.cast(r, tf.int32)))
        4
    """
    h = tf.cast(height, tf.float32)
    w = tf.cast(width, tf.float32)
    ratio = tf.sqrt(tf.clip_by_value(1.0 - lam, 0.0, 1.0))
    cut_h, cut_w = tf.round(h * ratio), tf.round(w * ratio)
    cy, cx = tf.floor(centre_y * h), tf.floor(centre_x * w)
    y0 = tf.clip_by_value(cy - tf.floor(cut_h / 2), 0.0, h)
    y1 = tf.clip_by_value(cy - tf.floor(cut_h / 2) + cut_h, 0.0, h)
    x0 = tf.clip_by_value(cx - tf.floor(cut_w / 2), 0.0, w)
    x1 = tf.clip_by_value(cx - tf.floor(cut_w / 2) + cut_w, 0.0, w)
    rows = tf.range(h)[tf.newaxis, :, tf.newaxis]
    cols = tf.range(w)[tf.newaxis, tf.newaxis, :]
    inside_y = (rows >= y0[:, None, None]) & (rows < y1[:, None, None])
    inside_x = (cols >= x0[:, None, None]) & (cols < x1[:, None, None])
    return inside_y & inside_x


class _MixBaseline(keras.layers.Layer):
    def __init__(self, num_classes: int | None = None, alpha: float = 1.0, rate: float = 1.0,
                 seed: int | None = None, **kwargs: Any) -> None:
        kwargs.setdefault("autocast", False)
        super().__init__(**kwargs)
        if alpha <= 0:
            raise ValueError(f"alpha must be > 0, got {alpha}")
        if not 0.0 <= rate <= 1.0:
            raise ValueError(f"rate must lie in [0, 1], got {rate}")
        self.num_classes = None if num_classes is None else int(num_classes)
        self.alpha = float(alpha)
        self.rate = float(rate)
        self.seed = seed
        self.generator = keras.random.SeedGenerator(seed)
        self.built = True

    def call(self, data: dict, training: bool = True) -> dict:
        images, masks = _check_batch(self, data)
        if not training:
            return {IMAGES: images, MASKS: masks}
        batch = tf.shape(images)[0]
        partner = tf.cast(keras.random.shuffle(tf.range(batch), seed=self.generator), tf.int32)
        lam = _beta(tf.reshape(batch, [1]), self.alpha, self.generator)
        apply = keras.random.uniform(tf.reshape(batch, [1]), seed=self.generator) < self.rate
        mixed_images, mixed_masks = self.mix_pairs(images, masks, partner, lam, apply)
        return {IMAGES: mixed_images, MASKS: mixed_masks}

    def mix_pairs(self, images: tf.Tensor, masks: tf.Tensor, partner: tf.Tensor, lam: tf.Tensor,
                  apply: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        """Mixes each sample with ``images[partner]`` (λ per sample; samples where ``apply`` is False unchanged)."""
        raise NotImplementedError

    def get_config(self) -> dict:
        config = super().get_config()
        config.update({"num_classes": self.num_classes, "alpha": self.alpha, "rate": self.rate, "seed": self.seed})
        return config


@keras.saving.register_keras_serializable(package="keras_hsmix")
class CutMixSeg(_MixBaseline):
    """Square CutMix for segmentation: a random box of the partner is pasted into image and mask.

    Per sample, λ ~ Beta(α, α) (α = 1: uniform, as Yun et al.); the box has sides ``sqrt(1-λ)`` of the
    image's and a uniform centre (clipped at the border). Each sample is mixed with probability ``rate``
    (Yun et al. used 0.5). Masks stay hard one-hot labels.

    Example:
        >>> import numpy as np
        >>> out = CutMixSeg(num_classes=2, seed=0)({"images": np.random.rand(4, 16, 16, 3).astype("float32"),
        ...                                         "segmentation_masks": np.random.randint(0, 2, (4, 16, 16))})
        >>> out["segmentation_masks"].shape
        TensorShape([4, 16, 16, 2])
    """

    def __init__(self, num_classes: int | None = None, alpha: float = 1.0, rate: float = 0.5,
                 seed: int | None = None, **kwargs: Any) -> None:
        super().__init__(num_classes, alpha, rate, seed, **kwargs)

    def mix_pairs(self, images: tf.Tensor, masks: tf.Tensor, partner: tf.Tensor, lam: tf.Tensor,
                  apply: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        shape = tf.shape(images)
        cy = keras.random.uniform(tf.reshape(shape[0], [1]), seed=self.generator)
        cx = keras.random.uniform(tf.reshape(shape[0], [1]), seed=self.generator)
        region = rectangle_region(shape[1], shape[2], lam, cy, cx) & apply[:, None, None]
        return mixing.hard_mix(images, masks, partner, region)


@keras.saving.register_keras_serializable(package="keras_hsmix")
class MixUpSeg(_MixBaseline):
    """MixUp for segmentation: ``(1-λ)·A + λ·B`` for images and one-hot masks, one λ per sample.

    λ ~ Beta(α, α) per sample (α = 0.2: Zhang et al.'s ImageNet setting and Keras' ``MixUp`` default),
    broadcast to all pixels; each sample is mixed with probability ``rate``.

    Example:
        >>> import numpy as np
        >>> out = MixUpSeg(num_classes=2, seed=0)({"images": np.random.rand(4, 16, 16, 3).astype("float32"),
        ...                                        "segmentation_masks": np.random.randint(0, 2, (4, 16, 16))})
        >>> float(out["segmentation_masks"].numpy().sum(-1).mean())
        1.0
    """

    def __init__(self, num_classes: int | None = None, alpha: float = 0.2, rate: float = 1.0,
                 seed: int | None = None, **kwargs: Any) -> None:
        super().__init__(num_classes, alpha, rate, seed, **kwargs)

    def mix_pairs(self, images: tf.Tensor, masks: tf.Tensor, partner: tf.Tensor, lam: tf.Tensor,
                  apply: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        lam = tf.where(apply, lam, tf.zeros_like(lam))
        return mixing.soft_mix(images, masks, partner, tf.broadcast_to(lam[:, None, None], tf.shape(images)[:3]))


@keras.saving.register_keras_serializable(package="keras_hsmix")
class KerasImageAugment(keras.layers.Layer):
    """Keras' ``RandAugment`` or ``AugMix`` on a segmentation batch with valid masks.

    Masks are passed through the Keras layer one-hot, so geometric ops move them with the image and
    AugMix's blends give convex combinations of one-hot maps; the result is clipped to [0, 1] and
    renormalised to sum 1 over classes (pixels whose classes all vanished become background). Class
    ids are never blended, which is what breaks the raw layer (``AugMix`` turns ids {0, 1, 2} into many
    values that are no class).

    Args:
        kind: ``"randaugment"`` or ``"augmix"``.
        num_classes: number of classes of class-id masks (``None`` for float masks).
        value_range: value range of the images.
        seed: seed of the Keras layer.
        **layer_kwargs: passed to the Keras layer (e.g. ``num_ops``, ``factor``).

    Example:
        >>> import numpy as np
        >>> layer = KerasImageAugment("augmix", num_classes=3, seed=0)
        >>> out = layer({"images": np.random.rand(2, 32, 32, 3).astype("float32"),
        ...              "segmentation_masks": np.random.randint(0, 3, (2, 32, 32))})
        >>> np.allclose(out["segmentation_masks"].numpy().sum(-1), 1.0)
        True
    """

    KINDS = ("randaugment", "augmix")

    def __init__(self, kind: str = "randaugment", num_classes: int | None = None,
                 value_range: tuple[float, float] = (0.0, 1.0), seed: int | None = None,
                 **layer_kwargs: Any) -> None:
        base_kwargs = {k: layer_kwargs.pop(k) for k in ("name", "dtype", "trainable") if k in layer_kwargs}
        base_kwargs.setdefault("autocast", False)
        super().__init__(**base_kwargs)
        if kind not in self.KINDS:
            raise ValueError(f"kind must be one of {self.KINDS}, got {kind!r}")
        self.kind = kind
        self.num_classes = None if num_classes is None else int(num_classes)
        self.value_range = tuple(float(v) for v in value_range)
        self.seed = seed
        self.layer_kwargs = dict(layer_kwargs)
        cls = keras.layers.RandAugment if kind == "randaugment" else keras.layers.AugMix
        self.layer = cls(value_range=self.value_range, seed=seed, **layer_kwargs)
        self.built = True

    def call(self, data: dict, training: bool = True) -> dict:
        images, masks = _check_batch(self, data)
        if not training:
            return {IMAGES: images, MASKS: masks}
        dtype = images.dtype
        out = self.layer({IMAGES: tf.cast(images, tf.float32), MASKS: masks}, training=True)
        new_masks = tf.clip_by_value(tf.cast(out[MASKS], tf.float32), 0.0, 1.0)
        total = tf.reduce_sum(new_masks, axis=-1, keepdims=True)
        background = tf.one_hot(tf.zeros(tf.shape(new_masks)[:3], tf.int32), tf.shape(new_masks)[-1])
        new_masks = tf.where(total > 1e-6, new_masks / tf.maximum(total, 1e-6), background)
        new_images = tf.clip_by_value(tf.cast(out[IMAGES], tf.float32), self.value_range[0], self.value_range[1])
        return {IMAGES: tf.cast(new_images, dtype) if not dtype.is_integer else tf.cast(tf.round(new_images), dtype),
                MASKS: new_masks}

    def get_config(self) -> dict:
        config = super().get_config()
        config.update({"kind": self.kind, "num_classes": self.num_classes, "value_range": self.value_range,
                       "seed": self.seed, **self.layer_kwargs})
        return config
