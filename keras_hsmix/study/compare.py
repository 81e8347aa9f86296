"""The augmentation comparison study (issue 4): train the same UNet under each method, resumably.

Every finished run is written as ``<results_dir>/<run-id>.json`` with its full configuration, per-epoch
training and validation curves, validation and test metrics and the test DSC under synthetic
artifacts; a rerun skips the runs whose JSON exists, so the study can be stopped at any moment,
losing at most the run in progress. :func:`write_report` turns whatever has finished into
``docs/results.md`` with ``docs/results_dsc.png`` and ``docs/results_curves.png``.

Protocol: a validation split is held out from the training images once (``split_seed``); the
remaining images are permuted once and fraction ``f`` takes the first ``round(f * n)`` of them, so
subsets are nested. Each run keeps the weights of its best validation-DSC epoch; the official test
split is used only for reporting. All methods share the UNet, optimizer, loss (DiceCE), batch size and
epoch budget; for a given seed all methods start from the same initial weights.

Example (a smoke run on the built-in synthetic data):
    >>> from keras_hsmix.study.compare import StudyConfig, run_study
    >>> cfg = StudyConfig.quick_config(data_dir=None, results_dir="/tmp/hsmix_study/results",
    ...                                docs_dir="/tmp/hsmix_study/docs", methods=("none", "cutmix+flips"))
    >>> summary = run_study(cfg, verbose=0)  # doctest: +SKIP
"""

from __future__ import annotations

import gc
import json
import os
import platform
import shlex
import socket
import sys
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np

# --------------------------------------------------------------------------------------- methods


@dataclass(frozen=True)
class Method:
    """One augmentation method of the study.

    ``mixer``: ``"none"``, ``"cutmix"``, ``"mixup"``, ``"randaugment"``, ``"augmix"`` (plain Keras model
    fed by a tf.data pipeline) or ``"hsmix"`` (:class:`keras_hsmix.HSMixModel`, mixing in
    ``train_step`` with ``probabilities`` = (hard, soft, none) and ``saliency``).
    """

    name: str
    mixer: str
    flips: bool
    probabilities: tuple[float, float, float] = (1 / 3, 1 / 3, 1 / 3)
    saliency: str = "gradcam"
    p: float | None = None
    segments_scale: float = 1.0  # multiplies the study's n_segments range (ablation)
    mode: str = "random"  # HSMix's "random" (one branch per batch) or "concat" (hard and soft batches)
    color: float = 0.0  # strength of random_color_jitter (stain / colour jitter of each image), 0: none


def _methods() -> dict[str, Method]:
    bases: list[tuple[str, dict]] = [
        ("none", dict(mixer="none")),
        ("cutmix", dict(mixer="cutmix")),
        ("mixup", dict(mixer="mixup")),
        ("hard", dict(mixer="hsmix", probabilities=(1.0, 0.0, 0.0), saliency="static")),
        ("soft_static", dict(mixer="hsmix", probabilities=(0.0, 1.0, 0.0), saliency="static")),
        ("soft_gradcam", dict(mixer="hsmix", probabilities=(0.0, 1.0, 0.0), saliency="gradcam")),
        ("hsmix_gradcam", dict(mixer="hsmix", saliency="gradcam")),
        ("hsmix_static", dict(mixer="hsmix", saliency="static")),
        ("randaugment", dict(mixer="randaugment")),
        ("augmix", dict(mixer="augmix")),
    ]
    out: dict[str, Method] = {}
    for name, kw in bases:
        out[name] = Method(name, flips=False, **kw)
        flipped = "flips" if name == "none" else f"{name}+flips"
        out[flipped] = Method(flipped, flips=True, **kw)
    # Ablations (25 %): p, n_segments range, saliency source (random Beta(1, 1) per superpixel), the share of
    # clean batches (probabilities: @mix0.5 mixes half the batches, @mix1 every batch), the share of hard-mixed
    # batches (@hard0.5, @hard0.67: the rest split evenly between soft and clean) and the paper's concat.
    for p in (0.3, 0.7):
        name = f"hsmix_gradcam+flips@p{p}"
        out[name] = Method(name, "hsmix", True, saliency="gradcam", p=p)
    for scale in (0.5, 2.0):
        name = f"hsmix_gradcam+flips@segx{scale:g}"
        out[name] = Method(name, "hsmix", True, saliency="gradcam", segments_scale=scale)
    out["hsmix_random+flips"] = Method("hsmix_random+flips", "hsmix", True, saliency="random")
    for share, probabilities in (("0.5", (0.25, 0.25, 0.5)), ("1", (0.5, 0.5, 0.0))):
        name = f"hsmix_gradcam+flips@mix{share}"
        out[name] = Method(name, "hsmix", True, probabilities=probabilities, saliency="gradcam")
    for share, hard in (("0.5", 1 / 2), ("0.67", 2 / 3)):
        name = f"hsmix_gradcam+flips@hard{share}"
        rest = (1.0 - hard) / 2
        out[name] = Method(name, "hsmix", True, probabilities=(hard, rest, rest), saliency="gradcam")
    out["hsmix_gradcam+flips@concat"] = Method("hsmix_gradcam+flips@concat", "hsmix", True, mode="concat")
    # The authors' GlaS script: hard and soft halves concatenated every step, Beta(1, 1) λ per superpixel.
    out["hsmix_random+flips@concat"] = Method("hsmix_random+flips@concat", "hsmix", True, saliency="random",
                                              mode="concat")
    # Colour (stain) jitter on top of flips, for the reference and for HSMix (compared with each other).
    out["flips+color"] = Method("flips+color", "none", True, color=1.0)
    out["hsmix_gradcam+flips+color"] = Method("hsmix_gradcam+flips+color", "hsmix", True, color=1.0)
    out["mixup+flips+color"] = Method("mixup+flips+color", "mixup", True, color=1.0)
    return out


METHODS: dict[str, Method] = _methods()
KEY_METHODS: tuple[str, ...] = (
    "none", "flips", "hsmix_gradcam+flips", "hsmix_static+flips", "hard+flips",
    "cutmix+flips", "mixup+flips", "hsmix_gradcam",
)
# The comparison table: each base method alone and on top of flips (no ablation variants).
TABLE_METHODS: tuple[str, ...] = tuple(m for m in METHODS if "@" not in m and "color" not in m and "random" not in m)


def required_seeds(fraction: float) -> int:
    """Seeds the comparison asks for: the study's defaults, 5 at 25 % (widest seed spread), 3 elsewhere."""
    return StudyConfig().seeds_for(fraction)[-1] + 1


ABLATIONS: tuple[str, ...] = (
    "hsmix_gradcam+flips@p0.3", "hsmix_gradcam+flips@p0.7", "hsmix_gradcam+flips@segx0.5",
    "hsmix_gradcam+flips@segx2", "hsmix_random+flips", "hsmix_gradcam+flips@mix0.5",
    "hsmix_gradcam+flips@mix1", "hsmix_gradcam+flips@concat", "hsmix_random+flips@concat",
    "hsmix_gradcam+flips@hard0.5",
    "hsmix_gradcam+flips@hard0.67", "flips+color", "hsmix_gradcam+flips+color", "mixup+flips+color",
)
MAIN_METHODS: tuple[str, ...] = tuple(m for m in METHODS if m not in ABLATIONS)
OTHER_METHODS: tuple[str, ...] = tuple(m for m in MAIN_METHODS if m not in KEY_METHODS)
CORRUPTIONS: tuple[str, ...] = ("blur", "inhomogeneity", "low_contrast", "noise")
NOTES_FILE = "study_notes.md"  # hand-written notes in the docs folder, copied into the report of a GlaS study


# ---------------------------------------------------------------------------------------- config


def default_glas_dir() -> str | None:
    """``$KERAS_HSMIX_GLAS`` or ``../shared/datasets/glas`` (from the cwd) when it exists, else ``None``."""
    for candidate in (os.environ.get("KERAS_HSMIX_GLAS"), "../shared/datasets/glas", "../shared/datasets/glas"):
        if candidate and (Path(candidate) / "train" / "images").is_dir():
            return str(candidate)
    return None


