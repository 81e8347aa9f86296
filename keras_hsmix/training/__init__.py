"""Training with HSMix: Grad-CAM saliency and ``HSMixModel`` (losses and metrics: ``keras_hsmix.losses`` / ``.metrics``)."""

from keras_hsmix.training.gradcam import GradCAM, find_feature_layer, grad_cam
from keras_hsmix.training.model import HSMixModel

__all__ = ["GradCAM", "HSMixModel", "find_feature_layer", "grad_cam"]
