"""Pure tensor functions of the mixing core (no randomness of their own)."""

from keras_hsmix.ops.masks import to_soft_masks
from keras_hsmix.ops.saliency import static_saliency
from keras_hsmix.ops.superpixels import slic_superpixels

__all__ = ["slic_superpixels", "static_saliency", "to_soft_masks"]
