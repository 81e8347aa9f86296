"""Keras 3 mixing layers: :class:`HardMix`, :class:`SoftMix`, :class:`HSMix`."""

from keras_hsmix.layers.hard_mix import HardMix
from keras_hsmix.layers.hsmix import HSMix
from keras_hsmix.layers.soft_mix import SoftMix

__all__ = ["HardMix", "SoftMix", "HSMix"]
