"""tf.data building blocks: superpixels as a map function, and a one-call pipeline."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable, Sequence

import keras
import numpy as np
import tensorflow as tf

from keras_hsmix.data.augment import element_keys, random_color_jitter, random_flip_rotate, with_element_draws
from keras_hsmix.data.cache import (
    DEFAULT_NUM_LEVELS,
    add_superpixel_levels,
    draw_superpixel_level,
    parallel_calls,
    precompute,
    segment_levels,
)
from keras_hsmix.data.maps import graph_map
from keras_hsmix.layers.base import require_channels_last
from keras_hsmix.layers.hsmix import HSMix
from keras_hsmix.recipes import resolve
from keras_hsmix.ops.masks import to_soft_masks
from keras_hsmix.ops.saliency import static_saliency
from keras_hsmix.ops.superpixels import DEFAULT_N_SEGMENTS, check_n_segments, slic_superpixels


def default_parallel_calls() -> int:
    """Parallel SLIC calls: one per CPU core usable by this process.

    ``tf.data.AUTOTUNE`` ramps up too slowly for a short SLIC-bound pipeline;
    a fixed count reaches full parallelism from the first images (SLIC releases
    the GIL, so ``tf.numpy_function`` calls do run side by side). Honours CPU
    affinity, see :func:`keras_hsmix.data.cache.parallel_calls`.

    Example:
        >>> default_parallel_calls() >= 1
        True
    """
    return parallel_calls()


def add_superpixels(
    dataset: tf.data.Dataset,
    n_segments: int | Sequence[int] = DEFAULT_N_SEGMENTS,
    compactness: float = 10.0,
    seed: int | None = 0,
    num_parallel_calls: int | None = None,
    cache: bool | str = True,
) -> tf.data.Dataset:
    """Adds a ``"superpixels"`` int32 ``[H, W]`` key to each (unbatched) element.

    SLIC runs through ``tf.numpy_function`` with ``num_parallel_calls`` in
    parallel (default: one per core). With ``cache=True`` the result is cached
    in memory, with a path on disk, so SLIC runs once per image rather than once
    per epoch; apply random geometric augmentation *after* this step (it moves
    superpixels with the image). With a ``(low, high)`` range, one
    ``n_segments`` per element is drawn from a stream seeded by ``seed``
    (:func:`keras_hsmix.data.augment.with_element_draws`); SLIC itself holds
    no randomness.

    Example:
        >>> from keras_hsmix.data.synthetic import make_synthetic_dataset
        >>> ds = add_superpixels(make_synthetic_dataset(4, (64, 64)), n_segments=50)
        >>> sorted(next(iter(ds)))
        ['images', 'segmentation_masks', 'superpixels']
    """
    calls = num_parallel_calls or default_parallel_calls()
    low, high = check_n_segments(n_segments)

    def add(element: dict, draw: tf.Tensor) -> dict:
        out = dict(element)
        n = tf.random.stateless_uniform([], element_keys(draw, 1)[0], low, high + 1, dtype=tf.int32)
        out["superpixels"] = slic_superpixels(element["images"], n, compactness)
        return out

    dataset = graph_map(with_element_draws(dataset, seed), add, num_parallel_calls=calls, deterministic=True)
    if cache:
        dataset = dataset.cache("" if cache is True else str(cache))
    return dataset


def to_inputs_targets(batch: dict) -> tuple[tf.Tensor, tf.Tensor]:
    """``{"images", "segmentation_masks", ...}`` -> ``(images, masks)`` for ``model.fit``."""
    return batch["images"], batch["segmentation_masks"]


def _add_static_saliency(element: dict) -> dict:
    return {**element, "saliency": static_saliency(element["images"])}


def augment_elements(
    dataset: tf.data.Dataset,
    seed: int | None = None,
    draw_level: bool = False,
    flips: bool = True,
    color_jitter: float = 0.0,
) -> tf.data.Dataset:
    """Per-element random steps of every training pipeline, reproducible with a ``seed``.

    Each element gets one draw of :func:`keras_hsmix.data.augment.with_element_draws`
    and from it one stateless key per step, so a parallel ``map`` gives the same
    result whatever order it runs the elements in, and every epoch differs. The
    same ``seed`` gives the same flips to the same positions of the stream in every
    pipeline (e.g. a baseline and an HSMix run of a paired comparison).

    Args:
        dataset: unbatched elements.
        seed: seed of the draws; ``None`` follows the global seed.
        draw_level: draw one cached superpixel granularity
            (:func:`keras_hsmix.data.cache.draw_superpixel_level`).
        flips: random flips and 90° rotations (:func:`random_flip_rotate`).
        color_jitter: strength of :func:`random_color_jitter`, ``0`` for none.

    Example:
        >>> ds = tf.data.Dataset.from_tensors({"images": tf.random.uniform((8, 8, 3)),
        ...                                    "segmentation_masks": tf.zeros((8, 8, 1), tf.int32)})
        >>> first = [e["images"].numpy() for e in augment_elements(ds.repeat(4), seed=1)]
        >>> again = [e["images"].numpy() for e in augment_elements(ds.repeat(4), seed=1)]
        >>> all((a == b).all() for a, b in zip(first, again))
        True
    """
    if not (draw_level or flips or color_jitter):
        return dataset

    def per_element(element: dict, draw: tf.Tensor) -> dict:
        keys = element_keys(draw, 3)
        if draw_level:
            element = draw_superpixel_level(element, keys[0])
        if flips:
            element = random_flip_rotate(element, keys[1])
        if color_jitter:
            element = random_color_jitter(element, color_jitter, keys[2])
        return element

    return graph_map(with_element_draws(dataset, seed), per_element, num_parallel_calls=tf.data.AUTOTUNE)


def as_element_dicts(dataset: tf.data.Dataset) -> tf.data.Dataset:
    """Checks a dataset of single image/mask elements; ``(image, mask)`` tuples become dicts.

    Raises a ValueError that names the problem for other structures, missing keys, or
    elements that are already batches.

    Example:
        >>> import numpy as np
        >>> ds = tf.data.Dataset.from_tensor_slices((np.zeros((2, 8, 8, 3), "float32"), np.zeros((2, 8, 8, 1), "int32")))
        >>> sorted(as_element_dicts(ds).element_spec)
        ['images', 'segmentation_masks']
    """
    spec = dataset.element_spec
    if isinstance(spec, (tuple, list)) and len(spec) == 2:
        dataset = dataset.map(lambda image, mask: {"images": image, "segmentation_masks": mask})
        spec = dataset.element_spec
    if not isinstance(spec, dict) or "images" not in spec or "segmentation_masks" not in spec:
        got = f"keys {sorted(spec)}" if isinstance(spec, dict) else f"elements {spec}"
        raise ValueError(
            "dataset: expected elements {'images': [H, W, C], 'segmentation_masks': [H, W] or [H, W, 1]} "
            f"or (image, mask) tuples, got {got}"
        )
    rank = spec["images"].shape.rank
    if rank is not None and rank != 3:
        hint = " (the dataset looks batched: make_pipeline batches itself, pass dataset.unbatch())" if rank == 4 else ""
        raise ValueError(f"dataset: images must be single images [H, W, C], got shape {spec['images'].shape}{hint}")
    return dataset


def check_count(name: str, value: object, extra: str = "") -> int:
    """Raises ``ValueError`` naming ``name`` unless ``value`` is an int >= 1 (not a bool, float or string)."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be an integer >= 1{extra}, got {value!r}")
    return int(value)


