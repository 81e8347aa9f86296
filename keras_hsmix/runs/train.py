"""A complete, resumable training run: data -> HSMixModel(UNet) -> checkpoints -> results.

Used by ``keras-hsmix train``; the comparison study builds on the same pieces.
"""

from __future__ import annotations

import json
import shutil
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from keras_hsmix.data import load_arrays, make_pipeline
from keras_hsmix.losses import DiceCELoss
from keras_hsmix.metrics import Dice, Jaccard, hd95_mean
from keras_hsmix.models import unet
from keras_hsmix.runs.lock import RunLock
from keras_hsmix.runs.records import finite_or_none, write_json
from keras_hsmix.training.model import HSMixModel
from keras_hsmix.training.serving import export_for_serving

BACKUP_DIR = "backup"
LR_SCHEDULES: tuple[str, ...] = ("constant", "cosine")


@dataclass
class TrainConfig:
    """Settings of one training run (saved as ``config.json`` in the run folder)."""

    out: str = "runs/hsmix"
    data: str | None = None  # folder with images/ and masks/; None: built-in synthetic data
    test_data: str | None = None
    size: int = 64  # the defaults are the demo's (issue 25): DSC >= 0.85 on the built-in data in about a minute
    num_classes: int = 2
    mask_mode: str = "nonzero"  # how mask files become class ids: "nonzero", "threshold" (binary) or "values"
    label_values: list[int] | None = None  # mask_mode="values": raw value of each class; None: 0..num_classes-1
    mask_suffix: str = ""  # a mask's file stem is its image's stem + this (e.g. "_mask")
    channels: int = 3  # image channels: 3 (RGB) or 1 (grayscale: CT, MRI, ultrasound, X-ray; RGB files become luma)
    num_images: int = 48  # synthetic data only
    val_fraction: float = 0.2
    epochs: int = 12
    batch_size: int = 8
    learning_rate: float = 3e-3
    lr_schedule: str = "constant"  # or "cosine": decays to learning_rate / 1000 over the run
    weight_decay: float = 0.0  # > 0: AdamW with this decoupled weight decay (the authors': 5e-4), 0: Adam
    base_filters: int = 8
    depth: int = 3
    mixing: str = "hsmix"  # "hsmix" or "none"
    # The HSMix policy: a named recipe (docs/recipes.md; None: HSMixModel's, "paper"), whose settings these override
    # when given (n_segments is always this config's, scaled to the image size).
    recipe: str | None = None
    saliency: str | None = None  # None: the recipe's ("gradcam" for "paper" and "default")
    probabilities: tuple[float, float, float] | None = None  # None: the recipe's (1/3 each; unused by concat)
    mode: str | None = None  # None: the recipe's ("concat": hard and soft halves every step; "random": one of three)
    p: float | None = None  # None: the recipe's (0.5)
    n_segments: tuple[int, int] = (20, 40)
    flips: bool = True
    color_jitter: float = 0.0  # strength of data.random_color_jitter (images only), 0: none
    # Momentum of the UNet's batch-norm moving statistics; None: Keras' 0.99, whose statistics need some 500 steps
    # to settle (a short run then validates with unsettled ones: the demo predicted foreground everywhere).
    bn_momentum: float | None = None
    seed: int = 0
    export: bool = True  # write saved_model/ at the end (docs/serving.md); False: skip it (a quick experiment)
    extra: dict = field(default_factory=dict)


def _arrays(folder: str | None, config: TrainConfig, seed: int) -> tuple[np.ndarray, np.ndarray]:
    return load_arrays(folder, config.size, None, config.mask_mode, seed, num_images=config.num_images,
                       label_values=config.label_values, mask_suffix=config.mask_suffix, channels=config.channels,
                       num_classes=config.num_classes)


