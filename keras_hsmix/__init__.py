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
``import keras_hsmix.cli`` answer without loading TensorFlow. Keras still finds the package's saved
classes (``keras.saving.load_model`` of a file holding ``HSMix``, ``HSMixModel``, ``DiceCELoss``, ...)
after a bare ``import keras_hsmix``: they are registered as soon as Keras is loaded (see
:func:`_register_when_keras_loads`).
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import sys
import threading

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


# ------------------------------------------------------------------ Keras' registry of saved classes
#: The modules whose import registers keras-hsmix's classes with Keras (``keras_hsmix>HSMix``, ...).
_SAVEABLE = ("keras_hsmix.losses", "keras_hsmix.metrics", "keras_hsmix.layers", "keras_hsmix.training")


class _RegisterAfterImports(importlib.abc.MetaPathFinder):
    """Imports the modules of :data:`_SAVEABLE` at the first moment Keras is loaded and no import of this
    package is under way (importing them halfway through one of ours would be circular).

    It wraps the loader of ``keras`` and of this package's submodules: each, once executed, checks whether
    the registration can run. It then leaves ``sys.meta_path``.
    """

    def __init__(self) -> None:
        self.depth = 0  # imports of this package's submodules under way
        self.lock = threading.RLock()
        self.done = False

    def find_spec(self, fullname: str, path=None, target=None):  # noqa: ANN001 (importlib's protocol)
        if self.done or not (fullname == "keras" or fullname.startswith("keras_hsmix.")):
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        if spec is None or not hasattr(spec.loader, "exec_module"):
            return spec
        run = spec.loader.exec_module
        ours = fullname != "keras"

        def exec_module(module) -> None:  # noqa: ANN001
            with self.lock:
                self.depth += ours
            try:
                run(module)
            finally:
                with self.lock:
                    self.depth -= ours
            self.register_if_ready()

        spec.loader.exec_module = exec_module
        return spec

    def register_if_ready(self) -> None:
        with self.lock:
            if self.done or self.depth or "keras" not in sys.modules:
                return
            self.done = True
        if self in sys.meta_path:
            sys.meta_path.remove(self)
        try:
            for name in _SAVEABLE:
                importlib.import_module(name)
        except Exception as error:  # never break the user's own import of Keras
            import warnings

            warnings.warn(f"keras-hsmix could not register its saved classes with Keras ({error!r}); import "
                          f"keras_hsmix.layers and keras_hsmix.training before loading a saved model", stacklevel=2)


def _register_when_keras_loads() -> None:
    """Keras looks saved classes up by registered name, filled in when their module is imported; this package
    imports lazily, so the registering modules are imported now if Keras is loaded, else right after it is."""
    hook = _RegisterAfterImports()
    sys.meta_path.insert(0, hook)
    hook.register_if_ready()


_register_when_keras_loads()
