"""The GlaS study's settings and plan: :class:`keras_hsmix.runs.compare.CompareConfig` with GlaS specifics.

The study adds to the general comparison: 5 seeds at fractions up to 25 % and 3 elsewhere, the ablation
methods at 25 %, and the test DSC under synthetic artifacts (robustness) in every record.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from keras_hsmix.runs.compare import CompareConfig, RunSpec, check_methods  # no TensorFlow (`--help` stays fast)
from study.methods import ABLATIONS, KEY_METHODS, MAIN_METHODS, METHODS

if TYPE_CHECKING:
    from keras_hsmix.runs.compare import CompareData

ROOT = Path(__file__).resolve().parents[1]  # the repository
CORRUPTIONS: tuple[str, ...] = ("blur", "inhomogeneity", "low_contrast", "noise")


def default_glas_dir() -> str | None:
    """``$KERAS_HSMIX_GLAS``, else ``shared/datasets/glas`` beside the repository (as a path relative to the
    working directory) when it exists, else ``None``."""
    beside = os.path.relpath(ROOT.parent / "shared" / "datasets" / "glas")
    for candidate in (os.environ.get("KERAS_HSMIX_GLAS"), beside):
        if candidate and (Path(candidate) / "train" / "images").is_dir():
            return str(candidate)
    return None


@dataclass
class StudyConfig(CompareConfig):
    """Settings of the study. ``data_dir``: GlaS root with ``train/`` and ``test/`` (``None``: synthetic data)."""

    results_dir: str = "study/results"
    report_dir: str = "docs"
    fractions: tuple[float, ...] = (0.25, 0.5, 1.0)
    methods: tuple[str, ...] = MAIN_METHODS
    seeds_25: int = 5  # seeds at fractions <= 0.25
    seeds_other: int = 3
    ablations: bool = True
    robustness: bool = True

    @classmethod
    def quick_config(cls, **overrides: Any) -> "StudyConfig":
        """A smoke-test study: all methods, 1 seed, 2 epochs, 64 px, few images, a tiny UNet."""
        base = dict(size=64, fractions=(0.5,), seeds_25=1, seeds_other=1, ablations=False, epochs=2,
                    base_filters=4, depth=1, n_segments=(30, 60), max_train_images=16, max_test_images=8,
                    num_synthetic=16, quick=True)
        base.update(overrides)
        return cls(**base)

    def data_name(self) -> str:
        """``"glas"`` for a data folder (whatever its name), ``"synthetic"`` for the built-in data.

        Example:
            >>> StudyConfig(data_dir="glas", epochs=400, learning_rate=2e-3, weight_decay=5e-4).tag()
            'glas64px-400ep-lr0.002-wd0.0005'
        """
        return "glas" if self.data_dir else "synthetic"

    def seeds_for(self, fraction: float) -> list[int]:
        return list(range(self.seeds_25 if fraction <= 0.25 + 1e-9 else self.seeds_other))


def required_seeds(fraction: float) -> int:
    """Seeds the comparison asks for: the study's defaults, 5 at 25 % (widest seed spread), 3 elsewhere."""
    return StudyConfig().seeds_for(fraction)[-1] + 1


def plan_runs(cfg: StudyConfig) -> list[RunSpec]:
    """All runs of the study in priority order, so that a partial study is still a balanced comparison.

    Smallest fraction first; within a fraction, the key methods with seeds as the outer loop, then the
    other methods (seeds outer), then the ablations (25 % only, seeds outer).

    Example:
        >>> runs = plan_runs(StudyConfig(fractions=(0.25,), seeds_25=2, methods=("none", "flips"), ablations=False))
        >>> [(r.method, r.seed) for r in runs]
        [('none', 0), ('flips', 0), ('none', 1), ('flips', 1)]
    """
    check_methods(cfg.methods, METHODS)
    runs: list[RunSpec] = []
    for fraction in sorted(cfg.fractions):
        seeds = cfg.seeds_for(fraction)
        key = [m for m in KEY_METHODS if m in cfg.methods]
        other = [m for m in cfg.methods if m not in key]
        groups = [key, other]
        if cfg.ablations and abs(fraction - 0.25) < 1e-9:
            groups.append([m for m in ABLATIONS if m not in cfg.methods])
        for group in groups:
            for seed in seeds:
                runs.extend(RunSpec(m, fraction, seed) for m in group)
    return runs


def corrupt(images: np.ndarray, kind: str, seed: int = 0) -> np.ndarray:
    """Synthetic test-time artifacts on float images in [0, 1] ``[N, H, W, C]`` (deterministic).

    ``blur``: Gaussian, σ = 1.5 px at 128 px (scaled with size); ``inhomogeneity``: a smooth multiplicative
    bias field in [0.55, 1.45]; ``low_contrast``: contrast to 40 % about each image's mean; ``noise``:
    Gaussian, σ = 0.08.

    Example:
        >>> import numpy as np
        >>> float(corrupt(np.full((1, 8, 8, 3), 0.5, np.float32), "low_contrast").max())
        0.5
    """
    from scipy import ndimage

    n, h, w, _ = images.shape
    if kind == "blur":
        sigma = 1.5 * h / 128
        out = ndimage.gaussian_filter(images, sigma=(0, sigma, sigma, 0))
    elif kind == "inhomogeneity":
        y = np.linspace(-1, 1, h)[:, None]
        x = np.linspace(-1, 1, w)[None, :]
        field_ = 1.0 + 0.45 * np.clip(0.7 * x - 0.5 * y + 0.3 * np.sin(np.pi * x) * np.cos(np.pi * y), -1, 1)
        out = images * field_[None, :, :, None]
    elif kind == "low_contrast":
        mean = images.mean(axis=(1, 2, 3), keepdims=True)
        out = mean + 0.4 * (images - mean)
    elif kind == "noise":
        out = images + np.random.default_rng(seed).normal(0, 0.08, images.shape)
    else:
        raise ValueError(f"unknown corruption {kind!r}; known: {CORRUPTIONS}")
    return np.clip(out, 0.0, 1.0).astype(np.float32)


def robustness(model: Any, cfg: StudyConfig, data: CompareData) -> dict[str, Any]:
    """The record's ``"robustness"``: test DSC under each of :data:`CORRUPTIONS` (nothing when it is off)."""
    if not getattr(cfg, "robustness", False):
        return {}
    from keras_hsmix.runs.compare import scores  # TensorFlow: imported when a run is scored

    return {"robustness": {kind: scores(model, corrupt(data.test_images, kind), data.test_masks, with_hd95=False)
                           for kind in CORRUPTIONS}}
