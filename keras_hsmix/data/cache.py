"""Multi-level superpixel cache: SLIC once per image and granularity, drawn per step.

SLIC is by far the most expensive part of HSMix (about 0.1 s for one 224x224
image on one core). The paper's code runs it at every step; here it runs once
per image and per granularity:

1. :func:`add_superpixel_levels` computes SLIC for several ``n_segments``
   *levels* of every image, in parallel (one ``tf.numpy_function`` call per
   image, :func:`parallel_calls` of them at once), and caches the stacked maps
   ``[L, H, W]`` with ``tf.data`` caching, in memory or in a file on disk for
   datasets larger than memory. :func:`precompute` fills the cache once, with a
   progress bar.
2. :func:`draw_superpixel_level` picks one level per element and step, so the
   granularity still varies from step to step as in the paper.
3. Geometric augmentation (:func:`keras_hsmix.data.random_flip_rotate`) runs
   *after* the draw and moves the superpixel map exactly as the image and the
   mask, so cached superpixels stay valid under flips and rotations.

Example:
    >>> from keras_hsmix.data.synthetic import make_synthetic_dataset
    >>> ds = add_superpixel_levels(make_synthetic_dataset(4, (48, 48)), levels=(20, 40))
    >>> ds = precompute(ds, progress=False).map(draw_superpixel_level)
    >>> next(iter(ds))["superpixels"].shape
    TensorShape([48, 48])
"""

from __future__ import annotations

import importlib.util
import os
import sys
import time
from typing import Any, Sequence

import numpy as np
import tensorflow as tf

from keras_hsmix.data.maps import graph_map
from keras_hsmix.ops.superpixels import NSegments, check_n_segments, slic_numpy

#: Key of the cached ``[L, H, W]`` stack of superpixel maps (one per level).
LEVELS_KEY = "superpixel_levels"

#: Default number of granularities precomputed when ``n_segments`` is a range.
DEFAULT_NUM_LEVELS = 3

# Levels are stored as uint16 (half the memory of int32) when ids surely fit.
_UINT16_MAX_SEGMENTS = 16_384


def parallel_calls() -> int:
    """Number of SLIC calls run side by side: one per CPU core usable by this process.

    ``tf.data.AUTOTUNE`` ramps up too slowly for a short, SLIC-bound pass (it
    reached 1.25x instead of 2x over 48 images on 2 cores), so a fixed count is
    used. It honours CPU affinity (containers, ``taskset``), unlike
    ``os.cpu_count()``. scikit-image's SLIC releases the GIL, so the
    ``tf.numpy_function`` calls do run in parallel.

    Example:
        >>> parallel_calls() >= 1
        True
    """
    try:
        count = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not on Linux
        count = os.cpu_count() or 1
    return max(1, count)