def _reconcile_history(history: Path, backup: Path) -> float | None:
    """Before resuming: keeps the ``history.csv`` rows of the epochs the backup holds.

    A run killed after a row was logged but before its backup was written (or while
    a row was written) would otherwise log that epoch twice. Returns the best
    ``val_dice`` of the kept rows, so ``best.weights.h5`` is only replaced by a better
    epoch after the resume, as without the interruption.
    """
    if not history.exists():
        return None
    try:
        finished = int(json.loads((backup / "training_metadata.json").read_text())["epoch"])
    except (OSError, ValueError, KeyError, TypeError):
        finished = None  # no usable backup: the run restarts from epoch 0
    lines = history.read_text().splitlines()
    if not lines:
        return None
    header = lines[0].split(",")
    keep, best = [lines[0]], None
    for line in lines[1:]:
        fields = line.split(",")
        if len(fields) != len(header):
            continue  # a row cut short by the kill
        row = dict(zip(header, fields))
        try:
            epoch = int(row["epoch"])
        except (KeyError, ValueError):
            continue
        if finished is None or epoch >= finished:
            continue
        keep.append(line)
        try:
            value = float(row["val_dice"])
        except (KeyError, ValueError):
            continue
        best = value if best is None or value > best else best
    if len(keep) != len(lines):
        partial = history.with_name(history.name + ".tmp")
        partial.write_text("\n".join(keep) + "\n")
        partial.replace(history)
    return best


