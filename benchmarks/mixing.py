"""Section 1 of ``benchmarks/run.py``: the cost of one mix, against competent references.

One batch (GlaS images with their scikit-image SLIC superpixels), mixed by:

* the layers, called as users call them (input checks, draws and the fused
  XLA mix; superpixels given, ``tf.function``): ``HardMix`` and ``SoftMix`` with
  class-id masks ``[B, H, W, 1]`` int32 and with one-hot masks ``[B, H, W, K]``
  float32, with float32 and with uint8 images (``SoftMix`` with the saliency
  given, as ``HSMixModel`` gives its Grad-CAM, and with random λ);
* Keras ``CutMix`` / ``MixUp`` on the same batch, images *and* masks: Keras 3.15's
  own call fails on masks whose channel count differs from the images' (and
  ``MixUp`` on any masks), so, as Keras' layers are built to be used, one
  transformation is drawn (``get_random_transformation``) and applied to the
  images and to the masks (``transform_images``), CutMix's box mask cut to the
  masks' channels; class ids are pasted (CutMix) and then one-hot encoded, or
  one-hot encoded before the blend (MixUp), so both give what the layers give;
* the vectorised NumPy references (:mod:`benchmarks.references`) given the
  layers' own draws, and (information) the per-superpixel loops of the paper.

Before timing, the references' outputs are checked equal to the layers' for
the same draws (hard: exactly; soft: to 1e-5, uint8 to 1 level).
"""

from __future__ import annotations

import statistics

import keras
import numpy as np
import tensorflow as tf

import keras_hsmix
from benchmarks import references as ref
from benchmarks.timing import Row, interleaved, materialise, median_ratio
from keras_hsmix.ops.saliency import static_saliency
from keras_hsmix.ops.superpixels import slic_superpixels


def _graph(fn):
    """``tf.function`` without autograph: the timed functions hold graph ops only, and converting their source at
    each first trace costs seconds of warm-up (never timed)."""
    return tf.function(fn, autograph=False)


def _keras_cutmix(layer: keras.layers.Layer, images: tf.Tensor, masks: tf.Tensor, num_classes: int) -> tuple:
    """Keras CutMix, one transformation applied to images and masks (class ids pasted, then one-hot)."""
    t = layer.get_random_transformation({"images": images})
    out_images = layer.transform_images(images, t)
    t = {**t, "batch_masks": t["batch_masks"][..., :1]}
    if masks.dtype.is_integer:
        ids = layer.transform_images(tf.cast(masks, tf.float32), t)
        return out_images, tf.one_hot(tf.cast(ids[..., 0], tf.int32), num_classes)
    return out_images, layer.transform_images(masks, t)


def _keras_mixup(layer: keras.layers.Layer, images: tf.Tensor, masks: tf.Tensor, num_classes: int) -> tuple:
    """Keras MixUp, one transformation applied to images and one-hot masks."""
    t = layer.get_random_transformation({"images": images})
    if masks.dtype.is_integer:
        masks = tf.one_hot(masks[..., 0], num_classes)
    return layer.transform_images(images, t), layer.transform_images(masks, t)


def _check_equal(name: str, ours: list, theirs: list, atol: float) -> None:
    for a, b in zip(ours, theirs):
        a = a.numpy() if isinstance(a, tf.Tensor) else a
        if atol == 0:
            np.testing.assert_array_equal(a, b, err_msg=name)
        else:
            np.testing.assert_allclose(a.astype(np.float64), b.astype(np.float64), atol=atol, err_msg=name)


