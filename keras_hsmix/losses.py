"""Losses for (soft) segmentation labels: ``keras_hsmix.losses.DiceCELoss``."""

from keras_hsmix.training.losses import DiceCELoss

__all__ = ["DiceCELoss"]
