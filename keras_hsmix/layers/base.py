"""Shared machinery of the mixing layers: input checks, draws, output dict.

Modelled on Keras' image preprocessing layers: one method draws the random
transformation of a call (:meth:`BaseMix.get_random_transformation`), another
applies it to every key (:meth:`BaseMix.transform`), so images, masks,
superpixels and saliency can never disagree.
"""

from __future__ import annotations

import warnings
from typing import Any, Callable, Sequence

import keras
import tensorflow as tf

from keras_hsmix.layers import backend
from keras_hsmix.ops.checks import assert_finite
from keras_hsmix.ops.fused import check_jit_compile
from keras_hsmix.ops.masks import canonical_masks, one_hot_masks
from keras_hsmix.ops.segments import num_segments
from keras_hsmix.ops.superpixels import DEFAULT_N_SEGMENTS, check_n_segments, slic_superpixels

IMAGES = "images"
MASKS = "segmentation_masks"
SUPERPIXELS = "superpixels"
SALIENCY = "saliency"


def _check_probability(name: str, value: float) -> float:
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number in [0, 1], got {value!r}") from None
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{name} must lie in [0, 1], got {value}")
    return value


def _squeeze_map(name: str, value: tf.Tensor) -> tf.Tensor:
    """[B, H, W, 1] -> [B, H, W]; checks the rank."""
    if value.shape.rank == 4:
        if value.shape[-1] != 1:
            raise ValueError(f"{name}: expected [B, H, W] or [B, H, W, 1], got shape {value.shape}")
        value = value[..., 0]
    if value.shape.rank != 3:
        raise ValueError(f"{name}: expected [B, H, W] or [B, H, W, 1], got shape {value.shape}")
    return value


DATA_FORMATS = ("channels_last", "channels_first")


def _check_data_format(data_format: str | None) -> str:
    """``None`` -> Keras' ``image_data_format()``; otherwise one of :data:`DATA_FORMATS`."""
    data_format = keras.config.image_data_format() if data_format is None else data_format
    if data_format not in DATA_FORMATS:
        raise ValueError(f"data_format must be one of {DATA_FORMATS} or None, got {data_format!r}")
    return data_format


def require_channels_last(mixer: Any, where: str) -> None:
    """Raises unless ``mixer`` (a mixing layer, or any callable) mixes channels-last batches, as ``where`` builds."""
    data_format = getattr(mixer, "data_format", "channels_last")
    if data_format != "channels_last":
        raise ValueError(
            f"mixer {mixer.name!r} has data_format={data_format!r}, but {where} builds channels-last batches "
            "[B, H, W, C]: pass a mixer with data_format='channels_last'"
        )


def _channels_last(value: Any) -> Any:
    """``[B, C, H, W]`` -> ``[B, H, W, C]``; other ranks unchanged (the checks then name them)."""
    value = tf.convert_to_tensor(value)
    return tf.transpose(value, [0, 2, 3, 1]) if value.shape.rank == 4 else value


