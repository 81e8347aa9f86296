"""The benchmark's functions on tiny inputs: the table is produced, the references are right.

Speed is never asserted here: timings on a shared machine are not test material.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import tensorflow as tf

from benchmarks import references as ref
from benchmarks import run as bench
from keras_hsmix.ops import mixing
from keras_hsmix.ops.masks import to_soft_masks

TINY = dataclasses.replace(
    bench.Settings.quick(),
    mix_batch=4, mix_size=32, mix_segments=12, mix_rounds=1, mix_loop_rounds=1,
    slic_images=4, slic_size=32, slic_segments=12, tf_slic_xla=False,
    cache_images=4, cache_size=32, cache_batch=2,
    fit_images=4, fit_size=16, fit_batch=2, fit_steps=1, fit_filters=2, fit_depth=1, fit_parts_rounds=1,
    memory_steps=12, memory_size=16, memory_batch=2, memory_every=3, cache_mixers=(None,),
)


def _draws(seed: int = 0, batch: int = 4, size: int = 24):
    rng = np.random.default_rng(seed)
    images = rng.random((batch, size, size, 3), dtype=np.float32)
    ids = rng.integers(0, 3, (batch, size, size, 1)).astype(np.int32)
    sp = (np.arange(size)[:, None] // 6 * 4 + np.arange(size)[None, :] // 6)[None].repeat(batch, 0).astype(np.int32)
    sp[1] = sp[1][::-1]  # images with different maps
    n = int(sp.max()) + 1
    partner = rng.permutation(batch).astype(np.int32)
    picked = rng.random((batch, n)) < 0.5
    saliency = rng.random((batch, size, size), dtype=np.float32)
    return images, ids, sp, partner, picked, saliency, n


def test_numpy_hard_reference_matches_ops():
    images, ids, sp, partner, picked, _, _ = _draws()
    ref_images, ref_masks = bench.numpy_hard_mix(images, ids, sp, partner, picked, 3)
    region = mixing.partner_region(tf.constant(sp), tf.constant(partner), tf.constant(picked))
    out_images, out_masks = mixing.hard_mix(tf.constant(images), to_soft_masks(tf.constant(ids), 3),
                                            tf.constant(partner), region)
    np.testing.assert_array_equal(ref_images, out_images.numpy())
    np.testing.assert_array_equal(ref_masks, out_masks.numpy())


def test_numpy_soft_reference_matches_ops():
    images, ids, sp, partner, picked, saliency, n = _draws(1)
    ref_images, ref_masks = bench.numpy_soft_mix(images, ids, sp, partner, picked, saliency, 3)
    sp_t, partner_t = tf.constant(sp), tf.constant(partner)
    region = mixing.partner_region(sp_t, partner_t, tf.constant(picked))
    mixed = mixing.mixed_superpixels(sp_t, partner_t, region, n)
    lam = mixing.saliency_coefficients(tf.constant(saliency), partner_t, mixed, 2 * n)
    out_images, out_masks = mixing.soft_mix(tf.constant(images), to_soft_masks(tf.constant(ids), 3), partner_t, lam)
    np.testing.assert_allclose(ref_images, out_images.numpy(), atol=1e-5)
    np.testing.assert_allclose(ref_masks, out_masks.numpy(), atol=1e-5)


def _our_mix(kind, images, masks, sp, partner, picked, saliency, n):
    """The library's fused mix for given draws (hard or soft), NumPy outputs."""
    from keras_hsmix.ops import fused

    num_classes = 3 if masks.dtype.kind in "iu" else None
    masks_t = tf.constant(masks[..., 0] if num_classes else masks)
    args = (tf.constant(images), masks_t, tf.constant(sp), tf.constant(partner), tf.constant(picked), n)
    if kind == "hard":
        out = fused.hard_mix_batch(*args, maps=tf.constant(saliency), num_classes=num_classes)
    else:
        out = fused.soft_mix_batch(*args, saliency=tf.constant(saliency), maps=tf.constant(saliency),
                                   num_classes=num_classes)
    return [x.numpy() for x in out]