ONE_SIZE_MESSAGE = (
    "dataset: images of different sizes cannot be batched (batch_size={batch_size} needs one height and width): "
    "load the folder with image_size=(H, W) (load_folder / load_arrays; keras-hsmix: --size), or resize the "
    "elements before the pipeline. Element index, its [height, width], the first element's [height, width]:"
)


def check_one_size(dataset: tf.data.Dataset, batch_size: int) -> tf.data.Dataset:
    """Pipeline step: elements whose height or width is not static are checked to share the first element's size.

    Without it, a folder loaded with ``image_size=None`` whose images differ in size fails inside
    ``batch`` with tf.data's "Cannot add tensor to the batch"; with it, the error points at ``image_size``.
    Datasets with a static height and width (and ``batch_size=1``) are returned unchanged.

    Example:
        >>> import numpy as np
        >>> ds = tf.data.Dataset.from_tensor_slices({"images": np.zeros((2, 8, 8, 3), "float32")})
        >>> check_one_size(ds, 2) is ds
        True
    """
    spec = dataset.element_spec
    images = spec["images"] if isinstance(spec, dict) and "images" in spec else None
    if batch_size <= 1 or images is None or images.shape.rank is None or images.shape[:2].is_fully_defined():
        return dataset
    message = ONE_SIZE_MESSAGE.format(batch_size=batch_size)

    def check(state: tuple, element: dict) -> tuple:
        index, first = state
        size = tf.shape(element["images"], out_type=tf.int64)[:2]
        first = tf.where(index == 0, size, first)
        same = tf.reduce_all(tf.equal(size, first))
        assertion = tf.debugging.Assert(same, [message, index, size, first])
        with tf.control_dependencies([assertion]):
            element = {k: tf.identity(v) for k, v in element.items()}
        return (index + 1, first), element

    return dataset.scan((tf.constant(0, tf.int64), tf.zeros([2], tf.int64)), check)


