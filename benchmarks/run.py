"""Side-by-side benchmarks of HSMix: ``python benchmarks/run.py [--only ...] [--runs 3] [--quick]``.

Every line of the printed table is a *ratio measured side by side in one
process, on the same data*: the functions compared are called in rounds, in a
freshly shuffled order each round, after untimed warm-up calls, and the median
of the per-round ratios is the run's figure (:mod:`benchmarks.timing`). With
``--runs N`` (default 3) the benchmark runs N times, each in a separate
process, one after another; the table gives the median over the runs and the
range (lowest-highest) of each ratio, and the load average at the start and
end of each run. Absolute times are medians, for information.

Lines:

1. mixing cost (:mod:`benchmarks.mixing`): ``HardMix`` / ``SoftMix`` as users
   call them (superpixels given, in a ``tf.function``), with class-id and
   with one-hot masks, float32 and uint8 images, against Keras' ``CutMix`` /
   ``MixUp`` mixing images and masks of the same batch, against vectorised
   NumPy references given the same draws (:mod:`benchmarks.references`,
   outputs checked equal before timing) and, for information, the paper's
   per-superpixel loops; plus the shares of HardMix's input checks, draws and
   fused kernel;
2. SLIC scaling: images/s of the library's superpixel stage with its default
   parallelism against ``num_parallel_calls=1`` (and ``AUTOTUNE``, for
   information), over the first GlaS images;
3. cache: second-epoch throughput of ``make_pipeline`` with the superpixel
   cache against the same with ``cache=False``;
4. end to end: seconds per epoch of ``fit``, HSMix in the pipeline and
   ``HSMixModel`` with Grad-CAM against plain ``fit`` of the same UNet, and
   the cost of the pieces of ``HSMixModel``'s step against a plain train step;
5. memory: RSS growth over pipeline steps after warm-up;
6. the stretch: :func:`benchmarks.tf_slic.tf_slic` (SLIC as TensorFlow
   graph ops, under XLA) against scikit-image SLIC, speed and boundary recall
   on the GlaS masks (at the same ``n_segments`` and at a matched region count).

Every TensorFlow result is forced the same way: a zero-copy ``memoryview`` of
each output tensor (:func:`benchmarks.timing.materialise`).

Plus a short XLA report (which mixing pieces compile with ``jit_compile=True``).

GlaS is read from ``$KERAS_HSMIX_GLAS`` or ``../shared/datasets/glas``; without
it, the built-in synthetic data are used (and the table says so).
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import platform
import re
import statistics
import sys
import time
from pathlib import Path
from typing import Callable, Sequence

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
import keras  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:  # run as a script from anywhere
    sys.path.insert(0, str(REPO_ROOT))

import keras_hsmix  # noqa: E402
from keras_hsmix.data import load_folder, make_pipeline, make_synthetic_dataset  # noqa: E402
from keras_hsmix.data.cache import add_superpixel_levels, parallel_calls  # noqa: E402
from keras_hsmix.ops import fused  # noqa: E402
from keras_hsmix.ops.saliency import static_saliency  # noqa: E402
from keras_hsmix.ops.segments import segment_mean  # noqa: E402
from keras_hsmix.ops.superpixels import slic_superpixels  # noqa: E402
from benchmarks.tf_slic import tf_slic  # noqa: E402

from benchmarks.mixing import bench_mixing  # noqa: E402
from benchmarks.references import numpy_hard_mix, numpy_soft_mix  # noqa: E402,F401 - re-exported
from benchmarks.timing import Row, interleaved, materialise, median_ratio  # noqa: E402,F401



# ----------------------------------------------------------------------------- settings
@dataclasses.dataclass
class Settings:
    """Sizes of one benchmark run (``full()`` or ``quick()``)."""

    mix_batch: int = 16
    mix_size: int = 224
    mix_segments: int = 300
    mix_rounds: int = 9
    mix_loop_rounds: int = 3
    slic_images: int = 50
    slic_size: int = 224
    slic_segments: int = 300
    slic_rounds: int = 3
    #: Section 6 times tf_slic XLA-compiled (what it is for). False runs it eagerly: the unit tests check the
    #: section's table that way and leave tf_slic's XLA compile (about 16 s) to tests/benchmarks/test_tf_slic.py.
    tf_slic_xla: bool = True
    cache_images: int = 32
    cache_size: int = 224
    cache_batch: int = 8
    cache_rounds: int = 3
    cache_mixers: tuple[str | None, ...] = (None, "hsmix")
    fit_images: int = 16
    fit_size: int = 96
    fit_batch: int = 8
    fit_steps: int = 4
    fit_rounds: int = 3
    fit_parts_rounds: int = 5
    fit_filters: int = 16
    fit_depth: int = 4
    memory_steps: int = 2000
    memory_size: int = 64
    memory_batch: int = 4
    memory_every: int = 100

    @classmethod
    def full(cls) -> "Settings":
        """The sizes the issue asks for."""
        return cls()

    @classmethod
    def quick(cls) -> "Settings":
        """A smoke run of a minute or so: tiny sizes, few rounds."""
        return cls(
            mix_batch=4, mix_size=64, mix_segments=40, mix_rounds=3, mix_loop_rounds=1,
            slic_images=8, slic_size=64, slic_segments=40, slic_rounds=1,
            cache_images=8, cache_size=64, cache_batch=4, cache_rounds=1,
            fit_images=8, fit_size=32, fit_batch=4, fit_steps=2, fit_rounds=1, fit_parts_rounds=2, fit_filters=4, fit_depth=2,
            memory_steps=200, memory_size=32, memory_batch=4, memory_every=20,
        )


# -------------------------------------------------------------------------------- data
def glas_dir() -> Path | None:
    """GlaS folder from ``$KERAS_HSMIX_GLAS`` or ``../shared/datasets/glas``, or None."""
    path = Path(os.environ.get("KERAS_HSMIX_GLAS", REPO_ROOT.parent / "shared" / "datasets" / "glas"))
    return path if (path / "train" / "images").is_dir() else None


def load_arrays(count: int, size: int, data_dir: Path | None = None) -> tuple[dict[str, np.ndarray], str]:
    """The first ``count`` GlaS training pairs at ``size``x``size`` as NumPy arrays.

    Falls back to the built-in synthetic data when GlaS is absent. Returns the
    arrays (``images`` float32 ``[N, S, S, 3]``, ``segmentation_masks`` int32
    ``[N, S, S, 1]``) and a description of the source.

    Example:
        >>> arrays, source = load_arrays(2, 32, data_dir=None)
        >>> arrays["images"].shape
        (2, 32, 32, 3)
    """
    if data_dir is not None:
        ds = load_folder(data_dir / "train", image_size=(size, size)).take(count)
        source = f"GlaS train, first {count} images at {size}x{size}"
    else:
        ds = make_synthetic_dataset(count, (size, size), seed=0)
        source = f"synthetic (no GlaS), {count} images at {size}x{size}"
    elements = list(ds.as_numpy_iterator())
    arrays = {k: np.stack([e[k] for e in elements]) for k in ("images", "segmentation_masks")}
    masks = arrays["segmentation_masks"].astype(np.int32)
    arrays["segmentation_masks"] = masks.reshape(arrays["images"].shape[:3] + (1,))
    return arrays, source


def to_dataset(arrays: dict[str, np.ndarray]) -> tf.data.Dataset:
    """Unbatched in-memory ``tf.data.Dataset`` of the arrays."""
    return tf.data.Dataset.from_tensor_slices(arrays)


def _tile(arrays: dict[str, np.ndarray], count: int) -> dict[str, np.ndarray]:
    reps = -(-count // len(arrays["images"]))
    return {k: np.concatenate([v] * reps)[:count] for k, v in arrays.items()}


# ------------------------------------------------------------------- 2. SLIC scaling
def bench_slic_scaling(arrays: dict[str, np.ndarray], s: Settings) -> list[Row]:
    """Images/s of the superpixel stage: default parallelism vs 1 (and AUTOTUNE)."""
    base = to_dataset({"images": arrays["images"][: s.slic_images]})
    count = min(s.slic_images, len(arrays["images"]))

    def epoch(calls: int | None) -> Callable[[], None]:
        ds = add_superpixel_levels(base, (s.slic_segments,), num_parallel_calls=calls, cache=False)
        return lambda: [None for _ in ds]

    t = interleaved({"default": epoch(None), "one": epoch(1), "auto": epoch(tf.data.AUTOTUNE)},
                    s.slic_rounds, warmup=0)
    rate = {k: count / statistics.median(v) for k, v in t.items()}
    section = f"2. SLIC {count} imgs {s.slic_size}px"
    default = f"default ({parallel_calls()} parallel calls)"
    return [
        Row(section, default, "num_parallel_calls=1", rate["default"], rate["one"], "img/s",
            median_ratio(t["one"], t["default"]), ">= 1.8x", median_ratio(t["one"], t["default"]) >= 1.8),
        Row(section, "AUTOTUNE", "num_parallel_calls=1", rate["auto"], rate["one"], "img/s",
            median_ratio(t["one"], t["auto"]), "(info)", None),
    ]


# --------------------------------------------------------------------------- 3. cache
def bench_cache(arrays: dict[str, np.ndarray], s: Settings) -> list[Row]:
    """Second-epoch throughput of make_pipeline, cache vs no cache, without and with HSMix."""
    data = {k: v[: s.cache_images] for k, v in arrays.items()}
    base = to_dataset(data)
    steps = len(data["images"]) // s.cache_batch
    rows = []
    for mixer in s.cache_mixers:
        name = "no mixing" if mixer is None else "HSMix"
        common = dict(batch_size=s.cache_batch, mixer=mixer, seed=0, progress=False)
        cached = make_pipeline(base, cache=True, **common)
        uncached = make_pipeline(base, cache=False, **common)

        def epoch(ds: tf.data.Dataset) -> Callable[[], None]:
            return lambda: [None for _ in ds]

        # warmup=1 runs the first epoch (fills the cache); the timed rounds are epochs 2, 3...
        t = interleaved({"cached": epoch(cached), "uncached": epoch(uncached)}, s.cache_rounds)
        ratio = median_ratio(t["uncached"], t["cached"])
        rate = {k: steps * s.cache_batch / statistics.median(v) for k, v in t.items()}
        rows.append(Row(f"3. cache, 2nd epoch, {name}", "cache", "cache=False", rate["cached"],
                        rate["uncached"], "img/s", ratio, ">= 10x" if mixer is None else "(info)",
                        ratio >= 10 if mixer is None else None))
    return rows


# ---------------------------------------------------------------------- 4. end to end
class _EpochTimer(keras.callbacks.Callback):
    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self.start = time.perf_counter()

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        self.seconds = time.perf_counter() - self.start


def bench_fit(arrays: dict[str, np.ndarray], s: Settings, num_classes: int = 2) -> list[Row]:
    """Seconds per epoch of ``fit``: HSMix in the pipeline, and ``HSMixModel`` (Grad-CAM), against plain ``fit``.

    Three trainings of the same UNet on the same data, their epochs interleaved
    in a shuffled order: plain ``model.fit`` on the pipeline with ``mixer=None``;
    the same with ``mixer="hsmix"``; ``HSMixModel(recipe="default")`` (Grad-CAM) on the
    ``mixer=None`` pipeline (mixing in ``train_step``, Grad-CAM when the soft
    branch is drawn). Then where ``HSMixModel``'s step time goes, on one batch:
    a plain train step, the Grad-CAM of the batch, and the soft mix given that
    saliency, each a ``tf.function``, interleaved.
    """
    from keras_hsmix.models import unet
    from keras_hsmix.training import HSMixModel

    base = to_dataset({k: v[: s.fit_images] for k, v in arrays.items()})
    common = dict(batch_size=s.fit_batch, num_classes=num_classes, seed=0, progress=False)
    pipelines = {
        "plain": make_pipeline(base, mixer=None, **common).repeat(),
        "hsmix": make_pipeline(base, mixer="hsmix", **common).repeat(),
        "model": make_pipeline(base, mixer=None, output="dict", **common).repeat(),
    }

    def net() -> keras.Model:
        keras.utils.set_random_seed(0)
        return unet((s.fit_size, s.fit_size, 3), num_classes, base_filters=s.fit_filters, depth=s.fit_depth)

    loss = keras.losses.CategoricalCrossentropy(from_logits=True)
    # recipe="default": one of hard, soft or none per step, the batch size of the others (the paper recipe, the
    # model's default, trains on 2B images per step and is not a like-for-like epoch).
    models = {"plain": net(), "hsmix": net(),
              "model": HSMixModel(net(), num_classes=num_classes, seed=0, recipe="default")}
    for model in models.values():
        model.compile(keras.optimizers.Adam(1e-3), loss)

    epochs: dict[str, list[float]] = {name: [] for name in models}

    def fit(name: str) -> Callable[[], None]:
        def run() -> None:
            timer = _EpochTimer()  # the epoch itself, not fit's set-up
            models[name].fit(pipelines[name], epochs=1, steps_per_epoch=s.fit_steps, verbose=0, callbacks=[timer])
            epochs[name].append(timer.seconds)
        return run

    # A warm-up epoch each (tracing, first batches, SLIC cache), then epochs in a shuffled order.
    interleaved({name: fit(name) for name in models}, s.fit_rounds)
    t = {name: seconds[1:] for name, seconds in epochs.items()}
    rate = {k: s.fit_steps / statistics.median(v) for k, v in t.items()}
    section = f"4. fit UNet({s.fit_filters},{s.fit_depth}) {s.fit_batch}x{s.fit_size}px, {s.fit_steps} steps/epoch"
    ratio_pipe, ratio_model = median_ratio(t["plain"], t["hsmix"]), median_ratio(t["plain"], t["model"])
    rows = [
        Row(section, "HSMix pipeline", "plain fit (mixer=None)", rate["hsmix"], rate["plain"], "steps/s",
            ratio_pipe, ">= 0.8x", ratio_pipe >= 0.8),
        Row(section, "HSMixModel (Grad-CAM)", "plain fit (mixer=None)", rate["model"], rate["plain"], "steps/s",
            ratio_model, ">= 0.95x", ratio_model >= 0.95),
    ]

    # Where HSMixModel's time goes: one batch, each piece a tf.function.
    model = models["model"]
    batch = next(iter(pipelines["model"]))
    canon = model.mixer.prepare_inputs(batch)
    draws = model.mixer.get_random_transformation(canon)
    plain_model = models["plain"]
    x, y = batch["images"], tf.one_hot(tf.cast(batch["segmentation_masks"][..., 0], tf.int32), num_classes)

    @tf.function
    def plain_step() -> dict:
        return plain_model.train_step((x, y))

    @tf.function
    def gradcam() -> tf.Tensor:
        return model._saliency(canon)

    saliency = gradcam()

    @tf.function
    def soft() -> dict:
        return model.mixer.soft.transform({**canon, "saliency": saliency}, draws)

    @tf.function
    def hard() -> dict:
        return model.mixer.hard.transform(canon, draws)

    parts = interleaved({k: (lambda f=f: materialise(f())) for k, f in
                         {"step": plain_step, "gradcam": gradcam, "soft": soft, "hard": hard}.items()},
                        s.fit_parts_rounds, warmup=2)
    ms = {k: statistics.median(v) * 1e3 for k, v in parts.items()}
    part = f"4. HSMixModel step parts, batch {s.fit_batch}x{s.fit_size}px"
    for key, label in (("gradcam", "Grad-CAM of the batch"), ("soft", "soft mix (saliency given)"),
                       ("hard", "hard mix")):
        rows.append(Row(part, label, "plain train step", ms[key], ms["step"], "ms",
                        median_ratio(parts[key], parts["step"]), "(info: cost / step)", None))
    return rows


# --------------------------------------------------------------------------- 5. memory
def rss_mib() -> float:
    """Resident set size of this process, MiB (Linux ``/proc``; 0 elsewhere).

    Example:
        >>> rss_mib() >= 0
        True
    """
    try:
        with open("/proc/self/statm") as f:
            pages = int(f.read().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE") / 2**20
    except (OSError, ValueError):
        return 0.0


def measure_rss(ds: tf.data.Dataset, steps: int, every: int) -> list[float]:
    """RSS (MiB) sampled every ``every`` steps while iterating ``steps`` batches of ``ds``."""
    samples = [rss_mib()]
    for step, _ in enumerate(ds.take(steps), start=1):
        if step % every == 0:
            samples.append(rss_mib())
    return samples


def rss_growth(samples: Sequence[float], warmup_fraction: float = 0.25) -> float:
    """Relative RSS growth after warm-up: last samples' median over the post-warm-up level.

    Example:
        >>> rss_growth([100, 200, 200, 200, 200, 202, 202, 202])
        0.01
    """
    start = max(1, int(len(samples) * warmup_fraction))
    reference = samples[start]
    tail = samples[-max(1, len(samples) // 8):]
    return float(statistics.median(tail) / reference - 1.0)


def bench_memory(arrays: dict[str, np.ndarray], s: Settings) -> list[Row]:
    """RSS over many pipeline steps, with SLIC at every step (no cache) and with the cache."""
    data = _tile({k: v[:16] for k, v in arrays.items()}, 16)
    resized = {
        "images": tf.image.resize(data["images"], (s.memory_size, s.memory_size)).numpy(),
        "segmentation_masks": tf.image.resize(data["segmentation_masks"], (s.memory_size, s.memory_size),
                                              method="nearest").numpy(),
    }
    base = to_dataset(resized)
    rows = []
    for cache, name in ((False, "SLIC every step (tf.numpy_function)"), (True, "cached superpixels")):
        ds = make_pipeline(base, batch_size=s.memory_batch, n_segments=(20, 40), cache=cache, seed=0,
                           progress=False).repeat()
        samples = measure_rss(ds, s.memory_steps, s.memory_every)
        growth = rss_growth(samples)
        start = samples[max(1, int(len(samples) * 0.25))]
        rows.append(Row(f"5. memory, {s.memory_steps} steps", name, "after warm-up", samples[-1], start,
                        "MiB", 1 + growth, "< 5% growth", growth < 0.05))
    return rows


# ----------------------------------------------------------------------------- 6. XLA
def _beta_draws(batch: int, n: int) -> tf.Tensor:
    return keras.random.beta((batch, n), 1.0, 1.0, seed=1)


def _xla_error(error: Exception) -> str:
    """Short reason of an XLA failure: the unsupported op names, else the first line."""
    text = str(error)
    ops = sorted(set(re.findall(r"(\w+) \(No registered", text)))
    if ops:
        return "unsupported op(s) on XLA_CPU_JIT: " + ", ".join(ops)
    first = text.strip().splitlines()[0] if text.strip() else ""
    return f"{type(error).__name__}: {first[:120]}"


def xla_report(size: int = 32, batch: int = 4, only: Sequence[str] | None = None) -> list[tuple[str, str, str]]:
    """Which mixing pieces compile with ``tf.function(jit_compile=True)``: ``(what, result, note)``.

    Args:
        size, batch: shape of the random test batch.
        only: names of the checks to run (default all).

    Example:
        >>> rows = xla_report(size=16, batch=2, only=["slic_superpixels"])
        >>> rows[0][:2]
        ('slic_superpixels', 'fails')
    """
    rng = np.random.default_rng(0)
    images = tf.constant(rng.random((batch, size, size, 3), dtype=np.float32))
    class_ids = tf.constant(rng.integers(0, 2, (batch, size, size, 1)), tf.int32)
    masks = tf.one_hot(class_ids[..., 0], 2)
    superpixels = slic_superpixels(images, 10)
    n = int(tf.reduce_max(superpixels)) + 1
    partner = tf.constant(rng.permutation(batch), tf.int32)
    picked = tf.constant(rng.random((batch, n)) < 0.5)
    saliency = tf.constant(rng.random((batch, size, size), dtype=np.float32))
    batch_dict = {"images": images, "segmentation_masks": class_ids, "superpixels": superpixels}

    checks: list[tuple[str, Callable[[], object], str]] = [
        ("hard_mix_batch (the layers' default), draws given", lambda: fused.hard_mix_batch(
            images, masks, superpixels, partner, picked, n), "gather + select; what HardMix runs"),
        ("soft_mix_batch (the layers' default), draws given", lambda: fused.soft_mix_batch(
            images, masks, superpixels, partner, picked, n, saliency=saliency),
         "gather + unsorted_segment_sum; what SoftMix runs"),
        ("static_saliency", lambda: tf.function(static_saliency, jit_compile=True)(images), ""),
        ("segment_mean, N = reduce_max + 1", lambda: tf.function(
            lambda v, sp: segment_mean(v, sp, tf.reduce_max(sp) + 1), jit_compile=True)(saliency, superpixels),
         "dynamic output shape"),
        ("HardMix layer, superpixels given", lambda: tf.function(
            keras_hsmix.HardMix(num_classes=2, seed=0), jit_compile=True)(batch_dict),
         "draws [B, N] with N from reduce_max"),
        ("SoftMix(random) layer, superpixels given", lambda: tf.function(
            keras_hsmix.SoftMix(num_classes=2, seed=0, saliency="random"), jit_compile=True)(batch_dict),
         "plus Beta draws"),
        ("Beta draws (keras.random.beta), static shape", lambda: tf.function(
            _beta_draws, jit_compile=True)(batch, n), ""),
        ("slic_superpixels", lambda: tf.function(
            lambda x: slic_superpixels(x, 10), jit_compile=True)(images), "tf.numpy_function"),
    ]
    report = []
    for what, fn, note in checks:
        if only is not None and what not in only:
            continue
        try:
            materialise(fn())
            report.append((what, "compiles", note))
        except Exception as error:  # noqa: BLE001 - the error is the result
            report.append((what, "fails", "; ".join(x for x in (note, _xla_error(error)) if x)))
    return report


# ---------------------------------------------------------------------------- output
def machine_description() -> str:
    """Cores, Python and library versions, load average: for the table's header."""
    import skimage

    load = os.getloadavg() if hasattr(os, "getloadavg") else ("?",)
    return (
        f"{platform.processor() or platform.machine()}, {parallel_calls()} usable cores "
        f"(os.cpu_count()={os.cpu_count()}), load average now {', '.join(f'{v:.2f}' for v in load)}; "
        f"Python {platform.python_version()}, TensorFlow {tf.__version__}, Keras {keras.__version__}, "
        f"NumPy {np.__version__}, scikit-image {skimage.__version__}; GPUs visible: "
        f"{len(tf.config.list_physical_devices('GPU'))}"
    )


