"""Segmentation metrics: ``Dice`` (DSC), ``Jaccard`` (JAC) and the HD95 evaluation."""

from keras_hsmix.training.hd95 import hd95, hd95_mean
from keras_hsmix.training.metrics import Dice, Jaccard

__all__ = ["Dice", "Jaccard", "hd95", "hd95_mean"]