def batch_and_mix(
    dataset: tf.data.Dataset,
    batch_size: int,
    mixer: Callable[[dict], dict] | None = None,
    num_classes: int | None = 2,
    drop_remainder: bool = True,
    ordered: bool = True,
) -> tf.data.Dataset:
    """Pipeline step: batch the elements, then mix each batch (or only make its masks one-hot).

    Args:
        dataset: unbatched element dicts.
        batch_size: batch size (mixing pairs samples within a batch).
        mixer: a mixing layer or any callable ``f(batch dict) -> batch dict``; ``None`` only turns
            class-id masks one-hot (``num_classes``; float masks pass through when it is ``None``).
        num_classes: the number of classes of class-id masks, for ``mixer=None``.
        drop_remainder: drop a last, smaller batch.
        ordered: map the batches one at a time, in order (a seeded mixer then draws the same mixes on every
            run); ``False`` maps them in parallel (faster, not reproducible for layers with a seed generator).

    Example:
        >>> from keras_hsmix.data.synthetic import make_synthetic_dataset
        >>> ds = batch_and_mix(make_synthetic_dataset(4, (16, 16)), batch_size=2)
        >>> next(iter(ds))["segmentation_masks"].shape
        TensorShape([2, 16, 16, 2])
    """
    check_count("batch_size", batch_size)
    ds = check_one_size(dataset, batch_size).batch(batch_size, drop_remainder=drop_remainder)
    if mixer is None:
        if num_classes is None:
            return ds

        def mix(batch: dict) -> dict:
            return {**batch, "segmentation_masks": to_soft_masks(batch["segmentation_masks"], num_classes)}

        return graph_map(ds, mix, num_parallel_calls=tf.data.AUTOTUNE)
    return ds.map(mixer, num_parallel_calls=None if ordered else tf.data.AUTOTUNE)