def bench_mixing(arrays: dict[str, np.ndarray], s, num_classes: int = 2) -> list[Row]:
    """The layers against Keras CutMix / MixUp and the NumPy references, both mask forms, float and uint8."""
    reps = -(-s.mix_batch // len(arrays["images"]))
    data = {k: np.concatenate([v] * reps)[: s.mix_batch] for k, v in arrays.items()}
    images = tf.constant(data["images"])
    images_u8 = tf.cast(tf.round(images * 255.0), tf.uint8)
    ids = tf.constant(data["segmentation_masks"])  # int32 [B, H, W, 1]
    one_hot = tf.one_hot(ids[..., 0], num_classes)
    superpixels = slic_superpixels(images, s.mix_segments)
    saliency = static_saliency(images)
    masks = {"ids": ids, "onehot": one_hot}
    pixels = {"f32": images, "u8": images_u8}

    hard = keras_hsmix.HardMix(num_classes=num_classes, seed=0)
    soft = keras_hsmix.SoftMix(num_classes=num_classes, seed=0)
    soft_random = keras_hsmix.SoftMix(num_classes=num_classes, seed=0, saliency="random")
    cutmix, mixup = keras.layers.CutMix(seed=0), keras.layers.MixUp(seed=0)

    def batch(img: str, form: str, with_saliency: bool = False) -> dict:
        out = {"images": pixels[img], "segmentation_masks": masks[form], "superpixels": superpixels}
        return {**out, "saliency": saliency} if with_saliency else out

    tf_fns = {}
    for form in masks:
        for img in pixels:
            tf_fns[f"hard_{form}_{img}"] = _graph(lambda b=batch(img, form): hard(b))
            tf_fns[f"soft_{form}_{img}"] = _graph(lambda b=batch(img, form, True): soft(b))
            tf_fns[f"cutmix_{form}_{img}"] = _graph(
                lambda x=pixels[img], m=masks[form]: _keras_cutmix(cutmix, x, m, num_classes))
        tf_fns[f"soft_random_{form}_f32"] = _graph(lambda b=batch("f32", form): soft_random(b))
        tf_fns[f"mixup_{form}_f32"] = _graph(
            lambda m=masks[form]: _keras_mixup(mixup, images, m, num_classes))
    fns = {name: (lambda f=fn: materialise(f())) for name, fn in tf_fns.items()}

    # The layers' own draws, given to the references; their outputs checked equal to the layers'.
    canon = hard.prepare_inputs(batch("f32", "ids"))
    draws = hard.get_random_transformation(canon)
    partner, picked = draws["partner"].numpy(), draws["picked"].numpy()
    np_sp, np_sal = superpixels.numpy(), saliency.numpy()
    np_pixels = {k: v.numpy() for k, v in pixels.items()}
    np_masks = {k: v.numpy() for k, v in masks.items()}
    for form in masks:
        for img in pixels:
            layer_in = hard.prepare_inputs(batch(img, form, True))
            ours = hard.transform(layer_in, draws)
            theirs = ref.numpy_hard_mix_vectorised(np_pixels[img], np_masks[form], np_sp, partner, picked,
                                                   num_classes)
            _check_equal(f"hard {form} {img}", [ours["images"], ours["segmentation_masks"], ours["superpixels"]],
                         theirs, 0)
            ours = soft.transform(layer_in, draws)
            theirs = ref.numpy_soft_mix_vectorised(np_pixels[img], np_masks[form], np_sp, partner, picked, np_sal,
                                                   num_classes)
            _check_equal(f"soft {form} {img}", [ours[k] for k in ("images", "segmentation_masks", "superpixels",
                                                                   "saliency")], theirs, 1 if img == "u8" else 1e-5)
            fns[f"np_hard_{form}_{img}"] = (lambda x=np_pixels[img], m=np_masks[form]: ref.numpy_hard_mix_vectorised(
                x, m, np_sp, partner, picked, num_classes))
            fns[f"np_soft_{form}_{img}"] = (lambda x=np_pixels[img], m=np_masks[form]: ref.numpy_soft_mix_vectorised(
                x, m, np_sp, partner, picked, np_sal, num_classes))
    # Where HardMix's time goes: its input checks, its draws and its fused kernel, each a tf.function.
    from keras_hsmix.ops.fused import hard_mix_batch

    for form in masks:
        canon_form = hard.prepare_inputs(batch("f32", form))
        tf_parts = {
            f"checks_{form}": _graph(lambda b=batch("f32", form): hard.prepare_inputs(b)),
            f"kernel_{form}": _graph(lambda c=canon_form: hard_mix_batch(
                c["images"], c["segmentation_masks"], c["superpixels"], draws["partner"], draws["picked"],
                draws["num_segments"], num_classes=num_classes)),
        }
        fns.update({name: (lambda f=fn: materialise(f())) for name, fn in tf_parts.items()})
    fns["draws"] = lambda f=_graph(lambda: hard.get_random_transformation(canon)): materialise(f())

    t = interleaved(fns, s.mix_rounds, warmup=2)
    # The paper's loops take seconds: timed apart, in fewer rounds, beside the layers they are compared with.
    np_images, np_ids = np_pixels["f32"], np_masks["ids"]
    loops = {
        "hard_ids_f32": fns["hard_ids_f32"], "soft_ids_f32": fns["soft_ids_f32"],
        "loop_hard": lambda: ref.numpy_hard_mix(np_images, np_ids, np_sp, partner, picked, num_classes),
        "loop_soft": lambda: ref.numpy_soft_mix(np_images, np_ids, np_sp, partner, picked, np_sal, num_classes),
    }
    t_loops = interleaved(loops, s.mix_loop_rounds, warmup=0)
    med = {k: statistics.median(v) * 1e3 for k, v in t.items()}
    section = f"1. mixing {s.mix_batch}x{s.mix_size}x{s.mix_size}x3"

    def row(a: str, b: str, la: str, lb: str, target: float | None, times: dict | None = None) -> Row:
        times = t if times is None else times
        ratio = median_ratio(times[b], times[a])
        goal = "(info)" if target is None else f">= {target:g}x"
        return Row(section, la, lb, statistics.median(times[a]) * 1e3, statistics.median(times[b]) * 1e3, "ms",
                   ratio, goal, None if target is None else ratio >= target)

    def part(a: str, la: str, whole: str, lw: str) -> Row:
        # A part's share of the whole call: time of A over time of the whole (the ratio here is a fraction).
        return Row(f"1. HardMix parts, {s.mix_batch}x{s.mix_size}px", la, lw, med[a], med[whole], "ms",
                   median_ratio(t[a], t[whole]), "(info: share)", None)

    names = {"ids": "class ids", "onehot": "one-hot"}
    rows = []
    for form, label in names.items():
        rows += [
            row(f"hard_{form}_f32", f"cutmix_{form}_f32", f"HardMix, {label}", f"Keras CutMix, {label}", 2),
            row(f"hard_{form}_f32", f"np_hard_{form}_f32", f"HardMix, {label}", f"NumPy vectorised hard, {label}", 5),
        ]
    for form, label in names.items():
        rows += [
            row(f"soft_{form}_f32", f"mixup_{form}_f32", f"SoftMix (saliency given), {label}",
                f"Keras MixUp, {label}", 0.5),
            row(f"soft_random_{form}_f32", f"mixup_{form}_f32", f"SoftMix (random λ), {label}",
                f"Keras MixUp, {label}", None),
            row(f"soft_{form}_f32", f"np_soft_{form}_f32", f"SoftMix (saliency given), {label}",
                f"NumPy vectorised soft, {label}", None),
        ]
    rows += [
        row("hard_ids_u8", "cutmix_ids_u8", "HardMix, uint8 images, class ids", "Keras CutMix, same uint8 input", 2),
        row("hard_ids_u8", "np_hard_ids_u8", "HardMix, uint8 images, class ids", "NumPy vectorised hard, uint8", 5),
        row("hard_ids_u8", "hard_ids_f32", "HardMix, uint8 images, class ids", "HardMix, float32 images", None),
        row("soft_ids_u8", "soft_ids_f32", "SoftMix, uint8 images, class ids", "SoftMix, float32 images", None),
        row("soft_ids_u8", "np_soft_ids_u8", "SoftMix, uint8 images, class ids", "NumPy vectorised soft, uint8", None),
        row("hard_ids_f32", "loop_hard", "HardMix, class ids", "NumPy loop over superpixels (paper)", None, t_loops),
        row("soft_ids_f32", "loop_soft", "SoftMix, class ids", "NumPy loop over superpixels (paper)", None, t_loops),
    ]
    for form, label in names.items():
        rows += [
            part(f"checks_{form}", f"input checks (prepare_inputs), {label}", f"hard_{form}_f32",
                 f"HardMix call, {label}"),
            part(f"kernel_{form}", f"fused XLA kernel (hard_mix_batch), {label}", f"hard_{form}_f32",
                 f"HardMix call, {label}"),
        ]
    rows.append(part("draws", "draws (get_random_transformation)", "hard_ids_f32", "HardMix call, class ids"))
    return rows
