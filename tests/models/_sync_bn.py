"""Run as a script: one training step of a tiny UNet on 1 or 2 CPU replicas per case; print the first BN's batch
variance of each case (``python _sync_bn.py 1:local 2:sync``).

The batch's two halves (one per replica with 2 replicas) have different intensities, so per-replica batch
statistics differ from the global ones.
"""

import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import tensorflow as tf  # noqa: E402

cpus = tf.config.list_physical_devices("CPU")
tf.config.set_logical_device_configuration(cpus[0], [tf.config.LogicalDeviceConfiguration()] * 2)

import keras  # noqa: E402
import numpy as np  # noqa: E402

from keras_hsmix.models import unet  # noqa: E402

rng = np.random.default_rng(0)
images = np.concatenate([rng.random((4, 16, 16, 3)) * 0.2, 0.8 + rng.random((4, 16, 16, 3)) * 0.2]).astype("float32")
masks = keras.utils.to_categorical(rng.integers(0, 2, (8, 16, 16)), 2).astype("float32")
# "REPLICAS:MODE[:HALF]" cases, e.g. 2:sync, or 1:local:0 (one replica on the first half only: what replica 0 of two
# sees). At most one two-replica case per process (a second MirroredStrategy over the same two devices fails in its
# collectives).
for case in sys.argv[1:]:
    replicas, mode, *half = case.split(":")
    x, y = (images, masks) if not half else (images[4 * int(half[0]):][:4], masks[4 * int(half[0]):][:4])
    devices = [d.name for d in tf.config.list_logical_devices("CPU")][: int(replicas)]
    strategy = tf.distribute.MirroredStrategy(devices)
    with strategy.scope():
        keras.utils.set_random_seed(0)
        model = unet((16, 16, 3), 2, base_filters=2, depth=1, sync_batch_norm=mode == "sync")
        model.compile(optimizer=keras.optimizers.SGD(0.0), loss="categorical_crossentropy")
    model.fit(tf.data.Dataset.from_tensor_slices((x, y)).batch(len(x)), epochs=1, verbose=0)
    bn = model.get_layer("enc0_conv1_bn")
    # moving_variance starts at 1; after one step it is momentum * 1 + (1 - momentum) * batch variance.
    batch_variance = (np.asarray(bn.moving_variance) - bn.momentum) / (1 - bn.momentum)
    print("VAR", case, " ".join(f"{v:.6f}" for v in batch_variance))
