"""One run of a comparison: the model and pipeline of a method, training with best-validation weights, scores.

HSMix methods train a :class:`keras_hsmix.HSMixModel` built by :func:`keras_hsmix.runs.train.build_model`
(the model of ``keras-hsmix train``) on :func:`keras_hsmix.data.make_pipeline`; the others train the same
UNet, initialised from the same seed, on a pipeline made of the same steps
(:func:`keras_hsmix.data.augment_elements`, :func:`~keras_hsmix.data.pipeline.batch_and_mix`,
:func:`~keras_hsmix.data.pipeline.finalize`) with a baseline layer as the mixer.
"""

from __future__ import annotations

import gc
import os
import platform
import time
from dataclasses import asdict
from typing import Any, Callable, Mapping

import keras
import numpy as np
import tensorflow as tf

from keras_hsmix.data.pipeline import augment_elements, batch_and_mix, finalize, make_pipeline
from keras_hsmix.layers.baselines import CutMixSeg, KerasImageAugment, MixUpSeg
from keras_hsmix.losses import DiceCELoss
from keras_hsmix.metrics import Dice, Jaccard
from keras_hsmix.models import unet
from keras_hsmix.runs.compare.config import CompareConfig, RunSpec
from keras_hsmix.runs.compare.data import CompareData
from keras_hsmix.runs.compare.methods import METHODS, Method
from keras_hsmix.runs.train import (
    TrainConfig, build_model, evaluate, learning_rate_schedule, make_optimizer, steps_per_epoch,
)


def baseline_pipeline(images: np.ndarray, masks: np.ndarray, method: Method, cfg: CompareConfig,
                      seed: int) -> tf.data.Dataset:
    """``(images, soft masks)`` batches of a method without superpixels: flips / colour jitter, then the
    method's baseline layer (CutMix, MixUp, RandAugment, AugMix) or one-hot masks only (``none``)."""
    ds = tf.data.Dataset.from_tensor_slices({"images": images, "segmentation_masks": masks}).cache()
    ds = ds.shuffle(256, seed=seed, reshuffle_each_iteration=True)
    ds = augment_elements(ds, seed, flips=method.flips, color_jitter=method.color)
    k = cfg.num_classes
    layers = {"cutmix": lambda: CutMixSeg(k, seed=seed), "mixup": lambda: MixUpSeg(k, seed=seed),
              "randaugment": lambda: KerasImageAugment("randaugment", k, seed=seed),
              "augmix": lambda: KerasImageAugment("augmix", k, seed=seed)}
    mixer = layers[method.mixer]() if method.mixer in layers else None
    # The mixing layers draw from their seed generators: in order, so a seed gives the same mixes.
    ds = batch_and_mix(ds, cfg.batch_size, mixer, k, drop_remainder=len(images) >= cfg.batch_size, ordered=True)
    return finalize(ds, "tuple")


def build_run(method: Method, cfg: CompareConfig, seed: int, images: np.ndarray,
              masks: np.ndarray, progress: bool = True) -> tuple[keras.Model, tf.data.Dataset]:
    """(compiled model, training dataset) of one run; an ``HSMixModel`` for the superpixel methods.

    For one seed every method starts from the same initial weights. ``progress``: the SLIC cache's progress bar.
    """
    steps = steps_per_epoch(len(images), cfg.batch_size)
    n_segments = cfg.segments(method.segments_scale)
    if method.mixer == "hsmix":
        tc = TrainConfig(size=cfg.size, num_classes=cfg.num_classes, channels=cfg.channels, epochs=cfg.epochs,
                         batch_size=cfg.batch_size, learning_rate=cfg.learning_rate, lr_schedule=cfg.lr_schedule,
                         weight_decay=cfg.weight_decay, base_filters=cfg.base_filters, depth=cfg.depth,
                         mixing="hsmix", saliency=method.saliency, probabilities=method.probabilities,
                         mode=method.mode, p=method.p if method.p is not None else cfg.p, n_segments=n_segments,
                         seed=seed)
        model = build_model(tc, steps)
        ds = tf.data.Dataset.from_tensor_slices({"images": images, "segmentation_masks": masks})
        pipeline = make_pipeline(ds, batch_size=cfg.batch_size, num_classes=cfg.num_classes, mixer=None,
                                 augment=method.flips, color_jitter=method.color, n_segments=n_segments,
                                 seed=seed, output="dict", drop_remainder=len(images) >= cfg.batch_size,
                                 progress=progress)
        return model, pipeline
    keras.utils.set_random_seed(seed)  # same initial weights as build_model for this seed
    model = unet((cfg.size, cfg.size, cfg.channels), cfg.num_classes, cfg.base_filters, cfg.depth)
    learning_rate = learning_rate_schedule(cfg.learning_rate, cfg.lr_schedule, cfg.epochs * steps)
    model.compile(optimizer=make_optimizer(learning_rate, cfg.weight_decay), loss=DiceCELoss(from_logits=True),
                  metrics=[Dice(from_logits=True), Jaccard(from_logits=True)])
    model.optimizer.build(model.trainable_variables)  # else fit traces its train step twice (as HSMixModel.fit avoids)
    return model, baseline_pipeline(images, masks, method, cfg, seed)


