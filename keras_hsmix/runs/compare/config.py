"""Settings of a comparison, its run ids and its plan of runs."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

from keras_hsmix.runs.compare.methods import METHODS, Method

#: Options that set the budget of a comparison; ``--quick`` sets them itself and refuses them.
BUDGET_FIELDS: tuple[str, ...] = ("size", "fractions", "seeds", "epochs", "base_filters", "depth",
                                  "max_train_images", "max_test_images")


def data_name(path: str | None) -> str:
    """The name of a dataset in run ids and report titles: its folder's name (letters and digits, lower case).

    Example:
        >>> data_name("../shared/datasets/glas"), data_name("data/Kvasir-SEG/"), data_name(None)
        ('glas', 'kvasirseg', 'synthetic')
    """
    if path is None:
        return "synthetic"
    return re.sub(r"[^a-z0-9]+", "", Path(path).resolve().name.lower()) or "data"


@dataclass
class CompareConfig:
    """Settings of a comparison: the same UNet trained under each method, on nested fractions, over seeds.

    ``data_dir``: a folder with ``train/`` and ``test/`` (each with ``images/`` and ``masks/``), or one folder
    with ``images/`` and ``masks/`` (the test split is ``test_dir`` when given, else ``test_fraction`` of it is
    held out); ``None``: the built-in synthetic data. A validation split (``val_fraction`` of the training
    images) is held out from the training images for model selection.

    Example:
        >>> cfg = CompareConfig(data_dir="data/kvasir", epochs=100, weight_decay=5e-4)
        >>> cfg.tag(), cfg.setting()["optimizer"]
        ('kvasir64px-100ep-wd0.0005', 'adamw')
    """

    data_dir: str | None = None
    test_dir: str | None = None
    name: str | None = None  # the data's name in run ids and titles; None: the data folder's name
    results_dir: str = "runs/compare/results"
    report_dir: str = "runs/compare"
    size: int = 64
    fractions: tuple[float, ...] = (1.0,)
    seeds: int = 3  # seeds 0..seeds-1 at every fraction
    methods: tuple[str, ...] = tuple(METHODS)
    epochs: int = 200
    batch_size: int = 4
    learning_rate: float = 1e-3
    lr_schedule: str = "constant"  # or "cosine" (to learning_rate / 1000 over the run)
    weight_decay: float = 0.0  # > 0: AdamW, 0: Adam
    base_filters: int = 8
    depth: int = 4
    val_fraction: float = 0.2
    test_fraction: float = 0.2  # one folder without test_dir: share held out for testing
    split_seed: int = 0
    p: float = 0.5
    n_segments: tuple[int, int] | None = None  # None: the paper's 200-400 at 224 px, scaled by image area
    num_classes: int = 2
    mask_mode: str = "nonzero"
    label_values: tuple[int, ...] | None = None
    mask_suffix: str = ""
    channels: int = 3
    max_train_images: int | None = None  # cap of the images read for training (quick mode)
    max_test_images: int | None = None
    num_synthetic: int = 48  # synthetic data: train pool size (test: half of it)
    quick: bool = False
    command: str = ""

    @classmethod
    def quick_config(cls, **overrides: Any) -> "CompareConfig":
        """A smoke test: 1 seed, 2 epochs, 64 px, few images, a tiny UNet."""
        base = dict(size=64, fractions=(1.0,), seeds=1, epochs=2, base_filters=4, depth=1, n_segments=(30, 60),
                    max_train_images=16, max_test_images=8, num_synthetic=16, quick=True)
        base.update(overrides)
        return cls(**base)

    def data_name(self) -> str:
        return self.name or data_name(self.data_dir)

    def segments(self, scale: float = 1.0) -> tuple[int, int]:
        """The SLIC ``n_segments`` range: given, or the paper's (200, 400) at 224 px scaled by image area.

        Example:
            >>> CompareConfig(size=64).segments()
            (16, 33)
        """
        if self.n_segments is not None:
            low, high = self.n_segments
        else:
            area = (self.size / 224) ** 2
            low, high = 200 * area, 400 * area
        return max(2, int(round(low * scale))), max(2, int(round(high * scale)))

    def seeds_for(self, fraction: float) -> list[int]:
        """The seeds trained at ``fraction``: ``0 .. seeds - 1`` at every fraction."""
        return list(range(self.seeds))

    def optimizer(self) -> str:
        return "adamw" if self.weight_decay > 0 else "adam"

    def setting(self) -> dict[str, Any]:
        """The settings every run of a comparable group shares (stored in each run's record).

        Data options (classes, mask reading, channels) are listed only where they differ from the defaults.
        """
        out = {
            "data": self.data_name(), "size": self.size, "epochs": self.epochs,
            "batch_size": self.batch_size, "learning_rate": self.learning_rate, "lr_schedule": self.lr_schedule,
            "optimizer": self.optimizer(), "weight_decay": self.weight_decay,
            "loss": "DiceCE", "base_filters": self.base_filters, "depth": self.depth,
            "val_fraction": self.val_fraction, "split_seed": self.split_seed, "p": self.p,
            "n_segments": list(self.segments()), "max_train_images": self.max_train_images,
            "max_test_images": self.max_test_images, "quick": self.quick,
        }
        defaults = CompareConfig()
        for key in ("num_classes", "mask_mode", "label_values", "mask_suffix", "channels"):
            if getattr(self, key) != getattr(defaults, key):
                value = getattr(self, key)
                out[key] = list(value) if isinstance(value, tuple) else value
        return out

    def tag(self) -> str:
        """Names a group of comparable runs: data, size, epochs, then every training setting that differs
        from the defaults (of :meth:`quick_config` in quick mode), so runs of other settings never share
        result files.

        Example:
            >>> CompareConfig(data_dir="glas", epochs=400).tag()
            'glas64px-400ep'
            >>> CompareConfig(data_dir="glas", epochs=400, learning_rate=2e-3, weight_decay=5e-4).tag()
            'glas64px-400ep-lr0.002-wd0.0005'
        """
        reference = type(self).quick_config() if self.quick else type(self)()
        parts = [f"{self.data_name()}{self.size}px", f"{self.epochs}ep"]
        if self.lr_schedule != "constant":
            parts.append(self.lr_schedule[:3])
        for attr, label in (("learning_rate", "lr"), ("weight_decay", "wd"), ("batch_size", "bs"),
                            ("base_filters", "f"), ("depth", "d"), ("p", "p"), ("val_fraction", "val"),
                            ("split_seed", "split")):
            if getattr(self, attr) != getattr(reference, attr):
                parts.append(f"{label}{getattr(self, attr):g}")
        if self.n_segments != reference.n_segments:
            parts.append("seg{}-{}".format(*self.segments()))
        return "-".join(parts + (["quick"] if self.quick else []))


@dataclass(frozen=True)
class RunSpec:
    """One training run: a method, a fraction of the training pool and a seed."""

    method: str
    fraction: float
    seed: int

    def run_id(self, cfg: CompareConfig) -> str:
        return f"{cfg.tag()}-f{int(round(self.fraction * 100)):03d}-{self.method}-s{self.seed}"


def check_methods(names: Sequence[str], methods: Mapping[str, Method] = METHODS) -> None:
    """Raises ``ValueError`` naming the methods that ``methods`` does not know."""
    unknown = [m for m in names if m not in methods]
    if unknown:
        raise ValueError(f"unknown methods {unknown}; known: {', '.join(methods)}")


def plan_runs(cfg: CompareConfig, methods: Mapping[str, Method] = METHODS) -> list[RunSpec]:
    """All runs of a comparison in priority order: smallest fraction first, then seeds, then methods.

    So a comparison stopped early is still balanced: every method has the same seeds.

    Example:
        >>> runs = plan_runs(CompareConfig(fractions=(0.5,), seeds=2, methods=("none", "flips")))
        >>> [(r.method, r.seed) for r in runs]
        [('none', 0), ('flips', 0), ('none', 1), ('flips', 1)]
    """
    check_methods(cfg.methods, methods)
    return [RunSpec(m, fraction, seed) for fraction in sorted(cfg.fractions)
            for seed in cfg.seeds_for(fraction) for m in cfg.methods]


def plan_status(cfg: CompareConfig, plan: Sequence[RunSpec]) -> list[tuple[RunSpec, bool]]:
    """``(run, finished)`` for each planned run: whether its record is in ``cfg.results_dir``."""
    results_dir = Path(cfg.results_dir)
    done = {p.stem for p in results_dir.glob("*.json")} if results_dir.is_dir() else set()
    return [(r, r.run_id(cfg) in done) for r in plan]
