"""Run as a script: two fit epochs of one step each, print the logged losses of each case.

``python _distributed_loss.py 1:none 2:none``: each case is REPLICAS (1, or 2 CPU replicas) : MIXING (``none`` or
``hsmix``). The two-replica cases share one MirroredStrategy: a second one over the same two devices fails in its
collectives.
"""

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


def build(mixing):
    keras.utils.set_random_seed(0)
    inputs = keras.Input((16, 16, 3))
    x = keras.layers.Conv2D(4, 3, padding="same", activation="relu")(inputs)
    x = keras.layers.MaxPooling2D()(x)
    x = keras.layers.Conv2D(4, 3, padding="same", activation="relu", name="bottleneck")(x)
    x = keras.layers.UpSampling2D()(x)
    outputs = keras.layers.Conv2D(2, 1)(x)
    probabilities = {"none": (0, 0, 1), "hsmix": (1 / 3, 1 / 3, 1 / 3)}[mixing]
    model = HSMixModel(keras.Model(inputs, outputs), num_classes=2, probabilities=probabilities, seed=0,
                       n_segments=(10, 20))
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss=DiceCELoss(from_logits=True))
    return model


rng = np.random.default_rng(0)
images = rng.random((8, 16, 16, 3)).astype("float32")
masks = rng.integers(0, 2, (8, 16, 16, 1)).astype("int32")
ds = tf.data.Dataset.from_tensor_slices((images, masks)).batch(8)
strategy = None
for case in sys.argv[1:]:
    replicas, mixing = case.split(":")
    if replicas == "1":
        model = build(mixing)
    else:
        strategy = strategy or tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
        assert strategy.num_replicas_in_sync == 2
        with strategy.scope():
            model = build(mixing)
    history = model.fit(ds, epochs=2, verbose=0)
    print("LOSS", case, *history.history["loss"])
