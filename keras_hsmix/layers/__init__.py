"""Keras 3 mixing layers: :class:`HardMix`, :class:`SoftMix`, :class:`HSMix`, and the reference baselines
:class:`CutMixSeg`, :class:`MixUpSeg` and :class:`KerasImageAugment` (RandAugment / AugMix with valid masks)."""

from keras_hsmix.layers.baselines import CutMixSeg, KerasImageAugment, MixUpSeg, rectangle_region
from keras_hsmix.layers.hard_mix import HardMix
from keras_hsmix.layers.hsmix import HSMix
from keras_hsmix.layers.soft_mix import SoftMix

__all__ = ["HardMix", "SoftMix", "HSMix", "CutMixSeg", "MixUpSeg", "KerasImageAugment", "rectangle_region"]
