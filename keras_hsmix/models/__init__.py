"""Reference segmentation architectures (randomly initialised, no downloads)."""

from keras_hsmix.models.deeplab import deeplab_v3_plus
from keras_hsmix.models.unet import unet

__all__ = ["deeplab_v3_plus", "unet"]
