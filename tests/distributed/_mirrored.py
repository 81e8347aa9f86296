"""Run as a script: training steps on 1 or 2 CPU replicas (MirroredStrategy); prints what each case measured.

``python _mirrored.py CASE ...``, one TensorFlow start for all of them. Cases:

- ``bn:REPLICAS:MODE[:HALF]`` (``bn:2:sync``, ``bn:1:local:0``): one SGD(0) step of a tiny UNet with
  ``sync_batch_norm=(MODE == "sync")``; prints ``VAR case`` and the first BN's batch variance. The batch's two
  halves have different intensities, so per-replica batch statistics differ from the global ones; with ``HALF``
  (``bn:1:local:0``) it prints the batch variance of that half at the first BN's input, with the same initial
  weights, without training: the statistics that replica HALF of two would use without sync.
- ``loss:REPLICAS:MIXING`` (``loss:2:soft``): two fit epochs of one step of an ``HSMixModel`` with ``MIXING``
  ``none`` (no mixing) or ``soft`` (soft mixing at every step, Grad-CAM saliency); prints ``LOSS case`` and the
  logged losses.

All two-replica cases share one MirroredStrategy: a second one over the same two devices fails in its collectives.
"""

import functools
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import tensorflow as tf  # noqa: E402

cpus = tf.config.list_physical_devices("CPU")
tf.config.set_logical_device_configuration(cpus[0], [tf.config.LogicalDeviceConfiguration()] * 2)

import keras  # noqa: E402
import numpy as np  # noqa: E402

from keras_hsmix import HSMixModel  # noqa: E402
from keras_hsmix.losses import DiceCELoss  # noqa: E402
from keras_hsmix.models import unet  # noqa: E402

DEVICES = [d.name for d in tf.config.list_logical_devices("CPU")]


@functools.cache  # one strategy per device set: the two-replica one is shared by all its cases
def strategy(replicas: int) -> tf.distribute.Strategy:
    return tf.distribute.MirroredStrategy(DEVICES[:replicas])


def batch_norm_case(replicas: int, mode: str, half: list[str]) -> list[float]:
    rng = np.random.default_rng(0)
    images = np.concatenate([rng.random((4, 16, 16, 3)) * 0.2, 0.8 + rng.random((4, 16, 16, 3)) * 0.2])
    images = images.astype("float32")
    masks = keras.utils.to_categorical(rng.integers(0, 2, (8, 16, 16)), 2).astype("float32")
    if half:  # the batch variance of that half at the first BN's input: no training needed
        keras.utils.set_random_seed(0)
        conv = unet((16, 16, 3), 2, base_filters=2, depth=1).get_layer("enc0_conv1")
        return list(np.var(keras.ops.convert_to_numpy(conv(images[4 * int(half[0]):][:4])), axis=(0, 1, 2)))
    with strategy(replicas).scope():
        keras.utils.set_random_seed(0)
        model = unet((16, 16, 3), 2, base_filters=2, depth=1, sync_batch_norm=mode == "sync")
        model.compile(optimizer=keras.optimizers.SGD(0.0), loss="categorical_crossentropy")
    model.fit(tf.data.Dataset.from_tensor_slices((images, masks)).batch(8), epochs=1, verbose=0)
    bn = model.get_layer("enc0_conv1_bn")
    # moving_variance starts at 1; after one step it is momentum * 1 + (1 - momentum) * batch variance.
    return list((np.asarray(bn.moving_variance) - bn.momentum) / (1 - bn.momentum))


def build_hsmix(mixing: str) -> HSMixModel:
    keras.utils.set_random_seed(0)
    inputs = keras.Input((16, 16, 3))
    x = keras.layers.Conv2D(4, 3, padding="same", activation="relu")(inputs)
    x = keras.layers.MaxPooling2D()(x)
    x = keras.layers.Conv2D(4, 3, padding="same", activation="relu", name="bottleneck")(x)
    x = keras.layers.UpSampling2D()(x)
    outputs = keras.layers.Conv2D(2, 1)(x)
    probabilities = {"none": (0, 0, 1), "soft": (0, 1, 0)}[mixing]
    model = HSMixModel(keras.Model(inputs, outputs), num_classes=2, probabilities=probabilities, seed=0,
                       n_segments=(10, 20))
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss=DiceCELoss(from_logits=True))
    return model


def loss_case(replicas: int, mixing: str) -> list[float]:
    rng = np.random.default_rng(0)
    images = rng.random((8, 16, 16, 3)).astype("float32")
    masks = rng.integers(0, 2, (8, 16, 16, 1)).astype("int32")
    if replicas == 1:
        model = build_hsmix(mixing)
    else:
        assert strategy(2).num_replicas_in_sync == 2
        with strategy(2).scope():
            model = build_hsmix(mixing)
    history = model.fit(tf.data.Dataset.from_tensor_slices((images, masks)).batch(8), epochs=2, verbose=0)
    return history.history["loss"]


for case in sys.argv[1:]:
    kind, replicas, mode, *half = case.split(":")
    if kind == "bn":
        print("VAR", case, " ".join(f"{v:.6f}" for v in batch_norm_case(int(replicas), mode, half)))
    else:
        print("LOSS", case, *loss_case(int(replicas), mode))
