"""The benchmark's functions on tiny inputs: the table is produced, the references are right.

Speed is never asserted here: timings on a shared machine are not test material.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import tensorflow as tf

from benchmarks import run as bench
from keras_hsmix.ops import mixing
from keras_hsmix.ops.masks import to_soft_masks

TINY = dataclasses.replace(
    bench.Settings.quick(),
    mix_batch=4, mix_size=32, mix_segments=12, mix_rounds=1,
    slic_images=4, slic_size=32, slic_segments=12,
    cache_images=4, cache_size=32, cache_batch=2,
    fit_images=4, fit_size=16, fit_batch=2, fit_steps=1, fit_filters=2, fit_depth=1,
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


def test_timing_helpers():
    times = bench.interleaved({"a": lambda: None, "b": lambda: None}, rounds=3, warmup=0)
    assert {k: len(v) for k, v in times.items()} == {"a": 3, "b": 3}
    assert bench.median_ratio([4.0, 2.0, 9.0], [2.0, 1.0, 1.0]) == 2.0
    assert abs(bench.rss_growth([50, 100, 100, 100, 101, 101, 101, 101]) - 0.01) < 1e-9
    assert bench.rss_mib() > 0


@pytest.mark.parametrize("name, count", [("mixing", 8), ("slic", 2), ("cache", 1), ("memory", 2), ("tf_slic", 8)])
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


def test_format_table():
    rows = [bench.Row("1. mixing", "HardMix", "ref", 1.0, 60.0, "ms", 60.0, ">= 50x", True),
            bench.Row("5. memory", "x", "y", 101.0, 100.0, "MiB", 1.01, "< 5% growth", None)]
    table = bench.format_table(rows)
    assert table.count("\n") == len(rows) + 1
    assert "| 1. mixing | HardMix | ref | 1.00 ms | 60.00 ms | **60.00x** | >= 50x | met |" in table
    assert table.endswith("| info |")


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
    assert bench.main(["--quick", "--only", "slic", "--no-xla"]) == 0
    out = capsys.readouterr().out
    assert "Machine:" in out and "| 2. SLIC" in out
