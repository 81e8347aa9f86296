"""TensorFlow under every Keras backend: the draws of the mixing layers and the backend checks.

The mixing ops are TensorFlow ops, and a ``tf.data`` graph runs TensorFlow whatever Keras'
backend is. Keras' own preprocessing layers (``keras.layers.MixUp``, ``CutMix``) switch to their
TensorFlow implementation inside ``tf.data`` and draw from a seed generator whose state is a
TensorFlow variable; the mixing layers do the same, with public APIs only:

- the draws (:func:`uniform`, :func:`shuffle`, :func:`beta`) are the TensorFlow backend's
  ``keras.random.uniform`` / ``shuffle`` / ``beta``, written in TensorFlow ops, so they run in a
  ``tf.data`` graph on any backend and give, on the TensorFlow backend, exactly the values
  ``keras.random`` gives (``tests/test_backend.py`` checks it);
- the seed stream is the layer's ``keras.random.SeedGenerator`` on the TensorFlow backend, and
  :class:`TFSeedGenerator` (the same ``[seed, counter]`` stream in a ``tf.Variable``) on the others,
  so a seed gives the same mixes on every backend.
"""

from __future__ import annotations

import random
from typing import Any

import keras
import numpy as np
import tensorflow as tf

#: What a call that needs TensorFlow outside tf.data says on another backend.
PIPELINE_HINT = (
    "on this backend, mix in the tf.data pipeline instead (dataset.map(layer), or "
    "keras_hsmix.data.make_pipeline(dataset, mixer='hsmix')) and train the model with fit on its output"
)


def backend_is_tensorflow() -> bool:
    """Whether Keras runs on its TensorFlow backend."""
    return keras.backend.backend() == "tensorflow"


def require_tensorflow_backend(what: str, why: str) -> None:
    """Raises a ``RuntimeError`` naming ``what`` and ``why`` unless Keras runs on TensorFlow."""
    if not backend_is_tensorflow():
        raise RuntimeError(
            f"{what} needs Keras' TensorFlow backend ({why}), but Keras runs on {keras.backend.backend()!r}: "
            f"set KERAS_BACKEND=tensorflow before importing keras, or {PIPELINE_HINT}"
        )


def in_tf_graph() -> bool:
    """Whether TensorFlow is tracing a graph now (a ``tf.data`` map function, a ``tf.function``)."""
    return not tf.executing_eagerly()


class TFSeedGenerator:
    """The stream of ``keras.random.SeedGenerator`` held in a ``tf.Variable``, for backends other than TensorFlow.

    The state is ``[seed, counter]``; :meth:`next` returns it and adds 1 to the counter, as Keras'
    generator does. Being a TensorFlow variable, it advances inside a ``tf.data`` graph, so two
    epochs of a pipeline differ while a seed repeats the run.
    """

    def __init__(self, seed: int | None = None) -> None:
        seed = random.randint(1, int(1e9)) if seed is None else int(seed)
        with tf.init_scope():  # created eagerly even when first needed while tf.data traces
            self.state = tf.Variable([seed, 0], dtype=tf.int64, trainable=False, name="seed_generator_state")

    def next(self) -> tf.Tensor:
        value = self.state * 1  # a copy, read before the update
        self.state.assign_add(tf.constant([0, 1], tf.int64))
        return value


def draw_seed(seed: Any) -> tf.Tensor:
    """The int32 ``[2]`` seed of one draw, as the TensorFlow backend of ``keras.random`` derives it.

    ``seed``: an int (the same draw every time), a ``keras.random.SeedGenerator`` whose state is a
    TensorFlow variable (the TensorFlow backend) or a :class:`TFSeedGenerator`.
    """
    if isinstance(seed, (int, np.integer)) and not isinstance(seed, bool):
        value = tf.constant([int(seed), 0], tf.int64)
    elif hasattr(seed, "next"):
        value = seed.next()
        if not tf.is_tensor(value):
            raise TypeError(
                f"seed: {type(seed).__name__} of the {keras.backend.backend()!r} backend cannot seed the mixing, "
                "which runs in TensorFlow: pass an int seed, or leave seed=None to use the layer's own generator"
            )
    else:
        raise TypeError(f"seed: expected an int or a seed generator, got {type(seed).__name__}")
    if value.dtype == tf.int32:
        return value
    # Keras' TensorFlow backend keeps the state in int64 and folds it into int32 for the stateless ops.
    return tf.cast(tf.math.floormod(value, tf.int32.max - 1), tf.int32)


def uniform(shape: Any, seed: Any) -> tf.Tensor:
    """``keras.random.uniform(shape, seed=seed)`` (float32 in ``[0, 1)``) in TensorFlow ops.

    Example (on the TensorFlow backend):
        >>> import keras
        >>> bool((uniform((3,), 7) == keras.random.uniform((3,), seed=7)).numpy().all())
        True
    """
    return tf.random.stateless_uniform(
        shape=shape, minval=tf.cast(0.0, tf.float32), maxval=tf.cast(1.0, tf.float32), dtype=tf.float32,
        seed=draw_seed(seed),
    )


def shuffle(values: tf.Tensor, seed: Any) -> tf.Tensor:
    """``keras.random.shuffle(values, seed=seed)`` along the first axis, in TensorFlow ops."""
    keys = tf.random.stateless_uniform(shape=[tf.shape(values)[0]], seed=draw_seed(seed))
    return tf.gather(values, tf.argsort(keys), axis=0)


def beta(shape: Any, alpha: float, beta_: float, seed: Any) -> tf.Tensor:
    """``keras.random.beta(shape, alpha, beta_, seed=seed)`` (float32) in TensorFlow ops: ``X / (X + Y)``
    with ``X ~ Gamma(alpha)``, ``Y ~ Gamma(beta_)`` drawn with the seeds ``s`` and ``s + 12``, as Keras does."""
    seed_1 = draw_seed(seed)
    seed_2 = seed_1 + 12
    a = tf.broadcast_to(tf.convert_to_tensor(alpha, tf.float32), shape)
    b = tf.broadcast_to(tf.convert_to_tensor(beta_, tf.float32), shape)
    gamma_a = tf.random.stateless_gamma(shape=shape, seed=seed_1, alpha=a, dtype=tf.float32)
    gamma_b = tf.random.stateless_gamma(shape=shape, seed=seed_2, alpha=b, dtype=tf.float32)
    return gamma_a / (gamma_a + gamma_b)


def to_tensorflow(value: Any, where: str) -> Any:
    """An array of any backend (or NumPy) as a TensorFlow tensor, for an eager call on another backend."""
    if tf.is_tensor(value):
        return value
    try:
        return tf.convert_to_tensor(keras.ops.convert_to_numpy(value))
    except Exception as error:  # a JAX tracer, a symbolic KerasTensor, a torch tensor that needs grad
        raise RuntimeError(
            f"{where}: got {type(value).__name__}, which has no value now. The mixing layers run TensorFlow ops, "
            f"so on the {keras.backend.backend()!r} backend they take concrete arrays (an eager call) or run "
            "inside a tf.data pipeline, not inside a model, a jit-compiled function or a traced step: "
            f"{PIPELINE_HINT}"
        ) from error


def to_backend(value: Any) -> Any:
    """A TensorFlow tensor as a tensor of Keras' backend (dtype kept)."""
    return keras.ops.convert_to_tensor(value.numpy()) if tf.is_tensor(value) else value
