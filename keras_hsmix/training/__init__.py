"""Training with HSMix: Grad-CAM, HSMixModel, losses, metrics, HD95."""

from keras_hsmix.training.gradcam import GradCAM, find_feature_layer, grad_cam
from keras_hsmix.training.hd95 import hd95, hd95_mean
from keras_hsmix.training.losses import DiceCELoss
from keras_hsmix.training.metrics import Dice, Jaccard
from keras_hsmix.training.model import HSMixModel

__all__ = ["Dice", "DiceCELoss", "GradCAM", "HSMixModel", "Jaccard", "find_feature_layer", "grad_cam", "hd95", "hd95_mean"]