@pytest.mark.parametrize("form", ["ids", "onehot"])
@pytest.mark.parametrize("dtype", ["float32", "uint8"])
def test_numpy_vectorised_hard_reference_equals_ours(form, dtype):
    images, ids, sp, partner, picked, saliency, n = _draws(2)
    if dtype == "uint8":
        images = (images * 255).round().astype(np.uint8)
    masks = ids if form == "ids" else np.eye(3, dtype=np.float32)[ids[..., 0]]
    out_images, out_masks, out_sp, _ = _our_mix("hard", images, masks, sp, partner, picked, saliency, n)
    ref_images, ref_masks, ref_sp = ref.numpy_hard_mix_vectorised(images, masks, sp, partner, picked, 3)
    assert ref_images.dtype == images.dtype == out_images.dtype  # uint8 stays uint8, pasted exactly
    np.testing.assert_array_equal(ref_images, out_images)
    np.testing.assert_array_equal(ref_masks, out_masks)
    np.testing.assert_array_equal(ref_sp, out_sp)
    loop_images, loop_masks = ref.numpy_hard_mix(images, ids, sp, partner, picked, 3)  # the loop agrees too
    np.testing.assert_array_equal(loop_images, ref_images)
    np.testing.assert_array_equal(loop_masks, ref_masks)


@pytest.mark.parametrize("form", ["ids", "onehot"])
@pytest.mark.parametrize("dtype", ["float32", "uint8"])
def test_numpy_vectorised_soft_reference_equals_ours(form, dtype):
    images, ids, sp, partner, picked, saliency, n = _draws(3)
    if dtype == "uint8":
        images = (images * 255).round().astype(np.uint8)
    masks = ids if form == "ids" else np.eye(3, dtype=np.float32)[ids[..., 0]]
    ours = _our_mix("soft", images, masks, sp, partner, picked, saliency, n)
    theirs = ref.numpy_soft_mix_vectorised(images, masks, sp, partner, picked, saliency, 3)
    assert theirs[0].dtype == images.dtype == ours[0].dtype  # uint8 in, uint8 out (the blend rounded)
    # uint8: a blend that lands on .5 may round either way after float error: at most one level apart.
    np.testing.assert_allclose(theirs[0].astype(float), ours[0].astype(float), atol=1 if dtype == "uint8" else 1e-5)
    np.testing.assert_allclose(theirs[1], ours[1], atol=1e-5)
    np.testing.assert_array_equal(theirs[2], ours[2])
    np.testing.assert_allclose(theirs[3], ours[3], atol=1e-5)
    if dtype == "float32":
        loop_images, loop_masks = ref.numpy_soft_mix(images, ids, sp, partner, picked, saliency, 3)
        np.testing.assert_allclose(loop_images, theirs[0], atol=1e-5)
        np.testing.assert_allclose(loop_masks, theirs[1], atol=1e-5)


def test_uint8_soft_blend_is_rounded():
    images, ids, sp, partner, picked, saliency, n = _draws(4)
    u8 = (images * 255).round().astype(np.uint8)
    out = _our_mix("soft", u8, ids, sp, partner, picked, saliency, n)[0]
    exact = _our_mix("soft", u8.astype(np.float32), ids, sp, partner, picked, saliency, n)[0]
    assert out.dtype == np.uint8
    np.testing.assert_array_equal(out, np.clip(np.rint(exact), 0, 255).astype(np.uint8))


def test_timing_helpers():
    times = bench.interleaved({"a": lambda: None, "b": lambda: None}, rounds=3, warmup=0)
    assert {k: len(v) for k, v in times.items()} == {"a": 3, "b": 3}
    assert bench.median_ratio([4.0, 2.0, 9.0], [2.0, 1.0, 1.0]) == 2.0
    assert abs(bench.rss_growth([50, 100, 100, 100, 101, 101, 101, 101]) - 0.01) < 1e-9
    assert bench.rss_mib() > 0