def finalize(dataset: tf.data.Dataset, output: str = "tuple", drop: Sequence[str] = ()) -> tf.data.Dataset:
    """Last pipeline step: drop helper keys, give ``(images, masks)`` tuples or dicts, prefetch.

    Args:
        dataset: batched element dicts.
        output: ``"tuple"`` gives ``(images, masks)`` for ``model.fit``; ``"dict"`` keeps the dict
            (for :class:`keras_hsmix.HSMixModel`).
        drop: keys removed from the dicts (e.g. a cached ``"saliency"``).

    Example:
        >>> ds = tf.data.Dataset.from_tensors({"images": tf.zeros((2, 8, 8, 3)),
        ...                                    "segmentation_masks": tf.zeros((2, 8, 8, 2))})
        >>> [t.shape[-1] for t in next(iter(finalize(ds)))]
        [3, 2]
    """
    if output not in ("tuple", "dict"):
        raise ValueError(f"output must be 'tuple' or 'dict', got {output!r}")
    if drop:
        dataset = graph_map(dataset, lambda batch: {k: v for k, v in batch.items() if k not in drop})
    if output == "tuple":
        dataset = graph_map(dataset, to_inputs_targets)
    return dataset.prefetch(tf.data.AUTOTUNE)


def make_pipeline(
    dataset: tf.data.Dataset,
    batch_size: int = 4,
    num_classes: int = 2,
    mixer: keras.layers.Layer | None | str = "hsmix",
    augment: bool = True,
    color_jitter: float = 0.0,
    shuffle: int | None = 256,
    n_segments: int | Sequence[int] | None = None,
    compactness: float | None = None,
    cache: bool | str = True,
    seed: int | None = None,
    output: str = "tuple",
    drop_remainder: bool = True,
    num_levels: int = DEFAULT_NUM_LEVELS,
    num_parallel_calls: int | None = None,
    progress: bool = True,
    recipe: str | None = None,
) -> tf.data.Dataset:
    """One call: add superpixels (cached), shuffle, flip/rotate, batch, mix, prefetch.

    With a cache (the default), SLIC runs once per image and per granularity:
    ``num_levels`` values of ``n_segments`` spread over the range are
    precomputed up front (with a progress bar) and one of them is drawn per
    image at every step; flips and rotations are applied to the drawn
    superpixel map exactly as to the image and the mask. With ``cache=False``,
    SLIC runs at every epoch on one ``n_segments`` drawn in the range.

    Args:
        dataset: unbatched elements ``{"images", "segmentation_masks"}`` as made by
            :func:`keras_hsmix.data.load_folder` or :func:`make_synthetic_dataset`, or
            ``(image, mask)`` tuples (turned into such dicts).
        batch_size: batch size (mixing pairs samples within a batch).
        num_classes: number of classes of the class-id masks.
        mixer: ``"hsmix"`` for ``HSMix(num_classes=..., seed=seed)``, any mixing
            layer, or ``None`` for no mixing (masks are still made one-hot).
        augment: random flips (and 90° rotations for square images) first.
        color_jitter: strength of :func:`keras_hsmix.data.augment.random_color_jitter`
            (brightness, contrast, saturation, hue of each image before mixing; masks
            untouched); ``0`` (default) for none.
        shuffle: shuffle buffer, ``None`` for no shuffling.
        n_segments, compactness: SLIC settings (``None``: the recipe's).
        cache: cache the superpixels in memory (``True``) or in a file (path);
            with a mixer that uses static saliency, the saliency is cached too and flipped /
            rotated with the image (OpenCV's surround box is one pixel asymmetric, so this
            differs slightly from recomputing the saliency of the flipped image).
        seed: seed of the shuffle, of the per-element draws (:func:`augment_elements`)
            and of the mixer; with a seed the pipeline repeats exactly, run after run
            (each epoch still differs); ``None`` follows the global seed.
        output: ``"tuple"`` gives ``(images, soft_masks)`` for ``model.fit``;
            ``"dict"`` keeps the dict (for :class:`keras_hsmix.HSMixModel`).
        drop_remainder: drop a last, smaller batch.
        num_levels: granularities precomputed when ``n_segments`` is a range
            (see :func:`keras_hsmix.data.cache.segment_levels`).
        num_parallel_calls: SLIC calls side by side; default one per core.
        progress: with a cache, fill it now, showing a progress bar; ``False``
            fills it lazily during the first epoch instead.
        recipe: a named HSMix recipe (:mod:`keras_hsmix.recipes`) for the superpixel settings and,
            with ``mixer="hsmix"``, for the mixer; give the same recipe to :class:`keras_hsmix.HSMixModel`
            when it mixes in ``train_step`` (``mixer=None``).

    Example:
        >>> from keras_hsmix.data.synthetic import make_synthetic_dataset
        >>> ds = make_pipeline(make_synthetic_dataset(8, (64, 64)), batch_size=4, n_segments=40)
        >>> images, masks = next(iter(ds))
        >>> images.shape, masks.shape
        (TensorShape([4, 64, 64, 3]), TensorShape([4, 64, 64, 2]))
    """
    if output not in ("tuple", "dict"):
        raise ValueError(f"output must be 'tuple' or 'dict', got {output!r}")
    check_count("batch_size", batch_size)
    if shuffle is not None and shuffle is not False and not (isinstance(shuffle, (int, np.integer)) and shuffle == 0):
        check_count("shuffle", shuffle, extra=" (0 or None for no shuffling)")
    if isinstance(cache, (str, os.PathLike)) and not Path(cache).parent.is_dir():
        raise ValueError(f"cache: the folder of the cache file {str(cache)!r} does not exist; create it first, "
                         "or pass cache=True to cache in memory")
    dataset = check_one_size(as_element_dicts(dataset), batch_size)  # a clear error, before SLIC fills the cache
    size = int(dataset.cardinality())
    if drop_remainder and 0 <= size < batch_size:
        raise ValueError(
            f"dataset: {size} element(s), fewer than batch_size={batch_size}: with drop_remainder=True every "
            "batch would be dropped and the pipeline would be empty (lower batch_size or pass drop_remainder=False)"
        )
    if not color_jitter >= 0:
        raise ValueError(f"color_jitter must be >= 0, got {color_jitter}")
    settings = resolve(recipe, n_segments=n_segments, compactness=compactness)
    n_segments, compactness = settings["n_segments"], settings["compactness"]
    if mixer == "hsmix":
        mixer = HSMix(num_classes=num_classes, n_segments=n_segments, compactness=compactness, seed=seed,
                      data_format="channels_last", recipe=recipe)
    require_channels_last(mixer, "make_pipeline")
    # Static saliency depends on the image only: compute it once, cached with the superpixels,
    # and moved by flips/rotations like them, instead of once per batch at every step.
    cache_saliency = (
        bool(cache)
        and getattr(mixer, "saliency", None) == "static"
        and dataset.element_spec["images"].shape.rank == 3
    )
    if cache_saliency:
        dataset = graph_map(dataset, _add_static_saliency, num_parallel_calls=tf.data.AUTOTUNE)
    if cache:
        levels = segment_levels(n_segments, num_levels)
        ds = add_superpixel_levels(dataset, levels, compactness, num_parallel_calls, cache)
        if progress:
            ds = precompute(ds, progress=True, desc=f"SLIC {len(levels)} level(s)")
    else:
        seed0 = seed if seed is not None else 0
        ds = add_superpixels(dataset, n_segments, compactness, seed0, num_parallel_calls, cache=False)
    if shuffle:
        ds = ds.shuffle(shuffle, seed=seed, reshuffle_each_iteration=True)

    ds = augment_elements(ds, seed, draw_level=bool(cache), flips=augment, color_jitter=color_jitter)
    # A mixing layer draws from its own seed generator (a variable): with a seed, mix
    # the batches one at a time, in order, so that every run draws the same mixes.
    ds = batch_and_mix(ds, batch_size, mixer, num_classes, drop_remainder, ordered=seed is not None)
    return finalize(ds, output, drop=("saliency",) if cache_saliency else ())