def segment_levels(n_segments: NSegments, num_levels: int = DEFAULT_NUM_LEVELS) -> tuple[int, ...]:
    """The ``n_segments`` levels to precompute: ``num_levels`` evenly spaced in a range.

    Args:
        n_segments: an int (one level) or a ``(low, high)`` range.
        num_levels: how many levels to spread over a range (>= 1).

    Returns:
        Sorted distinct ints; ``(low,)`` when ``low == high`` or ``num_levels == 1``
        gives the middle of the range.

    Example:
        >>> segment_levels((200, 400), 3)
        (200, 300, 400)
        >>> segment_levels(300)
        (300,)
    """
    if int(num_levels) < 1:
        raise ValueError(f"num_levels must be >= 1, got {num_levels}")
    low, high = check_n_segments(n_segments)
    if low == high:
        return (low,)
    if num_levels == 1:
        return ((low + high) // 2,)
    values = np.round(np.linspace(low, high, int(num_levels))).astype(int)
    return tuple(sorted(set(int(v) for v in values)))


def _check_levels(levels: int | Sequence[int]) -> tuple[int, ...]:
    values = (int(levels),) if isinstance(levels, (int, np.integer)) else tuple(int(v) for v in levels)
    if not values or any(v < 1 for v in values):
        raise ValueError(f"levels must be one or more ints >= 1, got {levels!r}")
    return values


def slic_levels(image: np.ndarray, levels: Sequence[int], compactness: float = 10.0) -> np.ndarray:
    """SLIC maps of one image at each level, stacked: ``[L, H, W]`` int32.

    Example:
        >>> import numpy as np
        >>> slic_levels(np.random.rand(32, 32, 3), (8, 16)).shape
        (2, 32, 32)
    """
    return np.stack([slic_numpy(image, int(n), compactness) for n in levels])


def add_superpixel_levels(
    dataset: tf.data.Dataset,
    levels: int | Sequence[int] = (200, 300, 400),
    compactness: float = 10.0,
    num_parallel_calls: int | None = None,
    cache: bool | str = True,
) -> tf.data.Dataset:
    """Adds ``"superpixel_levels"`` ``[L, H, W]`` (SLIC at each level) to each element.

    Args:
        dataset: unbatched elements with an ``"images"`` key ``[H, W, C]`` (any C; see :func:`slic_numpy`).
        levels: the ``n_segments`` values (see :func:`segment_levels`).
        compactness: SLIC compactness.
        num_parallel_calls: images processed side by side; default
            :func:`parallel_calls` (one per core).
        cache: ``True`` caches in memory, a path caches in files on disk with that
            prefix (for datasets larger than memory), ``False`` does not cache.

    Returns:
        The dataset with the levels added, stored as uint16 when the ids fit
        (``max(levels) <= 16384``), else int32; :func:`draw_superpixel_level`
        turns them into an int32 ``"superpixels"`` map.

    Example:
        >>> from keras_hsmix.data.synthetic import make_synthetic_dataset
        >>> ds = add_superpixel_levels(make_synthetic_dataset(2, (32, 32)), levels=(10, 20))
        >>> next(iter(ds))["superpixel_levels"].shape
        TensorShape([2, 32, 32])
    """
    values = _check_levels(levels)
    dtype = np.uint16 if max(values) <= _UINT16_MAX_SEGMENTS else np.int32
    calls = num_parallel_calls or parallel_calls()

    def run(image: np.ndarray) -> np.ndarray:
        return slic_levels(image, values, compactness).astype(dtype)

    def add(element: dict) -> dict:
        out = dict(element)
        images = tf.convert_to_tensor(element["images"])
        stack = tf.numpy_function(run, [images], tf.as_dtype(dtype), stateful=False)
        stack.set_shape([len(values)] + images.shape[:2].as_list())
        out[LEVELS_KEY] = stack
        return out

    dataset = graph_map(dataset, add, num_parallel_calls=calls, deterministic=True)
    if cache:
        dataset = dataset.cache("" if cache is True else str(cache))
    return dataset


def precompute(dataset: tf.data.Dataset, progress: bool = True, desc: str = "superpixels") -> tf.data.Dataset:
    """Runs one pass over a cached dataset so that its cache is full; shows its progress.

    Later iterators of ``dataset``, and of datasets built on it (shuffle, map,
    batch...), read the cache instead of recomputing. An infinite dataset is
    returned untouched. Returns ``dataset`` itself for chaining.

    Args:
        dataset: typically the output of :func:`add_superpixel_levels` with a cache.
        progress: on stderr, a ``tqdm`` progress bar when stderr is a terminal or
            the code runs in a Jupyter / Colab kernel; otherwise (a log, a pipe,
            CI) one line once the pass is done, ``"<desc>: N images in T s"``,
            instead of a bar's carriage-return updates.
        desc: label of the progress bar or line.

    Example:
        >>> from keras_hsmix.data.synthetic import make_synthetic_dataset
        >>> ds = precompute(add_superpixel_levels(make_synthetic_dataset(2, (32, 32)), 10), progress=False)
        >>> len(list(ds))
        2
    """
    cardinality = int(dataset.cardinality())
    if cardinality == int(tf.data.INFINITE_CARDINALITY):
        return dataset
    total = cardinality if cardinality >= 0 else None
    if progress and not _interactive(sys.stderr):
        start, count = time.perf_counter(), 0
        for _ in dataset:
            count += 1
        print(f"{desc}: {count} images in {time.perf_counter() - start:.1f} s", file=sys.stderr, flush=True)
        return dataset
    if importlib.util.find_spec("ipywidgets") is not None:
        from tqdm.auto import tqdm  # a widget in Jupyter / Colab, text on a terminal
    else:
        from tqdm import tqdm  # text: tqdm.auto would warn in Jupyter that it needs ipywidgets

    with tqdm(total=total, desc=desc, unit="img", disable=not progress, leave=False) as bar:
        for _ in dataset:
            bar.update(1)
    return dataset


def _interactive(stream: Any) -> bool:
    """Whether a progress bar can redraw itself on ``stream``: a terminal, or a Jupyter / Colab kernel's output."""
    get_shell = getattr(sys.modules.get("IPython"), "get_ipython", None)
    if get_shell is not None and hasattr(get_shell(), "kernel"):  # Jupyter's and Colab's shells have a kernel
        return True
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # no isatty, or a closed stream
        return False


def draw_superpixel_level(element: dict, seed: tf.Tensor | None = None) -> dict:
    """Replaces ``"superpixel_levels"`` ``[L, H, W]`` by one level, ``"superpixels"`` int32 ``[H, W]``.

    The level is drawn uniformly at every call (every step), so the granularity
    varies although SLIC ran once. Apply geometric augmentation after this.

    Args:
        element: one unbatched sample with a ``"superpixel_levels"`` key.
        seed: optional stateless seed, shape ``[2]`` int; random when ``None``.

    Example:
        >>> import tensorflow as tf
        >>> out = draw_superpixel_level({"superpixel_levels": tf.zeros((3, 8, 8), tf.uint16)})
        >>> out["superpixels"].dtype, out["superpixels"].shape
        (tf.int32, TensorShape([8, 8]))
    """
    out = dict(element)
    stack = tf.convert_to_tensor(out.pop(LEVELS_KEY))
    count = tf.shape(stack)[0]
    if seed is None:
        index = tf.random.uniform([], 0, count, dtype=tf.int32)
    else:
        index = tf.random.stateless_uniform([], seed=seed, minval=0, maxval=count, dtype=tf.int32)
    out["superpixels"] = tf.cast(tf.gather(stack, index), tf.int32)
    return out
