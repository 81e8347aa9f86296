"""keras-hsmix: HSMix hard and soft superpixel mixing for Keras 3.

The mixing runs in TensorFlow (installed whatever Keras' backend is): on the TensorFlow backend
everywhere; on JAX or PyTorch inside ``tf.data`` pipelines, as Keras' own preprocessing layers do
(``HSMixModel`` and Grad-CAM need the TensorFlow backend). See docs/backends.md.

Public API::

    keras_hsmix.slic_superpixels   # SLIC through tf.numpy_function
    keras_hsmix.static_saliency    # fine-grained static saliency in TF ops
    keras_hsmix.HardMix, SoftMix, HSMix   # Keras 3 preprocessing layers
    keras_hsmix.data               # loaders, synthetic data, tf.data pipeline
    keras_hsmix.grad_cam, GradCAM  # Seg-Grad-CAM saliency of a model
    keras_hsmix.HSMixModel         # model.fit with HSMix in train_step
    keras_hsmix.losses, metrics, models

The names are imported on first use (PEP 562), so ``keras-hsmix --help`` and
``import keras_hsmix.cli`` answer without loading TensorFlow.
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

#: Public name -> the module that defines it (submodules map to themselves).
_PUBLIC = {
    "data": "keras_hsmix.data", "losses": "keras_hsmix.losses", "metrics": "keras_hsmix.metrics",
    "models": "keras_hsmix.models",
    "HardMix": "keras_hsmix.layers", "HSMix": "keras_hsmix.layers", "SoftMix": "keras_hsmix.layers",
    "slic_superpixels": "keras_hsmix.ops", "static_saliency": "keras_hsmix.ops",
    "GradCAM": "keras_hsmix.training", "HSMixModel": "keras_hsmix.training", "grad_cam": "keras_hsmix.training",
}

__all__ = ["GradCAM", "HSMix", "HSMixModel", "HardMix", "SoftMix", "__version__", "data", "grad_cam", "losses", "metrics", "models", "slic_superpixels", "static_saliency"]


def __getattr__(name: str):
    if name not in _PUBLIC:
        raise AttributeError(f"module 'keras_hsmix' has no attribute {name!r}")
    module = importlib.import_module(_PUBLIC[name])
    value = module if module.__name__ == f"keras_hsmix.{name}" else getattr(module, name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_PUBLIC))