@dataclass
class StudyConfig:
    """Settings of a study. ``data_dir``: GlaS root with ``train/`` and ``test/`` (``None``: synthetic data)."""

    data_dir: str | None = None
    results_dir: str = "benchmarks/results"
    docs_dir: str = "docs"
    size: int = 64
    fractions: tuple[float, ...] = (0.25, 0.5, 1.0)
    seeds_25: int = 5  # seeds at fractions <= 0.25
    seeds_other: int = 3
    methods: tuple[str, ...] = MAIN_METHODS
    ablations: bool = True
    epochs: int = 200
    batch_size: int = 4
    learning_rate: float = 1e-3
    lr_schedule: str = "constant"  # or "cosine" (to learning_rate / 1000 over the run)
    weight_decay: float = 0.0  # > 0: AdamW (the authors' recipe: lr 2e-3, weight decay 5e-4), 0: Adam
    base_filters: int = 8
    depth: int = 4
    val_fraction: float = 0.2
    split_seed: int = 0
    p: float = 0.5
    n_segments: tuple[int, int] | None = None  # None: the paper's 200-400 at 224 px, scaled by image area
    num_classes: int = 2
    mask_mode: str = "nonzero"
    max_train_images: int | None = None  # cap of the train pool (quick mode)
    max_test_images: int | None = None
    num_synthetic: int = 48  # synthetic data: train pool size (test: half of it)
    robustness: bool = True
    quick: bool = False
    command: str = ""

    @classmethod
    def quick_config(cls, **overrides: Any) -> "StudyConfig":
        """A smoke-test study: all methods, 1 seed, 2 epochs, 64 px, few images, a tiny UNet."""
        base = dict(size=64, fractions=(0.5,), seeds_25=1, seeds_other=1, ablations=False, epochs=2,
                    base_filters=4, depth=2, n_segments=(30, 60), max_train_images=16, max_test_images=8,
                    num_synthetic=16, quick=True)
        base.update(overrides)
        return cls(**base)

    def segments(self, scale: float = 1.0) -> tuple[int, int]:
        """The SLIC ``n_segments`` range: given, or the paper's (200, 400) at 224 px scaled by image area.

        Example:
            >>> StudyConfig(size=64).segments()
            (16, 33)
        """
        if self.n_segments is not None:
            low, high = self.n_segments
        else:
            area = (self.size / 224) ** 2
            low, high = 200 * area, 400 * area
        return max(2, int(round(low * scale))), max(2, int(round(high * scale)))

    def seeds_for(self, fraction: float) -> list[int]:
        return list(range(self.seeds_25 if fraction <= 0.25 + 1e-9 else self.seeds_other))

    def setting(self) -> dict[str, Any]:
        """The settings every run of a comparable group shares (stored in each run's JSON)."""
        return {
            "data": "glas" if self.data_dir else "synthetic", "size": self.size, "epochs": self.epochs,
            "batch_size": self.batch_size, "learning_rate": self.learning_rate, "lr_schedule": self.lr_schedule,
            "optimizer": "adamw" if self.weight_decay > 0 else "adam", "weight_decay": self.weight_decay,
            "loss": "DiceCE", "base_filters": self.base_filters, "depth": self.depth,
            "val_fraction": self.val_fraction, "split_seed": self.split_seed, "p": self.p,
            "n_segments": list(self.segments()), "max_train_images": self.max_train_images,
            "max_test_images": self.max_test_images, "quick": self.quick,
        }

    def tag(self) -> str:
        """Names a group of comparable runs: data, size, epochs, then every training setting that differs
        from the defaults (of :meth:`quick_config` in quick mode), so runs of other settings never share
        result files.

        Example:
            >>> StudyConfig(data_dir="glas", epochs=400).tag()
            'glas64px-400ep'
            >>> StudyConfig(data_dir="glas", epochs=400, learning_rate=2e-3, weight_decay=5e-4).tag()
            'glas64px-400ep-lr0.002-wd0.0005'
        """
        reference = StudyConfig.quick_config() if self.quick else StudyConfig()
        parts = [f"{'glas' if self.data_dir else 'synth'}{self.size}px", f"{self.epochs}ep"]
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

    def run_id(self, cfg: StudyConfig) -> str:
        return f"{cfg.tag()}-f{int(round(self.fraction * 100)):03d}-{self.method}-s{self.seed}"


def plan_runs(cfg: StudyConfig) -> list[RunSpec]:
    """All runs of a study in priority order, so that a partial study is still a balanced comparison.

    Smallest fraction first; within a fraction, the key methods with seeds as the outer loop, then the
    other methods (seeds outer), then the ablations (25 % only, seeds outer).

    Example:
        >>> runs = plan_runs(StudyConfig(fractions=(0.25,), seeds_25=2, methods=("none", "flips"), ablations=False))
        >>> [(r.method, r.seed) for r in runs]
        [('none', 0), ('flips', 0), ('none', 1), ('flips', 1)]
    """
    unknown = [m for m in cfg.methods if m not in METHODS]
    if unknown:
        raise ValueError(f"unknown methods {unknown}; known: {sorted(METHODS)}")
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


# ------------------------------------------------------------------------------------------ data


@dataclass
class StudyData:
    """Train pool, fixed validation split and test arrays (images float [0, 1], masks int [N, H, W, 1])."""

    train_images: np.ndarray
    train_masks: np.ndarray
    val_images: np.ndarray
    val_masks: np.ndarray
    test_images: np.ndarray
    test_masks: np.ndarray
    pool_order: np.ndarray  # indices into the train pool, nested subsets are prefixes
    val_indices: np.ndarray = field(default_factory=lambda: np.zeros(0, int))
    test_names: list[str] = field(default_factory=list)  # file stems of the test images, in array order

    def subset(self, fraction: float) -> np.ndarray:
        n = max(2, int(round(fraction * len(self.pool_order))))
        return np.sort(self.pool_order[:n])


