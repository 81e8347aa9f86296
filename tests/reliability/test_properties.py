"""Property-based tests of every mixing layer, and of chains of them (hypothesis).

Over random batch sizes, heights, widths (square or not, down to 1 pixel), dtypes
(uint8, uint16, float16, float32, float64), channel counts (1 to 4), numbers of classes
(1 to 4), label modes (class ids or one-hot probabilities), superpixel maps (given, with
gaps in the ids, or SLIC on small 1- or 3-channel images), ``p`` and ``HSMix``
probabilities and modes, the layers promise:

* a one-hot mask comes out as a probability map: in [0, 1], summing to 1 within 1e-5;
* hard mixing never invents a value: each output sample is, pixel by pixel, its own
  input (image and mask together) or the input of one partner of the batch;
* soft mixing (and so any chain) stays inside the per-pixel range of the batch;
* the caller's input arrays are never mutated; shapes and image dtypes are kept.

Examples are few and small (``max_examples`` modest, ``derandomize=True`` so CI runs
the same cases every time); array contents come from a NumPy generator seeded by
hypothesis, which keeps generation cheap.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from keras_hsmix import HardMix, HSMix, SoftMix
from tests.reliability._builders import random_images, random_superpixels

SETTINGS = settings(
    max_examples=15,  # each new shape compiles the fused XLA mix once: the cost is per example
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
DTYPES = ("uint8", "uint16", "float16", "float32", "float64")
SUM_ATOL = 1e-5


@dataclass
class Case:
    """One random batch and the settings common to the layers that mix it."""

    batch: dict[str, np.ndarray]
    num_classes: int | None  # None: one-hot float masks given as probabilities
    classes: int  # K, the channels of the output masks
    p: float
    n_segments: int | tuple[int, int]
    seed: int
    notes: dict[str, Any] = field(default_factory=dict)


@st.composite
def cases(draw: st.DrawFn, min_batch: int = 2, allow_slic: bool = True) -> Case:
    seed = draw(st.integers(0, 2**31 - 1))
    rng = np.random.default_rng(seed)
    batch_size = draw(st.integers(min_batch, 4))
    use_slic = allow_slic and draw(st.booleans()) and draw(st.booleans())  # SLIC in about 1 case of 4
    if use_slic:
        height, width = draw(st.integers(4, 12)), draw(st.integers(4, 12))
        channels = draw(st.sampled_from([1, 3]))
    else:
        height, width = draw(st.integers(1, 12)), draw(st.integers(1, 12))
        channels = draw(st.integers(1, 4))
    dtype = draw(st.sampled_from(DTYPES))
    classes = draw(st.integers(1, 4))
    label_mode = draw(st.sampled_from(["ids", "ids_channel", "ids_float", "one_hot"]))
    ids = rng.integers(0, classes, (batch_size, height, width))
    if draw(st.booleans()):  # every mask empty or every mask full (the edge cases of item 2)
        ids[:] = draw(st.sampled_from([0, classes - 1]))
    if label_mode == "ids":
        masks, num_classes = ids.astype(np.int32), classes
    elif label_mode == "ids_channel":
        masks, num_classes = ids[..., None].astype(np.int64), classes
    elif label_mode == "ids_float":  # as tf.data may cast integer ids
        masks, num_classes = ids[..., None].astype(np.float32), classes
    else:
        masks, num_classes = np.eye(classes, dtype=np.float32)[ids], None
        if classes == 1:  # one channel of probability 1: mixed as given
            masks = np.ones((batch_size, height, width, 1), np.float32)
    batch = {"images": random_images(rng, (batch_size, height, width, channels), dtype), "segmentation_masks": masks}
    if not use_slic:
        batch["superpixels"] = random_superpixels(rng, batch_size, height, width)
    if draw(st.booleans()):
        batch["saliency"] = rng.random((batch_size, height, width)).astype(np.float32)
    n_segments = draw(st.one_of(st.integers(1, 200), st.tuples(st.integers(1, 20), st.integers(20, 200))))
    p = draw(st.one_of(st.sampled_from([0.0, 1.0]), st.floats(0.0, 1.0)))
    return Case(batch, num_classes, classes, p, n_segments, seed % 1000,
                {"dtype": dtype, "label_mode": label_mode, "slic": use_slic})


@st.composite
def hsmix_settings(draw: st.DrawFn) -> dict[str, Any]:
    weights = draw(st.tuples(*(st.sampled_from([0, 1, 2, 5]) for _ in range(3))).filter(lambda w: sum(w) > 0))
    probabilities = tuple(w / sum(weights) for w in weights)
    probabilities = probabilities[:2] + (1.0 - probabilities[0] - probabilities[1],)
    return {
        "probabilities": tuple(min(1.0, max(0.0, v)) for v in probabilities),
        "mode": draw(st.sampled_from(["random", "concat"])),
        "saliency": draw(st.sampled_from(["static", "random"])),
        "alpha": draw(st.sampled_from([0.2, 1.0, 4.0])),
    }


def make_layer(kind: str, case: Case, extra: dict[str, Any] | None = None, num_classes: Any = "case") -> Any:
    common = {
        "p": case.p,
        "num_classes": case.num_classes if num_classes == "case" else num_classes,
        "n_segments": case.n_segments,
        "seed": case.seed,
    }
    extra = dict(extra or {})
    if kind == "hard":
        return HardMix(**common)
    if kind == "soft":
        return SoftMix(saliency=extra.get("saliency", "static"), alpha=extra.get("alpha", 1.0), **common)
    return HSMix(**common, **extra)


def copies(batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    return {k: v.copy() for k, v in batch.items()}


def assert_not_mutated(batch: dict[str, np.ndarray], before: dict[str, np.ndarray]) -> None:
    for key, value in before.items():
        assert batch[key].dtype == value.dtype and batch[key].shape == value.shape, key
        np.testing.assert_array_equal(batch[key], value, err_msg=f"input {key!r} was mutated")


def as_numpy(out: dict) -> dict[str, np.ndarray]:
    return {k: np.asarray(v) for k, v in out.items()}


def one_hot_of(case: Case) -> np.ndarray:
    """The input masks as float one-hot ``[B, H, W, K]`` (what the layers mix)."""
    masks = case.batch["segmentation_masks"]
    if case.num_classes is None:
        return masks.astype(np.float32)
    ids = np.rint(masks.reshape(masks.shape[:3])).astype(np.int64)
    return np.eye(case.classes, dtype=np.float32)[ids]


def assert_probability_map(masks: np.ndarray, classes: int) -> None:
    assert masks.dtype == np.float32 and masks.shape[-1] == classes
    assert np.all(np.isfinite(masks))
    assert masks.min() >= -SUM_ATOL and masks.max() <= 1 + SUM_ATOL
    np.testing.assert_allclose(masks.sum(-1), 1.0, atol=SUM_ATOL)


def assert_hard_provenance(out_images: np.ndarray, out_masks: np.ndarray, images: np.ndarray, masks: np.ndarray) -> None:
    """Each output sample is, pixel by pixel, sample ``b`` or one partner ``j`` (image and mask together)."""
    flat_in = np.concatenate([images.astype(np.float64), masks.astype(np.float64)], -1)
    flat_out = np.concatenate([out_images.astype(np.float64), out_masks.astype(np.float64)], -1)
    for b in range(flat_out.shape[0]):
        own = np.all(flat_out[b] == flat_in[b % flat_in.shape[0]], -1)
        sources = [j for j in range(flat_in.shape[0]) if np.all(own | np.all(flat_out[b] == flat_in[j], -1))]
        assert sources, f"sample {b}: some pixel matches neither the sample nor any single partner"


def assert_within_batch_range(out_images: np.ndarray, images: np.ndarray) -> None:
    """Soft mixes are convex combinations: each value lies in the per-pixel range of the batch."""
    values = images.astype(np.float64)
    low, high = values.min(0), values.max(0)
    tol = 1e-6 * max(1.0, float(np.abs(values).max()))
    assert np.all(out_images.astype(np.float64) >= low - tol) and np.all(out_images.astype(np.float64) <= high + tol)


def check_common(case: Case, out: dict[str, np.ndarray], batch_factor: int = 1) -> None:
    images = case.batch["images"]
    assert set(out) == set(case.batch)
    assert out["images"].dtype == images.dtype
    assert out["images"].shape == (batch_factor * images.shape[0],) + images.shape[1:]
    assert_probability_map(out["segmentation_masks"], case.classes)
    if "superpixels" in out:
        assert out["superpixels"].dtype == np.int32 and out["superpixels"].min() >= 0


# --------------------------------------------------------------------------------------
# single layers
# --------------------------------------------------------------------------------------


@SETTINGS
@given(case=cases())
def test_hard_mix_properties(case: Case) -> None:
    before = copies(case.batch)
    out = as_numpy(make_layer("hard", case)(case.batch))
    assert_not_mutated(case.batch, before)
    check_common(case, out)
    assert_hard_provenance(out["images"], out["segmentation_masks"], case.batch["images"], one_hot_of(case))
    if "saliency" in case.batch:  # pasted with the same region as the image
        assert_hard_provenance(out["saliency"][..., None], out["segmentation_masks"],
                               case.batch["saliency"][..., None], one_hot_of(case))


@SETTINGS
@given(case=cases(), saliency=st.sampled_from(["static", "random"]), alpha=st.sampled_from([0.3, 1.0, 3.0]))
def test_soft_mix_properties(case: Case, saliency: str, alpha: float) -> None:
    before = copies(case.batch)
    out = as_numpy(make_layer("soft", case, {"saliency": saliency, "alpha": alpha})(case.batch))
    assert_not_mutated(case.batch, before)
    check_common(case, out)
    assert_within_batch_range(out["images"], case.batch["images"])
    assert_within_batch_range(out["segmentation_masks"], one_hot_of(case))


@SETTINGS
@given(case=cases(), config=hsmix_settings())
def test_hsmix_properties(case: Case, config: dict[str, Any]) -> None:
    before = copies(case.batch)
    out = as_numpy(make_layer("hsmix", case, config)(case.batch))
    assert_not_mutated(case.batch, before)
    concat = config["mode"] == "concat"
    check_common(case, out, batch_factor=2 if concat else 1)
    assert_within_batch_range(out["images"], case.batch["images"])
    size = case.batch["images"].shape[0]
    if concat or config["probabilities"][0] == 1.0:  # the hard half / the hard branch
        assert_hard_provenance(out["images"][:size], out["segmentation_masks"][:size],
                               case.batch["images"], one_hot_of(case))
    if config["probabilities"][2] == 1.0 and not concat:  # never mixed: the input, one-hot
        np.testing.assert_array_equal(out["images"], case.batch["images"])
        np.testing.assert_array_equal(out["segmentation_masks"], one_hot_of(case))


@SETTINGS
@given(case=cases(min_batch=1, allow_slic=False), kind=st.sampled_from(["hard", "soft", "hsmix"]))
def test_training_false_and_batch_of_one_pass_through(case: Case, kind: str) -> None:
    layer = make_layer(kind, case)
    before = copies(case.batch)
    unchanged = as_numpy(layer(case.batch, training=False))
    for key, value in case.batch.items():
        np.testing.assert_array_equal(unchanged[key], value)
    single = {k: v[:1] for k, v in case.batch.items()}
    out = as_numpy(layer(single))
    assert_not_mutated(case.batch, before)
    np.testing.assert_array_equal(out["images"][:1], single["images"])  # a batch of one is never mixed
    assert_probability_map(out["segmentation_masks"], case.classes)


# --------------------------------------------------------------------------------------
# chains
# --------------------------------------------------------------------------------------


@SETTINGS
@given(case=cases(), saliency=st.sampled_from(["static", "random"]), keep_num_classes=st.booleans())
def test_hard_then_soft_chain(case: Case, saliency: str, keep_num_classes: bool) -> None:
    """The output of HardMix (one-hot masks, mixed superpixels) is a valid input of SoftMix."""
    before = copies(case.batch)
    first = make_layer("hard", case)(case.batch)
    # The second layer takes the one-hot masks either with the same num_classes or as probabilities.
    second_classes = case.num_classes if keep_num_classes else None
    second = make_layer("soft", case, {"saliency": saliency}, num_classes=second_classes)
    out = as_numpy(second(first))
    assert_not_mutated(case.batch, before)
    check_common(case, out)
    assert_within_batch_range(out["images"], case.batch["images"])
    assert_within_batch_range(out["segmentation_masks"], one_hot_of(case))


@SETTINGS
@given(case=cases(), kinds=st.lists(st.sampled_from(["hard", "soft", "hsmix"]), min_size=2, max_size=3),
       config=hsmix_settings())
def test_random_chains(case: Case, kinds: list[str], config: dict[str, Any]) -> None:
    """Any chain of two or three mixes; all-hard chains still never invent a value."""
    config["mode"] = "random"  # concat doubles the batch; keep the batch to compare with the sources
    before = copies(case.batch)
    data: Any = case.batch
    for i, kind in enumerate(kinds):
        layer = make_layer(kind, case, config)
        layer.generator = type(layer.generator)(case.seed + i)  # a different draw at each step
        data = layer(data)
    out = as_numpy(data)
    assert_not_mutated(case.batch, before)
    check_common(case, out)
    assert_within_batch_range(out["images"], case.batch["images"])
    if all(kind == "hard" for kind in kinds):
        # Pixel by pixel, a chain of hard mixes shows one of the batch's inputs (image and mask together).
        flat_in = np.concatenate([case.batch["images"].astype(np.float64), one_hot_of(case)], -1)
        flat_out = np.concatenate([out["images"].astype(np.float64), out["segmentation_masks"]], -1)
        matches = np.any(np.all(flat_out[:, None] == flat_in[None, :], -1), 1)
        assert matches.all(), "a hard-mix chain produced a pixel that no input had"


@pytest.mark.parametrize("kind", ["hard", "soft", "hsmix"])
def test_single_class_chain_regression(kind: str) -> None:
    """num_classes=1: the one-hot output (all 1) of a mix must be accepted by the next mix.

    Before the fix the next layer read the 1-channel one-hot output as class ids and
    raised ``class id >= num_classes (1)``.
    """
    rng = np.random.default_rng(0)
    batch = {"images": rng.random((3, 8, 8, 3)).astype(np.float32),
             "segmentation_masks": np.zeros((3, 8, 8, 1), np.int32),
             "superpixels": random_superpixels(rng, 3, 8, 8)}
    first = HardMix(num_classes=1, seed=0)(batch)
    second = {"hard": HardMix, "soft": SoftMix, "hsmix": HSMix}[kind](num_classes=1, seed=1)(first)
    np.testing.assert_array_equal(np.asarray(second["segmentation_masks"]), np.ones((3, 8, 8, 1), np.float32))
