"""keras-hsmix: HSMix hard and soft superpixel mixing for Keras 3 / TensorFlow.

Public API::

    keras_hsmix.slic_superpixels   # SLIC through tf.numpy_function
    keras_hsmix.static_saliency    # fine-grained static saliency in TF ops
    keras_hsmix.HardMix, SoftMix, HSMix   # Keras 3 preprocessing layers
    keras_hsmix.data               # loaders, synthetic data, tf.data pipeline
    keras_hsmix.grad_cam, GradCAM  # Seg-Grad-CAM saliency of a model
    keras_hsmix.HSMixModel         # model.fit with HSMix in train_step
    keras_hsmix.losses, metrics, models
"""

import keras as _keras

if _keras.backend.backend() != "tensorflow":
    # The mixing ops, the tf.data pipeline and HSMixModel's train_step (tf.GradientTape) are TensorFlow code.
    raise ImportError(
        f"keras-hsmix needs Keras' TensorFlow backend, but Keras runs on {_keras.backend.backend()!r}: "
        "set KERAS_BACKEND=tensorflow (or \"backend\": \"tensorflow\" in ~/.keras/keras.json) before importing keras"
    )

from keras_hsmix import data, losses, metrics, models
from keras_hsmix.layers import HardMix, HSMix, SoftMix
from keras_hsmix.ops import slic_superpixels, static_saliency
from keras_hsmix.training import GradCAM, HSMixModel, grad_cam

__version__ = "0.1.0"

__all__ = ["data", "losses", "metrics", "models", "GradCAM", "HSMixModel", "grad_cam", "HardMix", "SoftMix", "HSMix", "slic_superpixels", "static_saliency", "__version__"]