def load_study_data(cfg: StudyConfig) -> StudyData:
    """Loads GlaS (or the synthetic data), holds out validation, fixes the nested order of the pool."""
    from keras_hsmix.cli.common import load_arrays
    from keras_hsmix.runs.train import split_train_val

    if cfg.data_dir:
        root = Path(cfg.data_dir)
        images, masks = load_arrays(str(root / "train"), cfg.size, cfg.max_train_images, cfg.mask_mode, 0)
        test_images, test_masks = load_arrays(str(root / "test"), cfg.size, cfg.max_test_images, cfg.mask_mode, 0)
        from keras_hsmix.data import find_pairs

        test_names = [image.stem for image, _ in find_pairs(root / "test")][: len(test_images)]
    else:
        from keras_hsmix.data import synthetic_arrays

        images, masks = synthetic_arrays(cfg.num_synthetic, (cfg.size, cfg.size), cfg.num_classes, seed=0)
        n_test = cfg.max_test_images or max(2, cfg.num_synthetic // 2)
        test_images, test_masks = synthetic_arrays(n_test, (cfg.size, cfg.size), cfg.num_classes, seed=1)
        test_names = [f"synthetic_{i}" for i in range(len(test_images))]
    images = images.astype(np.float32)
    test_images = test_images.astype(np.float32)
    masks = masks.reshape(masks.shape[:3] + (1,)).astype(np.int32)
    test_masks = test_masks.reshape(test_masks.shape[:3] + (1,)).astype(np.int32)
    if cfg.mask_mode == "nonzero" and cfg.num_classes == 2:
        masks, test_masks = (masks > 0).astype(np.int32), (test_masks > 0).astype(np.int32)
    train_idx, val_idx = split_train_val(len(images), cfg.val_fraction, cfg.split_seed)
    order = np.random.default_rng(cfg.split_seed + 1).permutation(len(train_idx))
    return StudyData(images[train_idx], masks[train_idx], images[val_idx], masks[val_idx],
                     test_images, test_masks, order, val_idx, test_names)


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


# -------------------------------------------------------------------------------------- training


def _plain_pipeline(images: np.ndarray, masks: np.ndarray, method: Method, cfg: StudyConfig, seed: int):
    import tensorflow as tf

    from keras_hsmix.data import augment_elements
    from keras_hsmix.ops.masks import to_soft_masks
    from keras_hsmix.study.baselines import CutMixSeg, KerasImageAugment, MixUpSeg

    ds = tf.data.Dataset.from_tensor_slices({"images": images, "segmentation_masks": masks}).cache()
    ds = ds.shuffle(256, seed=seed, reshuffle_each_iteration=True)
    ds = augment_elements(ds, seed, flips=method.flips, color_jitter=method.color)
    ds = ds.batch(cfg.batch_size, drop_remainder=len(images) >= cfg.batch_size)
    k = cfg.num_classes
    if method.mixer == "cutmix":
        layer = CutMixSeg(k, seed=seed)
    elif method.mixer == "mixup":
        layer = MixUpSeg(k, seed=seed)
    elif method.mixer in ("randaugment", "augmix"):
        layer = KerasImageAugment(method.mixer, k, seed=seed)
    else:
        def layer(batch: dict) -> dict:
            return {"images": batch["images"], "segmentation_masks": to_soft_masks(batch["segmentation_masks"], k)}
    # The mixing layers draw from their seed generators: in order, so a seed gives the same mixes.
    ds = ds.map(lambda b: layer(b))
    ds = ds.map(lambda b: (b["images"], b["segmentation_masks"]))
    return ds.prefetch(tf.data.AUTOTUNE)


def _build(method: Method, cfg: StudyConfig, seed: int, images: np.ndarray, masks: np.ndarray):
    """(compiled model, training dataset) of one run; HSMixModel for the superpixel methods."""
    import keras
    import tensorflow as tf

    from keras_hsmix.data.pipeline import make_pipeline
    from keras_hsmix.losses import DiceCELoss
    from keras_hsmix.metrics import Dice, Jaccard
    from keras_hsmix.models import unet
    from keras_hsmix.runs.train import (
        TrainConfig, build_model, learning_rate_schedule, make_optimizer, steps_per_epoch,
    )

    steps = steps_per_epoch(len(images), cfg.batch_size)
    n_segments = cfg.segments(method.segments_scale)
    if method.mixer == "hsmix":
        tc = TrainConfig(size=cfg.size, num_classes=cfg.num_classes, epochs=cfg.epochs, batch_size=cfg.batch_size,
                         learning_rate=cfg.learning_rate, lr_schedule=cfg.lr_schedule, weight_decay=cfg.weight_decay,
                         base_filters=cfg.base_filters, depth=cfg.depth,
                         mixing="hsmix", saliency=method.saliency, probabilities=method.probabilities,
                         mode=method.mode,
                         p=method.p if method.p is not None else cfg.p, n_segments=n_segments, seed=seed)
        model = build_model(tc, steps)
        ds = tf.data.Dataset.from_tensor_slices({"images": images, "segmentation_masks": masks})
        pipeline = make_pipeline(ds, batch_size=cfg.batch_size, num_classes=cfg.num_classes, mixer=None,
                                 augment=method.flips, color_jitter=method.color, n_segments=n_segments,
                                 seed=seed, output="dict",
                                 drop_remainder=len(images) >= cfg.batch_size)
        return model, pipeline
    keras.utils.set_random_seed(seed)  # same initial weights as build_model for this seed
    model = unet((cfg.size, cfg.size, 3), cfg.num_classes, cfg.base_filters, cfg.depth)
    learning_rate = learning_rate_schedule(cfg.learning_rate, cfg.lr_schedule, cfg.epochs * steps)
    model.compile(optimizer=make_optimizer(learning_rate, cfg.weight_decay), loss=DiceCELoss(from_logits=True),
                  metrics=[Dice(from_logits=True), Jaccard(from_logits=True)])
    return model, _plain_pipeline(images, masks, method, cfg, seed)


def _scores(model: Any, images: np.ndarray, masks: np.ndarray, with_hd95: bool = True,
            per_image: bool = False) -> dict[str, Any]:
    from keras_hsmix.runs.train import evaluate

    if with_hd95:
        return evaluate(model, images, masks, batch_size=16, per_image=per_image)
    import tensorflow as tf

    from keras_hsmix.metrics import Dice

    probs = model.predict(images, batch_size=16, verbose=0)
    dice = Dice(from_logits=True)
    dice.update_state(tf.one_hot(masks[..., 0], probs.shape[-1]), probs)
    return {"dice": float(dice.result())}


def _device() -> str:
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    if gpus:
        try:
            name = tf.config.experimental.get_device_details(gpus[0]).get("device_name", "GPU")
        except Exception:  # pragma: no cover - depends on the driver
            name = "GPU"
        return f"gpu:{name}"
    return f"cpu:{os.cpu_count()} cores"


def versions() -> dict[str, str]:
    """Library versions recorded with each run."""
    import keras
    import scipy
    import skimage
    import tensorflow as tf

    return {"python": platform.python_version(), "keras": keras.__version__, "tensorflow": tf.__version__,
            "numpy": np.__version__, "scikit-image": skimage.__version__, "scipy": scipy.__version__}


def train_run(spec: RunSpec, cfg: StudyConfig, data: StudyData, verbose: int = 0) -> dict[str, Any]:
    """Trains one run, keeps its best-validation-DSC weights, and returns its result record."""
    import keras

    method = METHODS[spec.method]
    start = time.time()
    subset = data.subset(spec.fraction)
    images, masks = data.train_images[subset], data.train_masks[subset]
    model, pipeline = _build(method, cfg, spec.seed, images, masks)
    import tensorflow as tf

    val = (data.val_images, data.val_masks)
    val_ds = tf.data.Dataset.from_tensor_slices(val).batch(32).cache()

    class BestWeights(keras.callbacks.Callback):
        def __init__(self) -> None:
            super().__init__()
            self.best, self.best_epoch, self.weights = -np.inf, -1, None

        def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
            score = float((logs or {}).get("val_dice", -np.inf))
            if score > self.best:
                self.best, self.best_epoch = score, epoch
                self.weights = [w.copy() for w in self.model.get_weights()]

    best = BestWeights()
    history = model.fit(pipeline, epochs=cfg.epochs, validation_data=val_ds,
                        callbacks=[best], verbose=verbose, shuffle=False)  # the pipeline shuffles
    train_s = time.time() - start
    if best.weights is not None:
        model.set_weights(best.weights)
    record: dict[str, Any] = {
        "run_id": spec.run_id(cfg), "method": spec.method, "method_spec": asdict(method),
        "fraction": spec.fraction, "seed": spec.seed, "n_train": int(len(subset)), "n_val": int(len(data.val_images)),
        "n_test": int(len(data.test_images)), "train_pool_indices": [int(i) for i in subset],
        "setting": cfg.setting(), "tag": cfg.tag(),
        "history": {k: [round(float(v), 5) for v in vals] for k, vals in history.history.items()},
        "best_epoch": int(best.best_epoch) + 1, "best_val_dice": float(best.best),
        "validation": _scores(model, *val),
        "test": _scores(model, data.test_images, data.test_masks, per_image=True), "test_names": data.test_names,
    }
    if cfg.robustness:
        record["robustness"] = {
            kind: _scores(model, corrupt(data.test_images, kind), data.test_masks, with_hd95=False)
            for kind in CORRUPTIONS
        }
    record.update({"train_seconds": round(train_s, 1), "wall_seconds": round(time.time() - start, 1),
                   "device": _device(), "versions": versions(), "command": cfg.command,
                   "finished": time.strftime("%Y-%m-%d %H:%M:%S")})
    del model
    keras.backend.clear_session()
    gc.collect()
    return record


def _write_json(path: Path, record: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(record, indent=1))
    os.replace(tmp, path)


def check_settings(cfg: StudyConfig, paths: Sequence[Path]) -> None:
    """Raises ``ValueError`` when a stored run was trained with other settings than ``cfg``'s.

    A stored run is skipped as done and enters the report, so one trained under other settings (an old
    file, a hand-copied one) would silently mix into the comparison. Keys missing from either side (older
    records) are not compared.
    """
    expected = cfg.setting()
    for path in paths:
        stored = json.loads(Path(path).read_text()).get("setting", {})
        diff = {k: (stored[k], expected[k]) for k in stored.keys() & expected.keys() if stored[k] != expected[k]}
        if diff:
            details = ", ".join(f"{k}: stored {a!r}, this study {b!r}" for k, (a, b) in sorted(diff.items()))
            raise ValueError(f"{path} was trained with other settings than this study ({details}); "
                             "move it away or use another --results-dir")


def run_study(cfg: StudyConfig, verbose: int = 0, max_runs: int | None = None,
              deadline: float | None = None, report: bool = True, log: Any = print) -> dict[str, Any]:
    """Runs (or resumes) a study: trains each planned run whose JSON is missing, then writes the report.

    Several processes may run the same study side by side (for example two with ``--threads 1`` on a
    2-core machine): each run is claimed by one of them (:func:`claim_run`) and skipped by the others.

    Args:
        cfg: the study settings.
        verbose: Keras ``fit`` verbosity.
        max_runs: train at most this many new runs.
        deadline: ``time.time()`` after which no new run is started.
        report: write ``docs/results.md`` and the plots after every run.
        log: progress printer.

    Returns ``{"trained": [...run ids], "skipped": [...], "remaining": [...]}``.
    """
    results_dir = Path(cfg.results_dir)
    plan = plan_runs(cfg)
    done = {p.stem for p in results_dir.glob("*.json")} if results_dir.is_dir() else set()
    check_settings(cfg, [results_dir / f"{r.run_id(cfg)}.json" for r in plan if r.run_id(cfg) in done])
    todo = [r for r in plan if r.run_id(cfg) not in done]
    summary: dict[str, Any] = {"trained": [], "skipped": [r.run_id(cfg) for r in plan if r.run_id(cfg) in done],
                               "remaining": []}
    log(f"study {cfg.tag()}: {len(plan)} planned runs, {len(summary['skipped'])} already done, {len(todo)} to run")
    data = load_study_data(cfg) if todo else None
    for i, spec in enumerate(todo):
        if (max_runs is not None and len(summary["trained"]) >= max_runs) or (deadline and time.time() > deadline):
            summary["remaining"] = [r.run_id(cfg) for r in todo[i:]]
            break
        run_id = spec.run_id(cfg)
        claim = results_dir / f"{run_id}.claim"
        if (results_dir / f"{run_id}.json").exists() or not claim_run(claim):
            log(f"[{i + 1}/{len(todo)}] {run_id}: finished or in progress in another process, skipped")
            summary["skipped"].append(run_id)
            continue
        try:
            log(f"[{i + 1}/{len(todo)}] {run_id} ...")
            record = train_run(spec, cfg, data, verbose=verbose)
            _write_json(results_dir / f"{run_id}.json", record)
        finally:
            claim.unlink(missing_ok=True)
        summary["trained"].append(run_id)
        log(f"    test DSC {record['test']['dice']:.4f}  best val DSC {record['best_val_dice']:.4f} "
            f"(epoch {record['best_epoch']})  {record['wall_seconds']:.0f} s")
        if report:
            write_report(cfg)
    if report and not summary["trained"]:
        write_report(cfg)
    return summary


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def claim_run(path: Path) -> bool:
    """Atomically claims one run for this process, so that several study processes can share a plan.

    The claim file holds ``host pid``; it is created with ``O_EXCL`` and removed when the run ends.
    A claim left by a process of this host that no longer exists (the study was killed) is taken
    over, so a resumed study never waits for a dead run. Claims of other hosts are respected.

    Example:
        >>> import tempfile
        >>> claim = Path(tempfile.mkdtemp()) / "run.claim"
        >>> claim_run(claim), claim_run(claim)
        (True, False)
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    except FileExistsError:
        try:
            host, pid = path.read_text().split()
            stale = host == socket.gethostname() and pid.isdigit() and not _alive(int(pid)) and int(pid) != os.getpid()
        except (OSError, ValueError):
            return False  # being written or removed right now: another process has it
        if not stale:
            return False
        path.unlink(missing_ok=True)
        return claim_run(path)
    with os.fdopen(fd, "w") as f:
        f.write(f"{socket.gethostname()} {os.getpid()}")
    return True


# ---------------------------------------------------------------------------------------- report


def load_results(results_dir: str | Path) -> list[dict]:
    """All run records under ``results_dir`` (recursively)."""
    out = []
    for path in sorted(Path(results_dir).rglob("*.json")):
        try:
            out.append(json.loads(path.read_text()))
        except (OSError, json.JSONDecodeError):
            continue
    return out


def _ms(values: Sequence[float], digits: int = 4) -> str:
    values = [v for v in values if v is not None and np.isfinite(v)]
    if not values:
        return "–"
    if len(values) == 1:
        return f"{values[0]:.{digits}f}"
    return f"{np.mean(values):.{digits}f} ± {np.std(values, ddof=1):.{digits}f}"


def paired(records: dict[tuple[str, int], dict], method: str, reference: str, seeds: Iterable[int]) -> list[float]:
    """Per-seed test-DSC differences ``method - reference`` over the seeds both finished."""
    return [records[(method, s)]["test"]["dice"] - records[(reference, s)]["test"]["dice"]
            for s in seeds if (method, s) in records and (reference, s) in records]


def _group_label(rec: dict) -> tuple[str, str]:
    device = rec.get("device", "cpu").split(":")[0]
    return rec.get("tag", "?"), device


def _group_order(label: tuple[str, str], recs: list[dict], main_tag: str) -> tuple:
    """Report order of the results groups: the study's own tag first, then by size, epochs, schedule (numerically).

    Example:
        >>> recs = lambda size, epochs: [{"setting": {"size": size, "epochs": epochs}}]
        >>> labels = {("glas128px-400ep", "cpu"): recs(128, 400), ("glas64px-400ep", "cpu"): recs(64, 400),
        ...           ("glas64px-200ep", "cpu"): recs(64, 200)}
        >>> sorted(labels, key=lambda k: _group_order(k, labels[k], "glas64px-200ep"))[1:]
        [('glas64px-400ep', 'cpu'), ('glas128px-400ep', 'cpu')]
    """
    setting = recs[0].get("setting", {})
    return (label[0] != main_tag, int(setting.get("size", 0)), int(setting.get("epochs", 0)),
            str(setting.get("lr_schedule", "constant")), label)


def write_report(cfg: StudyConfig, records: list[dict] | None = None) -> Path:
    """Writes ``<docs_dir>/results.md`` (+ ``results_dsc.png``, ``results_curves.png``) from finished runs.

    A GlaS study's report starts with the hand-written ``<docs_dir>/study_notes.md`` (budget, choices, what was
    tried and seen) when that file exists.
    """
    records = load_results(cfg.results_dir) if records is None else records
    docs = Path(cfg.docs_dir)
    docs.mkdir(parents=True, exist_ok=True)
    groups: dict[tuple[str, str], list[dict]] = {}
    for rec in records:
        groups.setdefault(_group_label(rec), []).append(rec)
    plan = plan_runs(cfg)
    done_ids = {r["run_id"] for r in records}
    missing = [r for r in plan if r.run_id(cfg) not in done_ids]

    lines = ["# Augmentation comparison on GlaS" if cfg.data_dir else "# Augmentation comparison (synthetic data)", ""]
    lines += [
        "Generated by `keras_hsmix.study.compare` from the run records in "
        f"`{cfg.results_dir}/` (one JSON per finished run, with its configuration, curves and metrics). "
        "Only measured numbers are shown; every table covers the runs finished so far.", "",
        "Protocol: a validation split (20 % of the GlaS training images, fixed) is held out for model "
        "selection (each run keeps its best-validation-DSC epoch); the rest is the training pool, of which "
        "fractions take fixed nested prefixes of one fixed permutation. The official test split is used "
        "for reporting only. All methods: same UNet, Adam, DiceCE loss, batch size and epoch budget; for "
        "one seed all methods start from the same initial weights. DSC / JAC: foreground, per image, "
        "mean over test images; HD95 in pixels of the resized image.", "",
    ]
    resume = ("python benchmarks/compare_augmentations.py" + (f" --data {cfg.data_dir}" if cfg.data_dir else "")
              + f" --size {cfg.size} --epochs {cfg.epochs} --base-filters {cfg.base_filters} --depth {cfg.depth}"
              + ("" if cfg.lr_schedule == "constant" else f" --lr-schedule {cfg.lr_schedule}")
              + f" --fractions {' '.join(str(f) for f in cfg.fractions)} --seeds-25 {cfg.seeds_25}"
              + f" --seeds-other {cfg.seeds_other}" + ("" if cfg.ablations else " --no-ablations")
              + f" --results-dir {cfg.results_dir} --docs-dir {cfg.docs_dir}")
    if cfg.quick:
        resume = "keras-hsmix compare --quick" + (f" --data {cfg.data_dir}" if cfg.data_dir else "")
    notes = docs / NOTES_FILE
    if cfg.data_dir and not cfg.quick and notes.is_file():
        lines += [notes.read_text().rstrip("\n") + "\n"]
    command = cfg.command if cfg.command and "--report-only" not in cfg.command else ""
    lines += ["## Command", ""]
    if command:
        lines += ["Last command run:", "", "```bash", command, "```", ""]
    lines += ["Each results group below lists the commands that produced its runs. "
              "Resume or complete the study (finished runs are skipped; several processes may run it side by side, "
              "each run is claimed by one):", "", "```bash", resume, "```", ""]

    ordered = sorted(groups, key=lambda label: _group_order(label, groups[label], cfg.tag()))
    for tag, device in ordered:
        lines += _group_section(tag, device, groups[(tag, device)], docs, first=(tag, device) == ordered[0])
    lines += training_selection_lines(records)

    lines += ["## Not yet run", ""]
    if missing:
        by: dict[tuple[float, str], list[int]] = {}
        for r in missing:
            by.setdefault((r.fraction, r.method), []).append(r.seed)
        lines += [f"{len(missing)} of {len(plan)} planned runs of `{cfg.tag()}` are not finished:", "",
                  "| fraction | method | seeds missing |", "|---|---|---|"]
        for (fraction, method), seeds in by.items():
            lines.append(f"| {fraction:.0%} | {method} | {', '.join(map(str, seeds))} |")
        lines += ["", f"Run them with the resume command above."]
    else:
        lines.append("All planned runs are finished.")
    lines.append("")
    path = docs / "results.md"
    path.write_text("\n".join(lines))
    return path


def late_val_dice(record: dict) -> float:
    """Mean validation DSC over the last eighth of a run's epochs (at least one epoch).

    Unlike the best-epoch value it involves no selection, so runs whose validation
    curves are noisier are not favoured by it.

    Example:
        >>> late_val_dice({"history": {"val_dice": [0.1] * 14 + [0.5, 0.7]}})
        0.6
    """
    values = record["history"]["val_dice"]
    tail = values[-max(1, len(values) // 8):]
    return round(float(np.mean(tail)), 10)


def _order(methods: Iterable[str]) -> list[str]:
    ranked = list(KEY_METHODS) + list(OTHER_METHODS) + list(ABLATIONS)
    return sorted(set(methods), key=lambda m: ranked.index(m) if m in ranked else len(ranked))


def coverage_lines(recs: list[dict]) -> list[str]:
    """How complete a group's method × fraction table is: finished seeds per cell, short cells in bold.

    Only for groups that span several fractions (the full comparison table).

    Example:
        >>> recs = [{"method": "none", "fraction": f, "seed": s} for f in (0.25, 0.5) for s in range(3)]
        >>> lines = coverage_lines(recs)
        >>> lines[4]
        '| none | **3** of 5 | 3 |'
    """
    fractions = sorted({r["fraction"] for r in recs})
    if len(fractions) < 2:
        return []
    seeds: dict[tuple[str, float], set[int]] = {}
    for r in recs:
        seeds.setdefault((r["method"], r["fraction"]), set()).add(r["seed"])
    rows, short = [], 0
    for m in TABLE_METHODS:
        cells = []
        for f in fractions:
            n, need = len(seeds.get((m, f), ())), required_seeds(f)
            short += n < need
            cells.append(str(n) if n >= need else f"**{n}** of {need}")
        rows.append(f"| {m} | " + " | ".join(cells) + " |")
    total = len(TABLE_METHODS) * len(fractions)
    return [f"Coverage of the comparison table ({len(TABLE_METHODS)} methods × {len(fractions)} fractions, "
            f"5 seeds at 25 %, 3 elsewhere): {total - short} of {total} cells complete; finished seeds per cell:",
            "", "| method | " + " | ".join(f"{f:.0%}" for f in fractions) + " |",
            "|---|" + "---|" * len(fractions)] + rows + [""]


def _group_section(tag: str, device: str, recs: list[dict], docs: Path, first: bool) -> list[str]:
    setting = recs[0].get("setting", {})
    vers = recs[0].get("versions", {})
    devices = sorted({r.get("device", "?") for r in recs})
    seeds_all = sorted({r["seed"] for r in recs})
    wall = sum(r.get("wall_seconds", 0) for r in recs)
    lines = [f"## Results: `{tag}` on {', '.join(devices)}", ""]
    lines += [f"- setting: {json.dumps(setting)}",
              f"- versions: {', '.join(f'{k} {v}' for k, v in vers.items())}",
              f"- seeds: {seeds_all}; runs: {len(recs)}; total wall time of these runs: {wall / 3600:.2f} h "
              f"(mean {wall / max(1, len(recs)):.0f} s per run)"]
    commands = sorted({r.get("command", "") for r in recs} - {""})
    lines += ["- commands that produced these runs:", ""] + [f"      {c}" for c in commands] + [""]
    lines += coverage_lines(recs)
    by_fraction: dict[float, dict[tuple[str, int], dict]] = {}
    for r in recs:
        by_fraction.setdefault(r["fraction"], {})[(r["method"], r["seed"])] = r
    suffix = "" if first else f"_{tag}_{device}".replace("/", "_")
    for fraction in sorted(by_fraction):
        table = by_fraction[fraction]
        methods = _order(m for m, _ in table)
        n_train = next(iter(table.values()))["n_train"]
        lines += [f"### {fraction:.0%} of the training pool ({n_train} training images)", "",
                  "Test split, best-validation checkpoint, mean ± std over seeds (sample std).", "",
                  "| method | seeds | DSC | JAC | HD95 (px) | best val DSC | best epoch | late val DSC |",
                  "|---|---|---|---|---|---|---|---|"]
        for m in methods:
            rs = [table[k] for k in sorted(table) if k[0] == m]
            lines.append(f"| {m} | {len(rs)} | {_ms([r['test']['dice'] for r in rs])} | "
                         f"{_ms([r['test']['jaccard'] for r in rs])} | {_ms([r['test']['hd95'] for r in rs], 2)} | "
                         f"{_ms([r['best_val_dice'] for r in rs])} | {_ms([r['best_epoch'] for r in rs], 0)} | "
                         f"{_ms([late_val_dice(r) for r in rs])} |")
        lines += ["", "Late val DSC: mean validation DSC over the last eighth of the epochs, free of the "
                  "best-epoch selection (the best of many noisy epochs is biased upwards, the more so the noisier "
                  "the curve)."]
        lines += ["", "Paired over seeds (test DSC difference, in DSC points ×100, mean ± std; wins = seeds where "
                  "the method is better):", "",
                  "| method | vs flips | wins | vs none | wins |", "|---|---|---|---|---|"]
        seeds = sorted({s for _, s in table})
        for m in methods:
            cells = []
            for ref in ("flips", "none"):
                d = paired(table, m, ref, seeds)
                if m == ref or not d:
                    cells += ["–", "–"]
                else:
                    cells += [_ms([100 * x for x in d], 2) + f" (n={len(d)})", f"{sum(x > 0 for x in d)}/{len(d)}"]
            lines.append(f"| {m} | " + " | ".join(cells) + " |")
        lines += [""]
        lines += per_image_lines(table, methods, seeds)
        if abs(fraction - 0.25) < 1e-9:
            lines += _target_lines(table, seeds)
            lines += validation_selection_lines(table)
        rob = [m for m in methods if any("robustness" in table[k] for k in table if k[0] == m)]
        if rob:
            kinds = CORRUPTIONS
            lines += ["Robustness: test DSC drop (clean − corrupted, DSC points ×100, mean ± std over seeds) "
                      "under synthetic artifacts (blur σ=1.5 px, smooth multiplicative bias field, contrast ×0.4, "
                      "Gaussian noise σ=0.08):", "",
                      "| method | clean DSC | " + " | ".join(kinds) + " |", "|---|---|" + "---|" * len(kinds)]
            for m in rob:
                rs = [table[k] for k in sorted(table) if k[0] == m and "robustness" in table[k]]
                cells = [_ms([100 * (r["test"]["dice"] - r["robustness"][k]["dice"]) for r in rs], 2) for k in kinds]
                lines.append(f"| {m} | {_ms([r['test']['dice'] for r in rs])} | " + " | ".join(cells) + " |")
            lines.append("")
    png = _plots(by_fraction, docs, suffix)
    lines += [f"![test DSC per method]({png[0]})", "", f"![validation curves]({png[1]})", ""]
    return lines


def reference_method(method: str) -> str:
    """The method a method is compared with: the same augmentation without the mixing.

    Example:
        >>> [reference_method(m) for m in ("hard", "hard+flips", "hsmix_gradcam+flips@p0.3",
        ...                                "hsmix_gradcam+flips+color", "flips+color")]
        ['none', 'flips', 'flips', 'flips+color', 'flips']
    """
    if method.endswith("+color") and method != "flips+color":
        return "flips+color"
    if method == "flips+color" or "+flips" in method:
        return "flips"
    return "none"


def per_image_gaps(table: dict[tuple[str, int], dict], method: str, reference: str,
                   seeds: Iterable[int]) -> tuple[list[str], np.ndarray, int] | None:
    """Test-DSC gap per test image (points ×100), ``method`` − ``reference``, averaged over the paired seeds.

    Uses the seeds where both runs stored per-image scores of the same test images; ``None`` if there is none.
    Returns the test image names, the mean gaps and the number of seeds used.

    Example:
        >>> rec = lambda d: {"test": {"dice_per_image": d}, "test_names": ["a", "b"]}
        >>> table = {("flips", 0): rec([0.5, 0.75]), ("x+flips", 0): rec([0.75, 0.5]),
        ...          ("flips", 1): rec([0.5, 0.5]), ("x+flips", 1): rec([0.75, 0.75])}
        >>> per_image_gaps(table, "x+flips", "flips", [0, 1])
        (['a', 'b'], array([25.,  0.]), 2)
    """
    gaps, names = [], None
    for seed in seeds:
        a, b = table.get((method, seed)), table.get((reference, seed))
        if a is None or b is None or "dice_per_image" not in a["test"] or "dice_per_image" not in b["test"]:
            continue
        if a.get("test_names") != b.get("test_names") or names not in (None, a.get("test_names")):
            continue
        names = a.get("test_names")
        gaps.append(np.subtract(a["test"]["dice_per_image"], b["test"]["dice_per_image"]) * 100)
    if not gaps:
        return None
    return list(names or range(len(gaps[0]))), np.mean(gaps, axis=0), len(gaps)


def per_image_lines(table: dict[tuple[str, int], dict], methods: list[str], seeds: list[int]) -> list[str]:
    """Report lines: where on the test split each method gains or loses against its reference, image by image."""
    rows = []
    for m in methods:
        ref = reference_method(m)
        result = None if m == ref else per_image_gaps(table, m, ref, seeds)
        if result is None:
            continue
        names, g, n = result
        order = np.argsort(g)
        losses = ", ".join(f"{names[i]} ({g[i]:+.1f})" for i in order[:3])
        gains = ", ".join(f"{names[i]} ({g[i]:+.1f})" for i in order[::-1][:3])
        rows.append(f"| {m} | {ref} | {n} | {int(np.sum(g > 0))}/{len(g)} | {np.median(g):+.2f} | "
                    f"{losses} | {gains} |")
    if not rows:
        return []
    return ["Per test image (test DSC gap to the reference in points ×100, per image, averaged over the seeds "
            "that stored per-image scores; images named by file stem):", "",
            "| method | vs | seeds | images better | median gap | largest losses | largest gains |",
            "|---|---|---|---|---|---|---|", *rows, ""]


def _t_text(gaps: Sequence[float]) -> str:
    """``", t = …"`` of a one-sample t over paired gaps (mean / (std / sqrt(n))), or ``""`` when undefined.

    Example:
        >>> _t_text([1.0, 2.0, 3.0]), _t_text([1.0])
        (', t = 3.46', '')
    """
    if len(gaps) < 2 or np.std(gaps, ddof=1) == 0:
        return ""
    return f", t = {np.mean(gaps) / (np.std(gaps, ddof=1) / np.sqrt(len(gaps))):.2f}"


def _target_lines(table: dict[tuple[str, int], dict], seeds: list[int]) -> list[str]:
    lines = ["Issue 4 target at 25 %, judged on the seeds both methods finished (paired test-DSC differences; "
             "t = mean / (std / sqrt(n)); two-sided 5 % critical |t|: 12.7 for n = 2, 4.3 for n = 3, 3.2 for n = 4, "
             "2.8 for n = 5):", ""]
    checks = [("hsmix_gradcam+flips", "flips", 0.015), ("hsmix_static+flips", "flips", 0.015),
              ("hsmix_gradcam+flips", "cutmix+flips", 0.0), ("hsmix_gradcam+flips", "mixup+flips", 0.0),
              ("hsmix_static+flips", "cutmix+flips", 0.0), ("hsmix_static+flips", "mixup+flips", 0.0),
              ("hsmix_gradcam", "none", 0.015)]
    ablations = [("hsmix_gradcam+flips+color", "flips+color", 0.015),  # beyond the target
                 ("hsmix_gradcam+flips+color", "mixup+flips+color", 0.0)]
    checks += [a for a in ablations if {a[0], a[1]} <= {m for m, _ in table}]
    for m, ref, margin in checks:
        d = [100 * x for x in paired(table, m, ref, seeds)]
        if not d:
            lines.append(f"- {m} ≥ {ref} + {100 * margin:.1f} points: not yet measured")
            continue
        gap = float(np.mean(d))
        ok = "met" if gap >= 100 * margin - 1e-9 else "NOT met"
        t = _t_text(d)
        label = " (colour-jitter ablation, beyond the issue's target)" if (m, ref, margin) in ablations else ""
        lines.append(f"- {m} ≥ {ref} + {100 * margin:.1f} points{label}: {ok} on {len(d)} seed(s) "
                     f"(paired gap {_ms(d, 2)} points{t})")
    return lines + [""]


def hsmix_variants(methods: Iterable[str]) -> list[str]:
    """The superpixel-mixing configurations on top of flips (HSMix and its ablations, hard or soft only), without
    colour jitter, each once in first-seen order: the candidates a user would tune HSMix among.

    Example:
        >>> hsmix_variants(["flips", "hard+flips", "hsmix_gradcam+flips@p0.3", "hsmix_gradcam", "mixup+flips",
        ...                 "hsmix_gradcam+flips+color", "hard+flips"])
        ['hard+flips', 'hsmix_gradcam+flips@p0.3']
    """
    prefixes = ("hsmix_", "hard+", "soft_")
    return [m for m in dict.fromkeys(methods) if m.startswith(prefixes) and "+flips" in m and "+color" not in m]


def mean_best_val(table: dict[tuple[str, int], dict], method: str, seeds: Sequence[int]) -> float | None:
    """Mean best-validation DSC of ``method`` over ``seeds``, or ``None`` unless every seed finished.

    Example:
        >>> table = {("flips", 0): {"best_val_dice": 0.7}, ("flips", 1): {"best_val_dice": 0.8}}
        >>> round(mean_best_val(table, "flips", [0, 1]), 2), mean_best_val(table, "flips", [0, 1, 2])
        (0.75, None)
    """
    if not all((method, s) in table for s in seeds):
        return None
    return float(np.mean([table[(method, s)]["best_val_dice"] for s in seeds]))


def select_on_validation(
    table: dict[tuple[str, int], dict],
    candidates: Sequence[str],
    reference: str = "flips",
    select_seeds: Sequence[int] = range(5),
    eval_seeds: Sequence[int] | None = None,
) -> dict[str, Any] | None:
    """Picks one configuration by validation only, then measures it on runs the choice never saw.

    Among ``candidates`` that finished every seed of ``select_seeds``, the one with the highest mean best-validation
    DSC is chosen; its test DSC is then compared with ``reference`` (paired) on ``eval_seeds`` (default: every
    other seed both finished), fresh training runs whose scores played no part in the choice. Test scores are never
    used to choose, so the gap on ``eval_seeds`` is an honest estimate of what tuning on validation buys. ``None``
    when no candidate finished ``select_seeds``.

    Returns ``{"chosen", "ranking": [(method, mean val DSC)...], "gap": [test DSC differences on the eval seeds
    both finished], "eval_seeds_done"}``.
    """
    ranking = [(m, val) for m in candidates if (val := mean_best_val(table, m, select_seeds)) is not None]
    if not ranking:
        return None
    ranking.sort(key=lambda item: -item[1])
    chosen = ranking[0][0]
    if eval_seeds is None:
        eval_seeds = sorted({s for m, s in table if m == chosen and s not in set(select_seeds)})
    done = [s for s in eval_seeds if (chosen, s) in table and (reference, s) in table]
    gap = [table[(chosen, s)]["test"]["dice"] - table[(reference, s)]["test"]["dice"] for s in done]
    return {"chosen": chosen, "ranking": ranking, "gap": gap, "eval_seeds_done": done}


def validation_selection_lines(table: dict[tuple[str, int], dict]) -> list[str]:
    """Report lines of :func:`select_on_validation` over the HSMix variants (25 % only)."""
    result = select_on_validation(table, hsmix_variants(m for m, _ in table))
    if result is None or len(result["ranking"]) < 2:
        return []
    top = ", ".join(f"{m} {v:.4f}" for m, v in result["ranking"][:4])
    lines = ["HSMix configuration chosen on validation only: among the "
             f"{len(result['ranking'])} HSMix variants on top of flips with seeds 0-4 finished, the highest mean "
             f"best-validation DSC (seeds 0-4) is {top}.", ""]
    d = [100 * x for x in result["gap"]]
    if not d:
        lines.append(f"- {result['chosen']} on seeds ≥ 5 (runs the choice never saw): not yet measured; run "
                     f"`--seeds-25 10 --methods {result['chosen']} flips`")
    else:
        t = _t_text(d)
        seeds = ", ".join(map(str, result["eval_seeds_done"]))
        lines.append(f"- {result['chosen']} − flips on seeds {seeds} (runs the choice never "
                     f"saw): {_ms(d, 2)} points{t}, {sum(x > 0 for x in d)}/{len(d)} seeds better")
    return lines + [""]


TRAINING_KEYS: tuple[str, ...] = ("learning_rate", "lr_schedule", "optimizer", "weight_decay")


def training_label(setting: dict[str, Any]) -> str:
    """A short name for a run's optimizer settings.

    Example:
        >>> training_label({"optimizer": "adamw", "learning_rate": 0.002, "weight_decay": 0.0005})
        'AdamW lr 0.002, wd 0.0005'
        >>> training_label({"optimizer": "adam", "learning_rate": 0.001, "lr_schedule": "cosine"})
        'Adam lr 0.001, cosine'
    """
    name = "AdamW" if setting.get("optimizer") == "adamw" else "Adam"
    label = f"{name} lr {setting.get('learning_rate', 0):g}"
    if setting.get("weight_decay"):
        label += f", wd {setting['weight_decay']:g}"
    if setting.get("lr_schedule", "constant") != "constant":
        label += f", {setting['lr_schedule']}"
    return label


def select_training_settings(records: Iterable[dict], select_seeds: Sequence[int] = range(5)) -> list[dict[str, Any]]:
    """Chooses each method's optimizer settings on validation, across groups that differ only in them.

    Runs whose stored ``setting`` agrees except for :data:`TRAINING_KEYS` (learning rate, schedule, optimizer,
    weight decay), at the same fraction and on the same kind of device, form one comparison. Within it each method
    that finished ``select_seeds`` under at least two settings gets the setting with the highest mean
    best-validation DSC over those seeds; test scores play no part. The method is then compared on test, paired by
    seed, with its reference (:func:`reference_method`) at the reference's own chosen setting, so every method,
    baselines included, is tuned the same way.

    Returns one dict per method with ``fraction``, ``method``, ``ranking`` ([(tag, label, mean val DSC)], best
    first), ``chosen`` (a tag), ``reference`` and ``reference_chosen`` (``None`` when the reference has no choice),
    ``seeds`` and ``gap`` (test DSC differences over every seed both chosen runs finished) and ``fresh_seeds`` /
    ``fresh_gap`` (the same, without ``select_seeds``: runs the choice never saw).
    """
    clusters: dict[tuple, dict[str, dict[tuple[str, int], dict]]] = {}
    for rec in records:
        setting = rec.get("setting")
        if not setting or "tag" not in rec:
            continue
        base = json.dumps({k: v for k, v in setting.items() if k not in TRAINING_KEYS}, sort_keys=True)
        key = (base, rec["fraction"], _group_label(rec)[1])
        clusters.setdefault(key, {}).setdefault(rec["tag"], {})[(rec["method"], rec["seed"])] = rec
    out: list[dict[str, Any]] = []
    used = set(select_seeds)
    for key in sorted(clusters):
        tables = clusters[key]
        if len(tables) < 2:
            continue
        rankings: dict[str, list[tuple[str, str, float]]] = {}
        for m in _order(m for table in tables.values() for m, _ in table):
            ranking = [(tag, training_label(table[(m, select_seeds[0])]["setting"]), val)
                       for tag, table in tables.items() if (val := mean_best_val(table, m, select_seeds)) is not None]
            if len(ranking) >= 2:
                rankings[m] = sorted(ranking, key=lambda item: -item[2])
        for m, ranking in rankings.items():
            ref = reference_method(m)
            chosen = tables[ranking[0][0]]
            row: dict[str, Any] = {"fraction": key[1], "method": m, "ranking": ranking, "chosen": ranking[0][0],
                                   "reference": ref, "reference_chosen": None, "seeds": [], "gap": [],
                                   "fresh_seeds": [], "fresh_gap": []}
            if m != ref and ref in rankings:
                row["reference_chosen"] = rankings[ref][0][0]
                ref_table = tables[row["reference_chosen"]]
                seeds = sorted(s for (mm, s) in chosen if mm == m and (ref, s) in ref_table)
                gaps = [chosen[(m, s)]["test"]["dice"] - ref_table[(ref, s)]["test"]["dice"] for s in seeds]
                row.update(seeds=seeds, gap=gaps,
                           fresh_seeds=[s for s in seeds if s not in used],
                           fresh_gap=[g for s, g in zip(seeds, gaps) if s not in used])
            out.append(row)
    return out


def training_selection_lines(records: Iterable[dict], select_seeds: Sequence[int] = range(5)) -> list[str]:
    """Report section of :func:`select_training_settings` (empty when no two groups differ only in the optimizer)."""
    rows = select_training_settings(records, select_seeds)
    if not rows:
        return []
    first, last = select_seeds[0], select_seeds[-1]
    lines = ["## Optimizer settings chosen on validation", "",
             "Groups whose runs differ only in the optimizer (learning rate, weight decay, schedule) compared per "
             f"method: each method gets the setting with the highest mean best-validation DSC over seeds "
             f"{first}-{last} (test scores play no part), then its test DSC is paired by seed with its reference's "
             "(flips for + flips methods, none otherwise) at the reference's own chosen setting, so baselines are "
             "tuned the same way. 'Fresh seeds' leaves out the seeds the choice was made on. Gaps in DSC points ×100.",
             ""]
    by_fraction: dict[float, list[dict]] = {}
    for row in rows:
        by_fraction.setdefault(row["fraction"], []).append(row)
    for fraction, group in by_fraction.items():
        labels = {tag: label for row in group for tag, label, _ in row["ranking"]}
        lines += [f"At {fraction:.0%} of the training pool, settings compared: "
                  + "; ".join(f"`{tag}` ({label})" for tag, label in sorted(labels.items())) + ".", "",
                  f"| method | mean best val DSC per setting (seeds {first}-{last}) | chosen | reference at | "
                  "vs reference, every seed | fresh seeds |", "|---|---|---|---|---|---|"]
        for row in group:
            vals = "; ".join(f"{label}: {val:.4f}" for _, label, val in row["ranking"])
            cells = []
            for gap in (row["gap"], row["fresh_gap"]):
                d = [100 * x for x in gap]
                sign = "+" if d and np.mean(d) > 0 else ""
                cells.append(f"{sign}{_ms(d, 2)}{_t_text(d)} ({sum(x > 0 for x in d)}/{len(d)} better)" if d else "–")
            ref_at = labels[row["reference_chosen"]] if row["reference_chosen"] else "–"
            lines.append(f"| {row['method']} | {vals} | {labels[row['chosen']]} | {ref_at} | {cells[0]} | "
                         f"{cells[1]} |")
        lines.append("")
    return lines


def _plots(by_fraction: dict[float, dict[tuple[str, int], dict]], docs: Path, suffix: str) -> tuple[str, str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fractions = sorted(by_fraction)
    methods = _order(m for t in by_fraction.values() for m, _ in t)
    fig, ax = plt.subplots(figsize=(max(8, 0.6 * len(methods) * len(fractions)), 4.5))
    width = 0.8 / max(1, len(fractions))
    x = np.arange(len(methods))
    for j, f in enumerate(fractions):
        table = by_fraction[f]
        values = [[r["test"]["dice"] for k, r in table.items() if k[0] == m] for m in methods]
        means = [np.mean(v) if v else np.nan for v in values]
        stds = [np.std(v, ddof=1) if len(v) > 1 else 0.0 for v in values]
        ax.bar(x + j * width, means, width, yerr=stds, capsize=2, label=f"{f:.0%}")
        for i, v in enumerate(values):  # one dot per seed
            ax.plot([x[i] + j * width] * len(v), v, "k.", ms=3)
    ax.set_xticks(x + width * (len(fractions) - 1) / 2)
    ax.set_xticklabels(methods, rotation=60, ha="right", fontsize=8)
    finite = [r["test"]["dice"] for t in by_fraction.values() for r in t.values()]
    ax.set_ylim(max(0.0, min(finite) - 0.05), min(1.0, max(finite) + 0.03))
    ax.set_ylabel("test DSC (mean ± std over seeds)")
    ax.legend(title="training fraction")
    fig.tight_layout()
    bar = f"results_dsc{suffix}.png"
    fig.savefig(docs / bar, dpi=110)
    plt.close(fig)

    f0 = fractions[0]
    table = by_fraction[f0]
    fig, ax = plt.subplots(figsize=(9, 5))
    for m in _order(m for m, _ in table):
        curves = [r["history"].get("val_dice", []) for k, r in table.items() if k[0] == m]
        n = min(len(c) for c in curves) if curves else 0
        if n == 0:
            continue
        mean = np.mean([c[:n] for c in curves], axis=0)
        k = max(1, n // 40)
        smooth = np.convolve(mean, np.ones(k) / k, mode="valid")
        ax.plot(np.arange(len(smooth)) + k, smooth, label=f"{m} ({len(curves)})", lw=1.2)
    ax.set_xlabel("epoch")
    ax.set_ylabel(f"validation DSC (mean over seeds, moving average)")
    ax.set_title(f"validation curves at {f0:.0%}")
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    curves_png = f"results_curves{suffix}.png"
    fig.savefig(docs / curves_png, dpi=110)
    plt.close(fig)
    return bar, curves_png


# ------------------------------------------------------------------------------------------- CLI


def add_arguments(parser: Any) -> None:
    """The study's command-line options (shared by the CLI subcommand and the benchmark script)."""
    parser.add_argument("--data", default="auto",
                        help="GlaS root with train/ and test/ ('auto': $KERAS_HSMIX_GLAS or ../shared/datasets/glas "
                             "when present; 'synthetic': the built-in data)")
    parser.add_argument("--results-dir", default="benchmarks/results")
    parser.add_argument("--docs-dir", default="docs")
    parser.add_argument("--quick", action="store_true", help="smoke run: 1 seed, 2 epochs, 64 px, few images")
    parser.add_argument("--size", type=int, default=None)
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument("--fractions", type=float, nargs="+", default=None)
    parser.add_argument("--seeds-25", type=int, default=None, help="seeds at 25 %% (default 5)")
    parser.add_argument("--seeds-other", type=int, default=None, help="seeds at other fractions (default 3)")
    parser.add_argument("--methods", nargs="+", default=None,
                        help=f"subset of methods (or 'key'); known: {', '.join(METHODS)}")
    parser.add_argument("--no-ablations", action="store_true")
    parser.add_argument("--no-robustness", action="store_true")
    parser.add_argument("--base-filters", type=int, default=None)
    parser.add_argument("--depth", type=int, default=None)
    parser.add_argument("--batch-size", type=int, default=None)
    parser.add_argument("--lr", type=float, default=None)
    parser.add_argument("--lr-schedule", default=None, choices=["constant", "cosine"],
                        help="constant (default) or cosine decay to lr / 1000 over the run; cosine groups are "
                             "tagged '-cos'")
    parser.add_argument("--weight-decay", type=float, default=None,
                        help="> 0: AdamW with this weight decay (the authors' recipe: --lr 2e-3 --weight-decay 5e-4); "
                             "settings other than the defaults are named in the run ids")
    parser.add_argument("--max-runs", type=int, default=None, help="train at most this many new runs")
    parser.add_argument("--hours", type=float, default=None, help="start no new run after this many hours")
    parser.add_argument("--threads", type=int, default=0, help="TensorFlow intra-op threads (0: default)")
    parser.add_argument("--report-only", action="store_true", help="only rewrite docs/results.md from the results")
    parser.add_argument("--list", action="store_true", help="print the planned runs and whether each is done")
    parser.add_argument("--verbose", type=int, default=0)