def scores(model: keras.Model, images: np.ndarray, masks: np.ndarray, with_hd95: bool = True,
           per_image: bool = False) -> dict[str, Any]:
    """Test scores of a model: DSC, JAC and HD95 (:func:`keras_hsmix.runs.train.evaluate`), or DSC only."""
    if with_hd95:
        return evaluate(model, images, masks, batch_size=16, per_image=per_image)
    probs = model.predict(images, batch_size=16, verbose=0)
    dice = Dice(from_logits=True)
    dice.update_state(tf.one_hot(masks[..., 0], probs.shape[-1]), probs)
    return {"dice": float(dice.result())}


def device() -> str:
    """``gpu:<name>`` or ``cpu:<n> cores``: recorded with each run."""
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
    import scipy
    import skimage

    return {"python": platform.python_version(), "keras": keras.__version__, "tensorflow": tf.__version__,
            "numpy": np.__version__, "scikit-image": skimage.__version__, "scipy": scipy.__version__}


class BestWeights(keras.callbacks.Callback):
    """Keeps a copy of the weights of the epoch with the best ``val_dice``."""

    def __init__(self) -> None:
        super().__init__()
        self.best, self.best_epoch, self.weights = -np.inf, -1, None

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        score = float((logs or {}).get("val_dice", -np.inf))
        if score > self.best:
            self.best, self.best_epoch = score, epoch
            self.weights = [w.copy() for w in self.model.get_weights()]


def train_run(spec: RunSpec, cfg: CompareConfig, data: CompareData, methods: Mapping[str, Method] = METHODS,
              verbose: int = 0,
              extra: Callable[[keras.Model, CompareConfig, CompareData], dict] | None = None,
              progress: bool = True) -> dict[str, Any]:
    """Trains one run, keeps its best-validation-DSC weights, and returns its result record.

    ``extra(model, cfg, data)`` adds keys to the record (a study's own evaluations, e.g. robustness).
    ``progress``: the SLIC cache's progress bar.
    """
    method = methods[spec.method]
    start = time.time()
    subset = data.subset(spec.fraction)
    model, pipeline = build_run(method, cfg, spec.seed, data.train_images[subset], data.train_masks[subset],
                                progress=progress)
    val = (data.val_images, data.val_masks)
    val_ds = tf.data.Dataset.from_tensor_slices(val).batch(32).cache()
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
        "validation": scores(model, *val),
        "test": scores(model, data.test_images, data.test_masks, per_image=True), "test_names": data.test_names,
    }
    if extra is not None:
        record.update(extra(model, cfg, data))
    record.update({"train_seconds": round(train_s, 1), "wall_seconds": round(time.time() - start, 1),
                   "device": device(), "versions": versions(), "command": cfg.command,
                   "finished": time.strftime("%Y-%m-%d %H:%M:%S")})
    del model
    keras.backend.clear_session()
    gc.collect()
    return record
