"""The augmentation comparison study (issue 4): baselines on the mixing core and a resumable runner.

The baselines are imported on first use (PEP 562), so the study's command-line options
(``keras-hsmix compare --help``) load without TensorFlow.
"""

from __future__ import annotations

import importlib

__all__ = ["CutMixSeg", "KerasImageAugment", "MixUpSeg", "rectangle_region"]


def __getattr__(name: str):
    if name not in __all__:
        raise AttributeError(f"module 'keras_hsmix.study' has no attribute {name!r}")
    value = getattr(importlib.import_module("keras_hsmix.study.baselines"), name)
    globals()[name] = value
    return value
