"""Per-epoch, per-image traces of one study run: where and when a model fails, for diagnosis only.

:func:`trace_run` trains one run of the study exactly as :func:`keras_hsmix.runs.compare.train_run`
builds it (same model, data pipeline, seed and settings) and, every ``every`` epochs, records the DSC of
each validation and test image and the share of each image the model predicts as foreground. That shows
whether a low test score is a failure of model selection (the test images swing from epoch to epoch) or
of training (they stay wrong for many epochs), and whether a failing image is under- or over-segmented.

The test split is only looked at here, never used to choose anything: the study still selects the
best-validation epoch. Training is not bitwise reproducible on CPU (``tf.data`` runs SLIC in parallel),
so a trace is a fresh run with the same seed and settings, not a replay of a stored run.

Example (the built-in synthetic data, 2 epochs):
    >>> from keras_hsmix.runs.compare import RunSpec, load_compare_data
    >>> from study.config import StudyConfig
    >>> cfg = StudyConfig.quick_config(data_dir=None)
    >>> trace = trace_run(RunSpec("hard+flips", 0.5, 0), cfg, load_compare_data(cfg), every=1)  # doctest: +SKIP
    >>> [row["epoch"] for row in trace["epochs"]]  # doctest: +SKIP
    [1, 2]
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

from keras_hsmix.runs.compare import CompareData, RunSpec, build_run
from study.config import StudyConfig
from study.methods import METHODS

COLLAPSE_DSC = 0.2  # a test image scored below this counts as failed in the printed summary


def image_scores(model: Any, images: np.ndarray, masks: np.ndarray) -> dict[str, list[float]]:
    """Per-image foreground DSC (the study's metric) and predicted foreground share of ``model``.

    Example:
        >>> import numpy as np
        >>> class Constant:  # predicts foreground everywhere
        ...     def predict(self, x, batch_size, verbose):
        ...         return np.stack([np.zeros(x.shape[:3]), np.ones(x.shape[:3])], -1)
        >>> masks = np.zeros((2, 2, 2, 1), np.int32); masks[0, 0] = 1
        >>> image_scores(Constant(), np.zeros((2, 2, 2, 3)), masks)
        {'dice': [0.6667, 0.0], 'foreground': [1.0, 1.0]}
    """
    import tensorflow as tf

    from keras_hsmix.metrics import Dice

    probs = model.predict(images, batch_size=32, verbose=0)
    one_hot = tf.one_hot(masks[..., 0], probs.shape[-1])
    dice = np.asarray(Dice(from_logits=True).per_image_scores(one_hot, probs))
    foreground = (np.argmax(probs, -1) > 0).mean(axis=(1, 2))
    return {"dice": [round(float(v), 4) for v in dice], "foreground": [round(float(v), 4) for v in foreground]}


def trace_run(spec: RunSpec, cfg: StudyConfig, data: CompareData, every: int = 5, verbose: int = 0,
              on_row: Callable[[dict, dict], None] | None = None) -> dict[str, Any]:
    """Trains one study run and records per-image validation and test scores every ``every`` epochs.

    Args:
        spec: the run (method, fraction, seed), as in the study.
        cfg: the study settings (epochs, size, model, ...).
        data: from :func:`keras_hsmix.runs.compare.load_compare_data`.
        every: record after every ``every``-th epoch (and after the last).
        verbose: Keras ``fit`` verbosity.
        on_row: called as ``on_row(row, trace)`` after each recorded epoch (to print or save progress).

    Returns ``{"run_id", "method", "seed", "fraction", "setting", "test_names", "val_indices",
    "val_foreground", "test_foreground", "epochs": [{"epoch", "val_dice", "val", "test"}]}`` where
    ``val`` and ``test`` hold :func:`image_scores` and ``val_dice`` is the epoch's Keras ``val_dice``.
    """
    import keras
    import tensorflow as tf

    if every < 1:
        raise ValueError(f"every must be >= 1, got {every}")
    if spec.method not in METHODS:
        raise ValueError(f"unknown method {spec.method!r}; known: {sorted(METHODS)}")
    subset = data.subset(spec.fraction)
    model, pipeline = build_run(METHODS[spec.method], cfg, spec.seed, data.train_images[subset],
                             data.train_masks[subset])
    val_ds = tf.data.Dataset.from_tensor_slices((data.val_images, data.val_masks)).batch(32).cache()
    trace: dict[str, Any] = {
        "run_id": spec.run_id(cfg), "method": spec.method, "seed": spec.seed, "fraction": spec.fraction,
        "setting": cfg.setting(), "test_names": data.test_names,
        "val_indices": [int(i) for i in data.val_indices],
        "val_foreground": [round(float(v), 4) for v in (data.val_masks[..., 0] > 0).mean(axis=(1, 2))],
        "test_foreground": [round(float(v), 4) for v in (data.test_masks[..., 0] > 0).mean(axis=(1, 2))],
        "epochs": [],
    }

    class Recorder(keras.callbacks.Callback):
        def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
            if (epoch + 1) % every and epoch + 1 != cfg.epochs:
                return
            row = {"epoch": epoch + 1, "val_dice": round(float((logs or {}).get("val_dice", np.nan)), 4),
                   "val": image_scores(self.model, data.val_images, data.val_masks),
                   "test": image_scores(self.model, data.test_images, data.test_masks)}
            trace["epochs"].append(row)
            if on_row is not None:
                on_row(row, trace)

    start = time.time()
    model.fit(pipeline, epochs=cfg.epochs, validation_data=val_ds, callbacks=[Recorder()], verbose=verbose,
              shuffle=False)  # the pipeline shuffles
    trace["train_seconds"] = round(time.time() - start, 1)
    keras.backend.clear_session()
    return trace


def summary_line(row: dict, test_foreground: list[float]) -> str:
    """One printed line per recorded epoch: validation DSC, mean test DSC and the failed test images.

    Example:
        >>> row = {"epoch": 5, "val_dice": 0.7, "test": {"dice": [0.9, 0.1], "foreground": [0.5, 0.02]}}
        >>> summary_line(row, [0.5, 0.6])
        'epoch    5  val DSC 0.700  test DSC 0.500  test images < 0.2: 1 (predicted fg 0.02 of true 0.60)'
    """
    dice = np.asarray(row["test"]["dice"])
    failed = dice < COLLAPSE_DSC
    line = (f"epoch {row['epoch']:4d}  val DSC {row['val_dice']:.3f}  test DSC {dice.mean():.3f}  "
            f"test images < {COLLAPSE_DSC:g}: {int(failed.sum())}")
    if failed.any():
        predicted = float(np.mean(np.asarray(row["test"]["foreground"])[failed]))
        line += f" (predicted fg {predicted:.2f} of true {float(np.mean(np.asarray(test_foreground)[failed])):.2f})"
    return line


def write_trace(trace: dict, out_dir: str | Path) -> Path:
    """Writes ``<out_dir>/<run_id>.trace.json`` (through a temporary file) and returns its path."""
    path = Path(out_dir) / f"{trace['run_id']}.trace.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(trace))
    tmp.replace(path)
    return path


def group_curve(trace: dict, names: list[str]) -> dict[str, list[float]]:
    """Per recorded epoch: mean test DSC and predicted foreground share of the named test images, and of the rest.

    Example:
        >>> trace = {"test_names": ["a", "b", "c"], "test_foreground": [0.5, 0.4, 0.3],
        ...          "epochs": [{"epoch": 5, "val_dice": 0.7,
        ...                      "test": {"dice": [0.1, 0.3, 0.9], "foreground": [0.0, 0.2, 0.3]}}]}
        >>> group_curve(trace, ["a", "b"])
        {'epoch': [5], 'val_dice': [0.7], 'dice': [0.2], 'foreground': [0.1], 'true_foreground': 0.45, 'rest_dice': [0.9]}
    """
    missing = [n for n in names if n not in trace["test_names"]]
    if missing:
        raise ValueError(f"test images {missing} are not in the trace (it has {len(trace['test_names'])} test images)")
    idx = [trace["test_names"].index(n) for n in names]
    rest = [i for i in range(len(trace["test_names"])) if i not in idx]
    rows = trace["epochs"]

    def mean(values: list[float], where: list[int]) -> float:
        return round(float(np.mean([values[i] for i in where])), 4) if where else float("nan")

    return {"epoch": [r["epoch"] for r in rows], "val_dice": [r["val_dice"] for r in rows],
            "dice": [mean(r["test"]["dice"], idx) for r in rows],
            "foreground": [mean(r["test"]["foreground"], idx) for r in rows],
            "true_foreground": mean(trace["test_foreground"], idx),
            "rest_dice": [mean(r["test"]["dice"], rest) for r in rows]}
