"""keras-hsmix: HSMix hard and soft superpixel mixing for Keras 3.

The mixing runs in TensorFlow (installed whatever Keras' backend is): on the TensorFlow backend
everywhere; on JAX or PyTorch inside ``tf.data`` pipelines, as Keras' own preprocessing layers do
(``HSMixModel`` and Grad-CAM need the TensorFlow backend). See docs/backends.md.

Public API::

    keras_hsmix.slic_superpixels   # SLIC through tf.numpy_function
    keras_hsmix.static_saliency    # fine-grained static saliency in TF ops
    keras_hsmix.HardMix, SoftMix, HSMix   # Keras 3 preprocessing layers
    keras_hsmix.data               # loaders, synthetic data, tf.data pipeline
    keras_hsmix.grad_cam, GradCAM  # Seg-Grad-CAM saliency of a model
    keras_hsmix.HSMixModel         # model.fit with HSMix in train_step
    keras_hsmix.losses, metrics, models
"""

from keras_hsmix import data, losses, metrics, models
from keras_hsmix.layers import HardMix, HSMix, SoftMix
from keras_hsmix.ops import slic_superpixels, static_saliency
from keras_hsmix.training import GradCAM, HSMixModel, grad_cam

__version__ = "0.1.0"

__all__ = ["data", "losses", "metrics", "models", "GradCAM", "HSMixModel", "grad_cam", "HardMix", "SoftMix", "HSMix", "slic_superpixels", "static_saliency", "__version__"]