def config_from_args(args: Any, argv: Sequence[str] | None = None) -> StudyConfig:
    """Builds a :class:`StudyConfig` from parsed :func:`add_arguments` options."""
    data = default_glas_dir() if args.data == "auto" else (None if args.data == "synthetic" else args.data)
    prog = "python benchmarks/compare_augmentations.py " if sys.argv[0].endswith("compare_augmentations.py") \
        else "keras-hsmix compare "
    command = prog + " ".join(shlex.quote(a) for a in (argv if argv is not None else sys.argv[1:]))
    cfg = StudyConfig.quick_config(data_dir=data) if args.quick else StudyConfig(data_dir=data)
    overrides: dict[str, Any] = {"results_dir": args.results_dir, "docs_dir": args.docs_dir,
                                 "command": command.strip(), "robustness": not args.no_robustness}
    for name, attr in (("size", "size"), ("epochs", "epochs"), ("seeds_25", "seeds_25"),
                       ("seeds_other", "seeds_other"), ("base_filters", "base_filters"), ("depth", "depth"),
                       ("batch_size", "batch_size"), ("lr", "learning_rate"),
                       ("lr_schedule", "lr_schedule"), ("weight_decay", "weight_decay")):
        if getattr(args, name) is not None:
            overrides[attr] = getattr(args, name)
    if args.fractions:
        overrides["fractions"] = tuple(args.fractions)
    if args.methods:
        overrides["methods"] = KEY_METHODS if args.methods == ["key"] else tuple(args.methods)
    if args.no_ablations:
        overrides["ablations"] = False
    return replace(cfg, **overrides)