class BaseMix(keras.layers.Layer):
    """Base class of :class:`HardMix`, :class:`SoftMix` and :class:`HSMix`.

    Subclasses implement :meth:`transform`. Inputs are dicts with ``"images"``
    and ``"segmentation_masks"`` and optionally ``"superpixels"`` (SLIC is run
    when absent) and ``"saliency"``. Other keys pass through unchanged.

    ``data_format`` works as in Keras' image layers (default: Keras'
    ``image_data_format()``). With ``"channels_first"`` the layer takes images
    ``[B, C, H, W]``, masks ``[B, H, W]``, ``[B, 1, H, W]`` or ``[B, K, H, W]``
    and superpixels / saliency ``[B, H, W]`` or ``[B, 1, H, W]``, and returns
    images ``[B, C, H, W]`` and masks ``[B, K, H, W]`` (maps ``[B, H, W]``);
    the mix is the channels-last mix of the transposed batch.

    Seeds and ``tf.data``: the draws of each call come from the layer's
    ``keras.random.SeedGenerator``, a variable that every call reads and advances. With a
    ``seed``, the sequence of draws is fixed, so results repeat run after run whenever the
    calls come in a fixed order: eager calls, a Keras model, or
    ``dataset.batch(4).map(layer)`` (a sequential map; each epoch still draws anew).
    In a *parallel* map, ``dataset.batch(4).map(layer, num_parallel_calls=tf.data.AUTOTUNE)``,
    the batches reach the generator in the order their threads run, so which batch gets
    which draw changes from run to run although the seed is set: the output is **not**
    repeatable (Keras' own ``RandomFlip`` and ``MixUp`` behave the same).
    ``deterministic=True`` does not help: it orders the outputs, not the draws. For a
    repeatable pipeline, map the layer without ``num_parallel_calls`` (the mix is cheap
    next to SLIC, which :func:`keras_hsmix.data.add_superpixels` runs in parallel before),
    or use :func:`keras_hsmix.data.make_pipeline` / :func:`keras_hsmix.data.batch_and_mix`
    with a seed, which do so.
    """

    def __init__(
        self,
        p: float = 0.5,
        num_classes: int | None = None,
        n_segments: int | Sequence[int] = DEFAULT_N_SEGMENTS,
        compactness: float = 10.0,
        seed: int | None = None,
        jit_compile: bool | str = "auto",
        data_format: str | None = None,
        **kwargs: Any,
    ) -> None:
        # Never let Keras cast integer masks / superpixel ids or images.
        kwargs.setdefault("autocast", False)
        super().__init__(**kwargs)
        self.p = _check_probability("p", p)
        if num_classes is not None and int(num_classes) < 1:
            raise ValueError(f"num_classes must be >= 1 or None, got {num_classes}")
        self.num_classes = None if num_classes is None else int(num_classes)
        low, high = check_n_segments(n_segments)
        self.n_segments = low if low == high else (low, high)
        self.compactness = float(compactness)
        if not self.compactness > 0:  # SLIC's balance of colour and distance; <= 0 gives meaningless superpixels
            raise ValueError(f"compactness must be > 0, got {compactness!r}")
        self.seed = seed
        self.jit_compile = check_jit_compile(jit_compile)
        self.data_format = _check_data_format(data_format)
        self.generator = keras.random.SeedGenerator(seed)
        # On another backend the generator above holds that backend's state, which a tf.data graph cannot
        # advance: the draws then come from the same stream kept in a TensorFlow variable.
        self.tf_seed_generator = None if backend.backend_is_tensorflow() else backend.TFSeedGenerator(seed)
        self.supports_jit = False  # SLIC runs through tf.numpy_function.
        self.built = True  # no weights

    # ----------------------------------------------------------------- inputs
    def prepare_inputs(self, data: dict) -> dict:
        """Validates a batch and returns it in canonical form.

        Canonical form: images ``[B, H, W, C]`` (dtype kept); masks int32 class
        ids ``[B, H, W]`` when ``num_classes`` is set and the masks hold ids, else
        float32 ``[B, H, W, K]`` (see :func:`keras_hsmix.ops.masks.canonical_masks`;
        :meth:`transform` always returns float ``[B, H, W, K]``); superpixels int32
        ``[B, H, W]`` (computed with SLIC when absent); saliency float32
        ``[B, H, W]`` when given.
        """
        self._check_keys(data)
        out = dict(data)
        images = tf.convert_to_tensor(data[IMAGES])
        if images.shape.rank != 4:
            raise ValueError(f"{IMAGES}: expected a batch [B, H, W, C], got shape {images.shape}")
        if not (images.dtype.is_floating or images.dtype.is_integer):
            raise TypeError(f"{IMAGES}: unsupported dtype {images.dtype.name}")
        if images.dtype.is_floating:
            assert_finite(images, f"{IMAGES}: contains NaN or Inf")
        masks = canonical_masks(data[MASKS], self.num_classes)
        masks = self._check_same_size(MASKS, images, masks)
        out[IMAGES] = images
        out[MASKS] = masks

        if SUPERPIXELS in data:
            sp = _squeeze_map(SUPERPIXELS, tf.convert_to_tensor(data[SUPERPIXELS]))
            if sp.dtype.is_floating:  # tf.data / Keras may have cast ids to float
                sp = tf.round(sp)
            sp = tf.cast(sp, tf.int32)
            tf.debugging.assert_non_negative(sp, message=f"{SUPERPIXELS}: negative superpixel id")
        else:
            sp = slic_superpixels(images, self.draw_n_segments(tf.shape(images)[0]), self.compactness)
        sp = self._check_same_size(SUPERPIXELS, images, sp)
        out[SUPERPIXELS] = sp

        if SALIENCY in data:
            sal = tf.cast(_squeeze_map(SALIENCY, tf.convert_to_tensor(data[SALIENCY])), tf.float32)
            sal = self._check_same_size(SALIENCY, images, sal)
            # NaN would reach the mixed images; negative values give lambda outside [0, 1].
            assert_finite(sal, f"{SALIENCY}: contains NaN or Inf")
            tf.debugging.assert_non_negative(sal, message=f"{SALIENCY}: negative values (saliency must be >= 0)")
            out[SALIENCY] = sal
        return out

    def _check_keys(self, data: Any) -> None:
        """Raises a clear error unless ``data`` is a dict with images and masks."""
        if not isinstance(data, dict) or IMAGES not in data or MASKS not in data:
            got = f"keys {sorted(data)}" if isinstance(data, dict) else f"a {type(data).__name__}"
            raise ValueError(
                f"{type(self).__name__} expects a dict with '{IMAGES}' and '{MASKS}' "
                f"(optional '{SUPERPIXELS}', '{SALIENCY}'), got {got}; a mix needs the masks, "
                "since they are mixed like the images"
            )

    @staticmethod
    def _check_same_size(name: str, images: tf.Tensor, other: tf.Tensor) -> tf.Tensor:
        """Checks batch, height and width; returns ``other``, gated on the run-time check.

        When sizes are only known at run time, the returned tensor depends on the
        check, so that the clear message comes before any op that would fail on
        the mismatch with an obscure one.
        """
        a, b = images.shape[:3], other.shape[:3]
        # Compare every dimension known on both sides now (in tf.data the batch is often
        # unknown while height and width are), so a mismatch fails when the graph is built.
        if any(x is not None and y is not None and x != y for x, y in zip(a, b)):
            raise ValueError(
                f"{name}: shape {other.shape} does not match {IMAGES} shape {images.shape} "
                "(batch, height and width must agree)"
            )
        if not (a.is_fully_defined() and b.is_fully_defined()):
            check = tf.debugging.assert_equal(
                tf.shape(images)[:3], tf.shape(other)[:3],
                message=f"{name}: batch, height and width must match {IMAGES}",
            )
            if check is not None:  # graph mode: order the check before any use
                with tf.control_dependencies([check]):
                    return tf.identity(other)
        return other

    # ------------------------------------------------------------------ draws
    def seed_generator(self) -> Any:
        """The generator a call draws from: the layer's ``keras.random.SeedGenerator`` on the TensorFlow
        backend, else :attr:`tf_seed_generator` (the same stream, in a ``tf.Variable``)."""
        return self.generator if self.tf_seed_generator is None else self.tf_seed_generator

    def draw_n_segments(self, batch_size: tf.Tensor | int, seed: Any = None) -> tf.Tensor:
        """One SLIC ``n_segments`` per image, uniform over the layer's (inclusive) range, int32 ``[B]``.

        Used when a batch comes without superpixels; draws from the layer's seed generator.
        """
        seed = seed if seed is not None else self.seed_generator()
        low, high = check_n_segments(self.n_segments)
        if low == high:
            return tf.fill(tf.reshape(batch_size, [1]), tf.constant(low, tf.int32))
        u = backend.uniform(tf.reshape(batch_size, [1]), seed)
        return tf.minimum(low + tf.cast(tf.floor(u * (high - low + 1)), tf.int32), high)

    def get_random_transformation(self, data: dict, seed: Any = None) -> dict:
        """Draws the parameters of one call from a canonical batch.

        Returns a dict with ``partner`` ``[B]`` (a permutation of the batch),
        ``picked`` ``[B, N]`` (Bernoulli(p) per superpixel id of the partner) and
        ``num_segments`` (``N``, the id slots per image). The draws are TensorFlow ops (see
        :mod:`keras_hsmix.layers.backend`); ``seed``: an int or a seed generator (default: the layer's).
        """
        seed = seed if seed is not None else self.seed_generator()
        sp = data[SUPERPIXELS]
        batch = tf.shape(sp)[0]
        n = tf.maximum(num_segments(sp), 1)  # an empty batch has no ids: keep shapes valid
        partner = tf.cast(backend.shuffle(tf.range(batch), seed), tf.int32)
        picked = backend.uniform(tf.stack([batch, n]), seed) < self.p
        return {"partner": partner, "picked": picked, "num_segments": n}

    # ------------------------------------------------------------------- call
    def transform(
        self, data: dict, transformation: dict, saliency_fn: Callable[[dict], tf.Tensor] | None = None
    ) -> dict:
        """Applies one drawn transformation to a canonical batch.

        ``saliency_fn``: optional ``f(batch) -> [B, H, W]`` saliency for soft mixing (e.g. the
        Grad-CAM of the model in training), evaluated only when a soft mix runs; hard mixing ignores it.
        """
        raise NotImplementedError

    def mix(
        self,
        data: dict,
        saliency_fn: Callable[[dict], tf.Tensor] | None = None,
        seed: Any = None,
    ) -> dict:
        """The one mixing entry point: check a channels-last batch, draw once, transform.

        ``call``, :class:`keras_hsmix.HSMixModel`'s ``train_step`` and the ``tf.data`` service
        workers all mix through this method. Returns the canonical output (masks float
        ``[B, H, W, K]``, the mixed ``"superpixels"``) with every key of the canonical input.

        Args:
            data: ``{"images": [B, H, W, C], "segmentation_masks": ..., optional "superpixels", "saliency"}``.
            saliency_fn: see :meth:`transform`.
            seed: a ``keras.random.SeedGenerator`` (or seed) to draw from instead of the layer's own.

        Example:
            >>> import numpy as np
            >>> from keras_hsmix.layers import HardMix
            >>> out = HardMix(num_classes=2, n_segments=10, seed=0).mix(
            ...     {"images": np.random.rand(2, 16, 16, 3).astype("float32"),
            ...      "segmentation_masks": np.zeros((2, 16, 16), "int32")})
            >>> sorted(out), out["segmentation_masks"].shape
            (['images', 'segmentation_masks', 'superpixels'], TensorShape([2, 16, 16, 2]))
        """
        batch = self.prepare_inputs(data)
        return self.transform(batch, self.get_random_transformation(batch, seed), saliency_fn=saliency_fn)

    def unmixed(self, data: dict) -> dict:
        """A canonical batch as the output of a mix that changed nothing: masks float ``[B, H, W, K]``."""
        return {**data, MASKS: one_hot_masks(data[MASKS], self.num_classes)}

    @tf.autograph.experimental.do_not_convert  # graph ops only: no autograph conversion at each first trace
    def __call__(self, data: Any, *args: Any, **kwargs: Any) -> Any:
        """Keras' ``Layer.__call__`` on the TensorFlow backend; on another backend, TensorFlow directly.

        As Keras' own preprocessing layers do: inside a ``tf.data`` graph the layer runs in TensorFlow
        whatever the backend (Keras' ``__call__`` would convert the graph tensors to the backend's
        arrays); an eager call on another backend takes that backend's (or NumPy) arrays, mixes in
        TensorFlow on the CPU and returns arrays of the backend.
        """
        if backend.backend_is_tensorflow():
            return super().__call__(data, *args, **kwargs)
        if backend.in_tf_graph():
            return self.call(data, *args, **kwargs)
        self._check_keys(data)
        inputs = {k: backend.to_tensorflow(v, f"{type(self).__name__} input {k!r}") for k, v in data.items()}
        return {k: backend.to_backend(v) for k, v in self.call(inputs, *args, **kwargs).items()}

    def call(self, data: dict, training: bool = True) -> dict:
        if not training:
            return data
        self._check_keys(data)
        single = tf.convert_to_tensor(data[IMAGES]).shape.rank == 3
        if single:  # an unbatched sample: a batch of one is returned unmixed (as Keras' MixUp / CutMix do)
            self._warn_unbatched()
            data = {k: tf.convert_to_tensor(v)[tf.newaxis] for k, v in data.items()}
        first = self.data_format == "channels_first"
        if first:
            data = {k: _channels_last(v) if k in (IMAGES, MASKS, SUPERPIXELS, SALIENCY) else v for k, v in data.items()}
        out = self._restore_keys(data, self.mix(data))
        if first:
            out = {k: tf.transpose(v, [0, 3, 1, 2]) if k in (IMAGES, MASKS) else v for k, v in out.items()}
        if single:
            out = {k: v[0] for k, v in out.items()}
        return out

    def _warn_unbatched(self) -> None:
        """Warns once per layer: a sample mapped before ``batch()`` has no partner, so nothing is mixed."""
        if getattr(self, "_warned_unbatched", False):
            return
        self._warned_unbatched = True
        warnings.warn(
            f"{type(self).__name__} got an unbatched sample (images of rank 3): it has no partner to mix with "
            "and is returned unmixed. Mixing pairs images of one batch: call the layer on batches, e.g. "
            "dataset.batch(4).map(layer), not dataset.map(layer).batch(4).",
            UserWarning,
            stacklevel=2,
        )

    @staticmethod
    def _restore_keys(original: dict, out: dict) -> dict:
        """Returns exactly the keys the caller gave."""
        return {k: out[k] for k in original}

    def compute_output_shape(self, input_shape: dict) -> dict:
        shapes = dict(input_shape)
        masks = tuple(input_shape[MASKS])
        if self.num_classes is not None:
            if self.data_format == "channels_first":
                if len(masks) == len(tuple(input_shape[IMAGES])):  # [B, 1 or K, H, W]
                    masks = masks[:1] + masks[2:]
                shapes[MASKS] = masks[:1] + (self.num_classes,) + masks[1:]
            else:
                base = masks[:-1] if len(masks) == len(tuple(input_shape[IMAGES])) else masks
                shapes[MASKS] = tuple(base) + (self.num_classes,)
        return shapes

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(
            {
                "p": self.p,
                "num_classes": self.num_classes,
                "n_segments": self.n_segments,
                "compactness": self.compactness,
                "seed": self.seed,
                "jit_compile": self.jit_compile,
                "data_format": self.data_format,
            }
        )
        return config