def split_train_val(n: int, val_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Seeded split of ``range(n)`` into train and validation indices (at least one each)."""
    if n < 2:
        raise ValueError(f"need at least 2 images to hold out a validation split, got {n}")
    order = np.random.default_rng(seed).permutation(n)
    n_val = min(n - 1, max(1, int(round(n * val_fraction))))
    return np.sort(order[n_val:]), np.sort(order[:n_val])


def steps_per_epoch(num_images: int, batch_size: int) -> int:
    """Optimizer steps of one pass over ``num_images``, as the pipelines batch them.

    The last partial batch is dropped when there is at least one full batch
    (``drop_remainder=len(images) >= batch_size``), otherwise kept.

    Example:
        >>> steps_per_epoch(17, 4), steps_per_epoch(3, 4)
        (4, 1)
    """
    if num_images < 1 or batch_size < 1:
        raise ValueError(f"need num_images >= 1 and batch_size >= 1, got {num_images} and {batch_size}")
    return max(1, num_images // batch_size)


def learning_rate_schedule(
    learning_rate: float, schedule: str = "constant", total_steps: int | None = None
) -> float | keras.optimizers.schedules.LearningRateSchedule:
    """The optimizer's learning rate: ``learning_rate`` itself, or a Keras schedule.

    ``"cosine"`` is :class:`keras.optimizers.schedules.CosineDecay` from
    ``learning_rate`` down to ``learning_rate / 1000`` at ``total_steps`` (the
    authors' GlaS schedule also ends at 1/1000 of the initial rate, in steps).

    Example:
        >>> lr = learning_rate_schedule(1e-3, "cosine", total_steps=100)
        >>> round(float(lr(0)), 7), round(float(lr(50)), 7), round(float(lr(100)), 7)
        (0.001, 0.0005005, 1e-06)
        >>> learning_rate_schedule(1e-3)
        0.001
    """
    if not learning_rate > 0:
        raise ValueError(f"learning_rate must be > 0, got {learning_rate}")
    if schedule == "constant":
        return float(learning_rate)
    if schedule == "cosine":
        if total_steps is None or total_steps < 1:
            raise ValueError(f"lr_schedule='cosine' needs the run's total number of steps >= 1, got {total_steps}")
        return keras.optimizers.schedules.CosineDecay(learning_rate, decay_steps=int(total_steps), alpha=1e-3)
    raise ValueError(f"unknown lr_schedule {schedule!r}; expected one of {LR_SCHEDULES}")


def make_optimizer(
    learning_rate: float | keras.optimizers.schedules.LearningRateSchedule, weight_decay: float = 0.0
) -> keras.optimizers.Optimizer:
    """Adam, or AdamW when ``weight_decay > 0`` (the authors' GlaS recipe: AdamW, lr 2e-3, decay 5e-4).

    Example:
        >>> type(make_optimizer(1e-3)).__name__, type(make_optimizer(2e-3, 5e-4)).__name__
        ('Adam', 'AdamW')
    """
    if not weight_decay >= 0:
        raise ValueError(f"weight_decay must be >= 0, got {weight_decay}")
    if weight_decay > 0:
        return keras.optimizers.AdamW(learning_rate, weight_decay=weight_decay)
    return keras.optimizers.Adam(learning_rate)


def build_model(config: TrainConfig, epoch_steps: int | None = None) -> HSMixModel:
    """A compiled ``HSMixModel`` around a UNet, as ``config`` describes it.

    ``epoch_steps`` (see :func:`steps_per_epoch`) is needed by
    ``lr_schedule="cosine"``, which decays over ``epochs * epoch_steps`` steps.
    """
    total = None if epoch_steps is None else config.epochs * epoch_steps
    learning_rate = learning_rate_schedule(config.learning_rate, config.lr_schedule, total)
    keras.utils.set_random_seed(config.seed)
    base = unet((config.size, config.size, config.channels), config.num_classes, config.base_filters, config.depth)
    if config.bn_momentum is not None:
        for layer in base.layers:
            if isinstance(layer, keras.layers.BatchNormalization):
                layer.momentum = float(config.bn_momentum)
    hsmix = config.mixing == "hsmix"
    model = HSMixModel(
        base,
        num_classes=config.num_classes,
        saliency=config.saliency,
        p=config.p,
        probabilities=config.probabilities if hsmix else (0.0, 0.0, 1.0),
        mode=config.mode if hsmix else "random",
        n_segments=tuple(config.n_segments),
        seed=config.seed,
        recipe=config.recipe,
    )
    model.compile(
        optimizer=make_optimizer(learning_rate, config.weight_decay),
        loss=DiceCELoss(from_logits=True),
        metrics=[Dice(from_logits=True), Jaccard(from_logits=True)],
    )
    return model


def evaluate(
    model: HSMixModel, images: np.ndarray, masks: np.ndarray, batch_size: int, per_image: bool = False
) -> dict[str, Any]:
    """DSC, JAC (per image, foreground) and HD95 (pixels) of ``model`` on arrays.

    With ``per_image=True`` the result also holds ``"dice_per_image"``: the DSC of
    each image, in the order of ``images`` (their mean is ``"dice"``).
    """
    probs = model.predict(images, batch_size=batch_size, verbose=0)
    dice, jac = Dice(from_logits=True), Jaccard(from_logits=True)
    one_hot = tf.one_hot(masks[..., 0], probs.shape[-1])
    dice.update_state(one_hot, probs)
    jac.update_state(one_hot, probs)
    pred = np.argmax(probs, -1)
    out: dict[str, Any] = {
        "dice": float(dice.result()),
        "jaccard": float(jac.result()),
        "hd95": float(hd95_mean(masks[..., 0] > 0, pred > 0)),
    }
    if per_image:
        out["dice_per_image"] = [round(float(v), 5) for v in np.asarray(dice.per_image_scores(one_hot, probs))]
    undefined = {k: _why_undefined(k, masks[..., 0] > 0, pred > 0) for k in ("dice", "jaccard", "hd95")
                 if not np.isfinite(out[k])}
    out = finite_or_none(out)  # strict JSON: an undefined metric is null, with its reason below
    if undefined:
        out["undefined"] = undefined
    return out


def _why_undefined(metric: str, truth: np.ndarray, pred: np.ndarray) -> str:
    """Why ``metric`` has no value on these masks (``truth`` / ``pred``: foreground ``[N, H, W]``)."""
    truth_empty = ~truth.reshape(len(truth), -1).any(axis=1)
    pred_empty = ~pred.reshape(len(pred), -1).any(axis=1)
    if truth_empty.all():
        return f"{metric} is undefined: every ground-truth mask is empty (no foreground); check mask_mode"
    if pred_empty.all():
        return f"{metric} is undefined: the model predicts no foreground on any image"
    if metric == "hd95":
        return "hd95 is undefined: no image has foreground in both its mask and its prediction"
    return f"{metric} is undefined on these images"


# Settings that may differ between a run and its resumption (they do not change what is trained).
_RESUMABLE_KEYS = ("out", "export")


def check_resume_config(out: Path, config: TrainConfig) -> None:
    """Raises ``ValueError`` naming every setting in which ``config`` differs from the run's ``config.json``.

    Called before anything is written, so a refused ``--resume`` leaves the run folder as it was (it used
    to rewrite ``config.json`` first, then fail to load the checkpoint with dozens of Keras warnings).
    """
    path = out / "config.json"
    if not path.exists():
        return
    try:
        stored = json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise ValueError(f"cannot read {path} to check the resumed settings: {error}") from error
    if not isinstance(stored, dict):
        raise ValueError(f"{path} does not hold a settings object; move the run folder away or choose another --out")
    new = json.loads(json.dumps(asdict(config)))  # tuples as lists, as stored
    diff = {k: (stored.get(k), new.get(k)) for k in sorted(stored.keys() | new.keys())
            if k not in _RESUMABLE_KEYS and k in stored and k in new and stored[k] != new[k]}
    if diff:
        details = ", ".join(f"{k}: stored {a!r}, given {b!r}" for k, (a, b) in diff.items())
        raise ValueError(
            f"run folder '{out}' was trained with other settings ({details}); resume with the stored "
            "settings, or start a new run with another --out"
        )


def train(config: TrainConfig, resume: bool = False, verbose: int = 2) -> dict[str, Any]:
    """Runs (or resumes) one training run and returns its results.

    The run folder holds ``config.json``, ``history.csv``, ``best.weights.h5``
    (best validation DSC), ``backup/`` (Keras ``BackupAndRestore``, written at
    each epoch end, so a killed run resumed with ``resume=True`` loses at most
    the epoch in progress), ``results.json`` and ``saved_model/`` (unless ``config.export`` is ``False``).

    Example:
        >>> import tempfile
        >>> results = train(TrainConfig(out=tempfile.mkdtemp() + "/run", size=32, epochs=1, num_images=8,
        ...                             base_filters=4, depth=1, n_segments=(20, 30), export=False), verbose=0)
        >>> {"dice", "hd95", "jaccard"} <= set(results["validation"])  # and "undefined": reasons of null ones
        True
    """
    out = Path(config.out)
    finished = _check_run_folder(out, config, resume)
    if finished is not None:
        return finished

    # Load and check the data before anything is written, so bad data leaves no run folder.
    images, masks = _arrays(config.data, config, config.seed)
    if masks.max() >= config.num_classes:
        raise ValueError(f"masks hold class id {int(masks.max())} >= num_classes ({config.num_classes})")
    learning_rate_schedule(config.learning_rate, config.lr_schedule, max(1, config.epochs))  # fail before writing
    if not config.color_jitter >= 0:
        raise ValueError(f"color_jitter must be >= 0, got {config.color_jitter}")
    make_optimizer(config.learning_rate, config.weight_decay)  # a bad weight decay fails before writing
    # One process per run folder: a second train / --resume on the same --out is refused, naming the owner.
    with RunLock(out):
        finished = _check_run_folder(out, config, resume)  # again: another process may have changed it meanwhile
        if finished is not None:
            return finished
        return _train_locked(config, out, resume, verbose, images, masks)


def _check_run_folder(out: Path, config: TrainConfig, resume: bool) -> dict[str, Any] | None:
    """Refuses a run folder that holds another run; returns the stored results of a finished run on resume."""
    backup = out / BACKUP_DIR
    if backup.exists() and not resume:
        raise ValueError(
            f"run folder {str(out)!r} holds an unfinished run ({backup}); pass --resume to continue it "
            "or choose another --out"
        )
    if (out / "results.json").exists() and not resume:
        raise ValueError(f"run folder {str(out)!r} already holds a finished run; choose another --out")
    if resume:
        check_resume_config(out, config)
        if (out / "results.json").exists() and not backup.exists():
            # finished: nothing to resume (do not train again from scratch)
            return json.loads((out / "results.json").read_text())
    return None


def _train_locked(
    config: TrainConfig, out: Path, resume: bool, verbose: int, images: np.ndarray, masks: np.ndarray
) -> dict[str, Any]:
    backup = out / BACKUP_DIR
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / "config.json", asdict(config))
    best_so_far = _reconcile_history(out / "history.csv", backup) if resume else None
    if not (out / "best.weights.h5").exists():
        best_so_far = None
    train_idx, val_idx = split_train_val(len(images), config.val_fraction, config.seed)
    if not masks[val_idx].any():
        warnings.warn(
            f"every validation mask is empty (no foreground in {len(val_idx)} image(s), mask_mode="
            f"{config.mask_mode!r}): validation DSC will be 0 and HD95 undefined whatever the model learns; "
            "check --mask-mode against the mask files",
            UserWarning,
            stacklevel=2,
        )
    train_ds = tf.data.Dataset.from_tensor_slices(
        {"images": images[train_idx], "segmentation_masks": masks[train_idx]}
    )
    keras.utils.set_random_seed(config.seed)  # the pipeline's draws follow the global seed too
    pipeline = make_pipeline(
        train_ds,
        batch_size=config.batch_size,
        num_classes=config.num_classes,
        mixer=None,  # HSMixModel mixes in train_step (Grad-CAM needs the model)
        augment=config.flips,
        color_jitter=config.color_jitter,
        n_segments=tuple(config.n_segments),
        seed=config.seed,
        output="dict",
        drop_remainder=len(train_idx) >= config.batch_size,
        progress=verbose > 0,  # the SLIC cache's progress bar
    )
    val_ds = tf.data.Dataset.from_tensor_slices((images[val_idx], masks[val_idx])).batch(config.batch_size)

    model = build_model(config, steps_per_epoch(len(train_idx), config.batch_size))
    callbacks = [
        # double_checkpoint: a kill while the backup is written falls back to the previous one.
        keras.callbacks.BackupAndRestore(str(backup), delete_checkpoint=False, double_checkpoint=True),
        keras.callbacks.ModelCheckpoint(
            str(out / "best.weights.h5"), monitor="val_dice", mode="max", save_best_only=True,
            save_weights_only=True, initial_value_threshold=best_so_far,
        ),
        keras.callbacks.CSVLogger(str(out / "history.csv"), append=True),
    ]
    # shuffle=False: the pipeline shuffles; Keras ignores (and warns about) its default shuffle=True on datasets.
    model.fit(pipeline, epochs=config.epochs, validation_data=val_ds, callbacks=callbacks, verbose=verbose,
              shuffle=False)
    if (out / "best.weights.h5").exists():
        model.load_weights(out / "best.weights.h5")
    results: dict[str, Any] = {"validation": evaluate(model, images[val_idx], masks[val_idx], config.batch_size)}
    if config.test_data:
        test_images, test_masks = _arrays(config.test_data, config, config.seed)
        results["test"] = evaluate(model, test_images, test_masks, config.batch_size)
    if config.export:
        export_for_serving(model, out / "saved_model")  # the contract of docs/serving.md
    write_json(out / "results.json", results)  # strict JSON: undefined metrics are null with a reason
    shutil.rmtree(backup, ignore_errors=True)
    return results