@pytest.mark.parametrize("name, count", [("mixing", 22), ("slic", 2), ("cache", 1), ("memory", 2), ("tf_slic", 8)])
def test_benchmark_rows(name, count):
    # "fit" is left to `run.py --quick`: its model.fit calls take ~10 s even tiny.
    rows, xla = bench.run(TINY, only=[name], data_dir=None, xla=False, log=lambda message: None)
    assert len(rows) == count and xla == []
    for row in rows:
        assert row.section.startswith(str(list(bench.BENCHMARKS).index(name) + 1) + ".")
        assert np.isfinite(row.ratio) and row.ratio > 0 and row.status in ("met", "NOT met", "info")
        assert row.a_value > 0 and row.b_value > 0
    if name == "tf_slic":  # connectivity is enforced: one region per label, as the row's target says
        assert rows[-1].a_value == 1.0 and rows[-1].status == "met"
        assert rows[0].a == "tf_slic (eager, 1 call)"  # TINY's tf_slic_xla=False; full runs say "XLA"


def test_format_table():
    rows = [bench.Row("1. mixing", "HardMix", "ref", 1.0, 60.0, "ms", 60.0, ">= 50x", True),
            bench.Row("5. memory", "x", "y", 101.0, 100.0, "MiB", 1.01, "< 5% growth", None)]
    table = bench.format_table(rows)
    assert table.count("\n") == len(rows) + 1
    assert "| 1. mixing | HardMix | ref | 1.00 ms | 60.00 ms | **60.00x** | 60.00-60.00x (1 run) | >= 50x | met |" in table
    assert table.endswith("| info |")


def test_combine_runs_gives_median_and_range():
    def one(ratio: float, met: bool) -> list:
        return [bench.Row("1. mixing", "A", "B", 1.0, ratio, "ms", ratio, ">= 2x", met),
                bench.Row("1. mixing", "A", "C", 1.0, 1.0, "ms", 1.0, "(info)", None)]

    rows = bench.combine_runs([one(3.0, True), one(1.0, False), one(2.5, True)])
    assert [(r.ratio, r.low, r.high, r.runs) for r in rows] == [(2.5, 1.0, 3.0, 3), (1.0, 1.0, 1.0, 3)]
    assert [r.status for r in rows] == ["met in 2/3 runs", "info"]
    assert "| **2.50x** | 1.00-3.00x (3 runs) |" in bench.format_table(rows)


def test_interleaved_shuffles_the_order_and_excludes_warmup():
    calls = []
    times = bench.interleaved({k: (lambda k=k: calls.append(k)) for k in "abcd"}, rounds=6, warmup=1)
    assert calls[:4] == list("abcd")  # warm-up, in order, not timed
    orders = {tuple(calls[4 + 4 * i: 8 + 4 * i]) for i in range(6)}
    assert len(orders) > 1 and all(sorted(o) == list("abcd") for o in orders)
    assert all(len(v) == 6 for v in times.values())


HARD_XLA = "hard_mix_batch (the layers' default), draws given"


def test_xla_report_and_main(capsys, monkeypatch):
    report = bench.xla_report(size=16, batch=2, only=["slic_superpixels", HARD_XLA])
    assert dict((w, r) for w, r, _ in report) == {
        "slic_superpixels": "fails",  # tf.numpy_function
        HARD_XLA: "compiles",
    }
    notes = {w: n for w, _, n in report}
    assert "numpy_function" in notes["slic_superpixels"]
    assert "| jit_compile=True |" in bench.format_xla(report)
    monkeypatch.setattr(bench.Settings, "quick", classmethod(lambda cls: TINY))
    assert bench.main(["--quick", "--only", "slic", "--no-xla", "--runs", "1"]) == 0
    out = capsys.readouterr().out
    assert "Machine:" in out and "| 2. SLIC" in out and "Run 1: load average" in out
