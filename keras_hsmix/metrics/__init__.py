"""Segmentation metrics: ``Dice`` (DSC), ``Jaccard`` (JAC) and the HD95 evaluation.

Import them from here (``keras_hsmix.metrics.Dice``); the submodules are their implementation.
"""

from keras_hsmix.metrics.hd95 import hd95, hd95_mean
from keras_hsmix.metrics.overlap import Dice, Jaccard

__all__ = ["Dice", "Jaccard", "hd95", "hd95_mean"]
