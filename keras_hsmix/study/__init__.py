"""The augmentation comparison study (issue 4): baselines on the mixing core and a resumable runner."""

from keras_hsmix.study.baselines import CutMixSeg, KerasImageAugment, MixUpSeg, rectangle_region

__all__ = ["CutMixSeg", "KerasImageAugment", "MixUpSeg", "rectangle_region"]