def set_threads(threads: int) -> None:
    """Limit TensorFlow's intra- and inter-op thread pools to ``threads`` each (0: leave TF's defaults).

    Call before TensorFlow runs its first op. Two study processes with one thread each share 2 cores.
    """
    if threads:
        import tensorflow as tf

        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(threads)


def main(args: Any, argv: Sequence[str] | None = None) -> int:
    """Entry point shared by ``keras-hsmix compare`` and ``benchmarks/compare_augmentations.py``."""
    set_threads(args.threads)
    cfg = config_from_args(args, argv)
    if args.list:
        done = {p.stem for p in Path(cfg.results_dir).glob("*.json")}
        for r in plan_runs(cfg):
            print(("done " if r.run_id(cfg) in done else "todo ") + r.run_id(cfg))
        return 0
    if args.report_only:
        print(f"wrote {write_report(cfg)}")
        return 0
    deadline = time.time() + 3600 * args.hours if args.hours else None
    summary = run_study(cfg, verbose=args.verbose, max_runs=args.max_runs, deadline=deadline,
                        log=lambda s: print(s, flush=True))
    print(f"trained {len(summary['trained'])}, skipped {len(summary['skipped'])}, "
          f"left {len(summary['remaining'])}; report: {Path(cfg.docs_dir) / 'results.md'}")
    return 0