def format_table(rows: Sequence[Row]) -> str:
    """Markdown table of the rows: medians, and for several runs the median ratio and its range.

    Example:
        >>> print(format_table([Row("s", "A", "B", 1.0, 2.0, "ms", 2.0, ">= 1x", True)]).splitlines()[2])
        | s | A | B | 1.00 ms | 2.00 ms | **2.00x** | 2.00-2.00x (1 run) | >= 1x | met |
    """
    lines = [
        "| benchmark | A | B | A | B | ratio (median) | range over runs | target | status |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        low = r.ratio if r.low is None else r.low
        high = r.ratio if r.high is None else r.high
        runs = f"{r.runs} run" + ("s" if r.runs != 1 else "")
        lines.append(
            f"| {r.section} | {r.a} | {r.b} | {r.a_value:.2f} {r.unit} | {r.b_value:.2f} {r.unit} | "
            f"**{r.ratio:.2f}x** | {low:.2f}-{high:.2f}x ({runs}) | {r.target} | {r.status} |"
        )
    return "\n".join(lines)


def combine_runs(runs: Sequence[Sequence[Row]]) -> list[Row]:
    """One row per line over separate runs: median values and ratio, the ratio's range, met in how many runs.

    Example:
        >>> one = [Row("s", "A", "B", 1.0, 2.0, "ms", 2.0, ">= 1x", True)]
        >>> two = [Row("s", "A", "B", 1.0, 3.0, "ms", 3.0, ">= 1x", True)]
        >>> r = combine_runs([one, two, [Row("s", "A", "B", 2.0, 1.0, "ms", 0.5, ">= 1x", False)]])[0]
        >>> r.ratio, r.low, r.high, r.status
        (2.0, 0.5, 3.0, 'met in 2/3 runs')
    """
    grouped: dict[tuple[str, str, str], list[Row]] = {}
    for rows in runs:
        for row in rows:
            grouped.setdefault((row.section, row.a, row.b), []).append(row)
    out = []
    for same in grouped.values():
        first = same[0]
        ratios = [r.ratio for r in same]
        met = None if first.met is None else sum(bool(r.met) for r in same)
        out.append(dataclasses.replace(
            first, a_value=statistics.median(r.a_value for r in same), b_value=statistics.median(r.b_value for r in same),
            ratio=statistics.median(ratios), low=min(ratios), high=max(ratios), runs=len(same), met=met))
    return out


def format_xla(report: Sequence[tuple[str, str, str]]) -> str:
    """Markdown table of :func:`xla_report`."""
    lines = ["| jit_compile=True | result | note |", "|---|---|---|"]
    lines += [f"| {w} | {r} | {n.replace('|', '/')} |" for w, r, n in report]
    return "\n".join(lines)


# ------------------------------------------------------------- 6. SLIC in TensorFlow (stretch)
def boundary_recall(superpixels: np.ndarray, masks: np.ndarray, tolerance: int = 2) -> float:
    """Fraction of ground-truth boundary pixels with a superpixel boundary within ``tolerance`` pixels.

    Example:
        >>> gt = np.zeros((1, 4, 4), int); gt[:, :, 2:] = 1
        >>> boundary_recall(gt, gt)
        1.0
    """
    from scipy import ndimage
    from skimage.segmentation import find_boundaries

    hits = total = 0
    for sp, gt in zip(superpixels, masks.reshape(superpixels.shape)):
        truth = find_boundaries(gt)
        found = find_boundaries(sp)
        if tolerance:
            found = ndimage.binary_dilation(found, iterations=tolerance)
        hits += int((truth & found).sum())
        total += int(truth.sum())
    return hits / max(total, 1)


def _regions(superpixels: np.ndarray) -> float:
    """Mean number of connected regions per label map (a fragmented superpixel counts once per piece)."""
    from skimage.measure import label

    return float(np.mean([label(sp + 1, connectivity=1).max() for sp in superpixels]))


def bench_tf_slic(arrays: dict[str, np.ndarray], s: Settings) -> list[Row]:
    """The stretch goal: :func:`benchmarks.tf_slic.tf_slic` (XLA) vs scikit-image SLIC, speed and quality."""
    images = tf.constant(arrays["images"][: s.slic_images], tf.float32)
    masks = arrays["segmentation_masks"][: s.slic_images]
    count = int(images.shape[0])
    compile_ = (lambda f: tf.function(f, jit_compile=True)) if s.tf_slic_xla else (lambda f: f)
    run_tf = compile_(lambda x: tf_slic(x, s.slic_segments))
    run_raw = compile_(lambda x: tf_slic(x, s.slic_segments, connectivity=False))
    how = "XLA" if s.tf_slic_xla else "eager"
    run_sk = lambda x: slic_superpixels(x, s.slic_segments)  # noqa: E731
    t = interleaved({"tf": lambda: materialise(run_tf(images)), "sk": lambda: materialise(run_sk(images)),
                     "raw": lambda: materialise(run_raw(images))}, s.slic_rounds)
    ours, theirs = run_tf(images).numpy(), run_sk(images).numpy()
    recall_tf, recall_sk = 100 * boundary_recall(ours, masks), 100 * boundary_recall(theirs, masks)
    section = f"6. TF SLIC {count} imgs {s.slic_size}px"
    speed = median_ratio(t["sk"], t["tf"])
    density = [100 * float(np.mean([find_boundaries_fraction(sp) for sp in x])) for x in (ours, theirs)]
    # scikit-image merges fragments (connectivity enforcement), so at the same n_segments it returns far
    # fewer regions, and recall grows with the number of regions: compare recall at a matched count too.
    regions_tf, regions_theirs = _regions(ours), _regions(theirs)
    # scikit-image's region count moves in steps with n_segments: interpolate its recall linearly between the
    # two trials whose region counts bracket tf_slic's (the nearest trial when none brackets it).
    trials = []
    for factor in (1.0, 1.5, 2.0, 2.5, 3.0, 3.5):
        n = int(round(s.slic_segments * factor))
        labels = slic_superpixels(images, n).numpy()
        trials.append((_regions(labels), 100 * boundary_recall(labels, masks), n))
    regions_sk, recall_matched, matched_n = matched_recall(trials, regions_tf)
    pieces_tf, pieces_sk = (float(np.mean([_regions(x[i:i + 1]) / len(np.unique(x[i])) for i in range(len(x))]))
                            for x in (ours, theirs))
    return [
        Row(section, f"tf_slic ({how}, 1 call)", "skimage SLIC (1 call)", count / statistics.median(t["tf"]),
            count / statistics.median(t["sk"]), "img/s", speed, ">= 1x (to be the default)", speed >= 1),
        Row(section, "tf_slic, connectivity enforced", "tf_slic, connectivity=False",
            count / statistics.median(t["tf"]),
            count / statistics.median(t["raw"]), "img/s", median_ratio(t["raw"], t["tf"]), "(info: its cost)", None),
        Row(section, f"tf_slic boundary recall (n={s.slic_segments})",
            f"skimage, same region count (n={matched_n}, interpolated)", recall_tf, recall_matched, "%",
            recall_tf / max(recall_matched, 1e-9), ">= skimage - 2 points", recall_tf >= recall_matched - 2),
        Row(section, f"tf_slic regions/image (n={s.slic_segments})", f"skimage regions/image (n={matched_n})",
            regions_tf, regions_sk, "regions", regions_tf / max(regions_sk, 1e-9), "(info)", None),
        Row(section, f"tf_slic boundary recall (n={s.slic_segments})",
            f"skimage boundary recall (n={s.slic_segments})", recall_tf, recall_sk, "%",
            recall_tf / max(recall_sk, 1e-9), "(info)", None),
        Row(section, f"tf_slic regions/image (n={s.slic_segments})",
            f"skimage regions/image (n={s.slic_segments})", regions_tf, regions_theirs, "regions",
            regions_tf / max(regions_theirs, 1e-9), "(info)", None),
        Row(section, "tf_slic boundary pixels", "skimage boundary pixels", density[0], density[1], "%",
            density[0] / max(density[1], 1e-9), "(info)", None),
        Row(section, f"tf_slic 4-connected regions per label (n={s.slic_segments})",
            f"skimage regions per label (n={s.slic_segments})", pieces_tf, pieces_sk, "regions",
            pieces_tf / max(pieces_sk, 1e-9), "tf_slic = 1 (connected)", abs(pieces_tf - 1.0) < 1e-9),
    ]


def matched_recall(trials: Sequence[tuple[float, float, int]], regions: float) -> tuple[float, float, str]:
    """(regions, recall, n_segments label) of scikit-image at ``regions`` regions per image.

    ``trials`` holds ``(regions, recall, n_segments)`` of scikit-image runs; the recall is interpolated linearly
    between the two whose region counts bracket ``regions`` (the nearest trial when none brackets it).

    Example:
        >>> matched_recall([(100.0, 80.0, 300), (200.0, 90.0, 450)], 150.0)
        (150.0, 85.0, '300-450')
        >>> matched_recall([(100.0, 80.0, 300)], 150.0)
        (100.0, 80.0, '300')
    """
    ordered = sorted(trials)
    below = [t for t in ordered if t[0] <= regions]
    above = [t for t in ordered if t[0] >= regions]
    if not below or not above:
        nearest = min(ordered, key=lambda t: abs(t[0] - regions))
        return nearest[0], nearest[1], str(nearest[2])
    (r0, v0, n0), (r1, v1, n1) = below[-1], above[0]
    if r1 == r0:
        return r0, v0, str(n0)
    weight = (regions - r0) / (r1 - r0)
    return regions, v0 + weight * (v1 - v0), f"{n0}-{n1}"


def find_boundaries_fraction(superpixels: np.ndarray) -> float:
    """Fraction of the pixels of one label map that lie on a superpixel boundary."""
    from skimage.segmentation import find_boundaries

    return float(find_boundaries(superpixels).mean())


BENCHMARKS = {"mixing": bench_mixing, "slic": bench_slic_scaling, "cache": bench_cache, "fit": bench_fit,
              "memory": bench_memory, "tf_slic": bench_tf_slic}


def run(settings: Settings, only: Sequence[str] | None = None, data_dir: Path | None = None,
        xla: bool = True, log: Callable[[str], None] = print) -> tuple[list[Row], list[tuple[str, str, str]]]:
    """Runs the chosen benchmarks; returns the table rows and the XLA report.

    Example:
        >>> rows, _ = run(Settings.quick(), only=["mixing"], xla=False, log=lambda s: None)
        >>> rows[0].section.startswith("1. mixing")
        True
    """
    names = list(only) if only else list(BENCHMARKS)
    sizes = {"mixing": (settings.mix_batch, settings.mix_size), "slic": (settings.slic_images, settings.slic_size),
             "cache": (settings.cache_images, settings.cache_size), "fit": (settings.fit_images, settings.fit_size),
             "memory": (16, settings.memory_size), "tf_slic": (settings.slic_images, settings.slic_size)}
    loaded: dict[tuple[int, int], dict[str, np.ndarray]] = {}
    rows: list[Row] = []
    for name in names:
        count, size = sizes[name]
        key = (count, size)
        if key not in loaded:
            loaded[key], source = load_arrays(count, size, data_dir)
            log(f"data for {name}: {source}")
        start = time.perf_counter()
        rows += BENCHMARKS[name](loaded[key], settings)
        log(f"{name}: {time.perf_counter() - start:.1f} s")
    report = xla_report() if xla else []
    return rows, report


def load_average() -> str:
    """The 1, 5 and 15 minute load averages, e.g. ``"2.31, 2.05, 1.98"`` (``"?"`` where unknown)."""
    return ", ".join(f"{v:.2f}" for v in os.getloadavg()) if hasattr(os, "getloadavg") else "?"


def _child_run(argv: Sequence[str], path: Path) -> dict:
    """One separate run of this script (a fresh process) writing its rows to ``path``; returns them."""
    import json
    import subprocess

    subprocess.run([sys.executable, str(Path(__file__).resolve()), *argv, "--runs", "1", "--no-xla",
                    "--json", str(path)], check=True, stdout=subprocess.DEVNULL)
    return json.loads(path.read_text())


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: ``python benchmarks/run.py [--quick] [--only mixing fit ...] [--runs 3]``."""
    import json
    import tempfile

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="tiny sizes and few rounds: a smoke run")
    parser.add_argument("--only", nargs="+", choices=list(BENCHMARKS), help="run only these benchmarks")
    parser.add_argument("--no-xla", action="store_true", help="skip the XLA compatibility report")
    parser.add_argument("--runs", type=int, default=3,
                        help="separate runs (fresh processes, one after another); each figure is their median "
                             "and range")
    parser.add_argument("--json", type=Path, help=argparse.SUPPRESS)  # a child run writes its rows here
    args = parser.parse_args(argv if argv is None else list(argv))
    if args.runs < 1:
        parser.error("--runs: must be >= 1")
    settings = Settings.quick() if args.quick else Settings.full()
    data_dir = glas_dir()
    log = lambda message: print(message, file=sys.stderr, flush=True)  # noqa: E731
    start = time.perf_counter()
    if args.runs == 1:
        loads = [load_average()]
        log(f"run 1/1, load average {loads[0]}")
        rows, report = run(settings, args.only, data_dir, xla=not args.no_xla and args.json is None, log=log)
        loads.append(load_average())
        runs = [{"rows": [dataclasses.asdict(r) for r in rows], "load": loads}]
        if args.json is not None:
            args.json.write_text(json.dumps(runs[0]))
            return 0
    else:
        child = (["--quick"] if args.quick else []) + (["--only", *args.only] if args.only else [])
        runs = []
        with tempfile.TemporaryDirectory() as tmp:
            for i in range(args.runs):
                log(f"run {i + 1}/{args.runs} (a separate process), load average {load_average()}")
                runs.append(_child_run(child, Path(tmp) / f"run{i}.json"))
        rows = combine_runs([[Row(**r) for r in one["rows"]] for one in runs])
        report = xla_report() if not args.no_xla else []
    print(f"Machine: {machine_description()}")
    print(f"Data: {'GlaS from ' + str(data_dir) if data_dir else 'synthetic (GlaS not found)'}; "
          f"mode: {'quick' if args.quick else 'full'}; {args.runs} separate run(s); "
          f"total {time.perf_counter() - start:.0f} s")
    for i, one in enumerate(runs, start=1):
        print(f"Run {i}: load average (1, 5, 15 min) {one['load'][0]} at its start, {one['load'][1]} at its end")
    print()
    print(format_table(rows))
    if report:
        print()
        print(format_xla(report))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
