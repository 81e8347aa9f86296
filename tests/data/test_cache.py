"""Multi-level superpixel cache: levels, draws, caching, parallelism, pipeline integration."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from keras_hsmix.data import make_pipeline, make_synthetic_dataset, random_flip_rotate
from keras_hsmix.data.cache import (
    LEVELS_KEY,
    add_superpixel_levels,
    draw_superpixel_level,
    parallel_calls,
    precompute,
    segment_levels,
    slic_levels,
)
from keras_hsmix.ops.superpixels import slic_numpy


def test_segment_levels():
    assert segment_levels((200, 400), 3) == (200, 300, 400)
    assert segment_levels(300, 5) == (300,)
    assert segment_levels((200, 400), 1) == (300,)
    assert segment_levels((10, 11), 5) == (10, 11)  # rounded duplicates merged
    with pytest.raises(ValueError, match="num_levels"):
        segment_levels((200, 400), 0)
    with pytest.raises(ValueError, match="n_segments"):
        segment_levels((400, 200))


def test_parallel_calls_positive():
    assert parallel_calls() >= 1


def test_levels_match_slic_and_are_cached():
    base = make_synthetic_dataset(3, (40, 40))
    ds = add_superpixel_levels(base, levels=(10, 30), num_parallel_calls=2)
    assert ds.element_spec[LEVELS_KEY].shape == (2, 40, 40)
    assert ds.element_spec[LEVELS_KEY].dtype == tf.uint16
    first = [e[LEVELS_KEY].numpy() for e in precompute(ds, progress=False)]
    second = [e[LEVELS_KEY].numpy() for e in ds]
    for element, a, b in zip(base, first, second):
        np.testing.assert_array_equal(a, b)
        image = element["images"].numpy()
        np.testing.assert_array_equal(a[0], slic_numpy(image, 10))
        np.testing.assert_array_equal(a[1], slic_levels(image, (30,))[0])
    # A coarser level has fewer superpixels.
    assert first[0][0].max() < first[0][1].max()


def test_large_levels_stored_as_int32():
    ds = add_superpixel_levels(make_synthetic_dataset(1, (16, 16)), levels=20_000, cache=False)
    assert ds.element_spec[LEVELS_KEY].dtype == tf.int32


def test_slic_runs_once_per_image(monkeypatch):
    import keras_hsmix.data.cache as cache_module

    calls = []
    original = cache_module.slic_levels

    def counting(*args, **kwargs):
        calls.append(1)
        return original(*args, **kwargs)

    monkeypatch.setattr(cache_module, "slic_levels", counting)
    ds = precompute(add_superpixel_levels(make_synthetic_dataset(4, (32, 32)), (10, 20)), progress=False)
    downstream = ds.shuffle(4).map(draw_superpixel_level).batch(2)
    for _ in range(3):
        for _ in downstream:
            pass
    assert len(calls) == 4


def test_disk_cache(tmp_path):
    prefix = tmp_path / "sp"
    ds = precompute(add_superpixel_levels(make_synthetic_dataset(2, (32, 32)), 10, cache=str(prefix)), progress=False)
    assert list(tmp_path.glob("sp*"))
    again = add_superpixel_levels(make_synthetic_dataset(2, (32, 32)), 10, cache=str(prefix))
    for a, b in zip(ds, again):
        np.testing.assert_array_equal(a[LEVELS_KEY].numpy(), b[LEVELS_KEY].numpy())


def test_draw_level_picks_each_level():
    stack = tf.stack([tf.fill((4, 4), i) for i in range(3)])
    seen = set()
    for i in range(40):
        out = draw_superpixel_level({LEVELS_KEY: tf.cast(stack, tf.uint16), "images": tf.zeros((4, 4, 3))},
                                    seed=tf.constant([i, 1]))
        assert LEVELS_KEY not in out and out["superpixels"].dtype == tf.int32
        seen.add(int(out["superpixels"][0, 0]))
    assert seen == {0, 1, 2}
    again = draw_superpixel_level({LEVELS_KEY: stack}, seed=tf.constant([3, 1]))
    same = draw_superpixel_level({LEVELS_KEY: stack}, seed=tf.constant([3, 1]))
    np.testing.assert_array_equal(again["superpixels"], same["superpixels"])


def test_flip_rotate_after_draw_moves_superpixels_with_image():
    image = np.arange(12 * 12, dtype=np.float32).reshape(12, 12, 1)
    levels = np.stack([image[..., 0], image[..., 0] + 1000]).astype(np.uint16)
    for i in range(8):
        out = random_flip_rotate(draw_superpixel_level({"images": image, LEVELS_KEY: levels}, seed=tf.constant([i, 0])),
                                 seed=tf.constant([i, 7]))
        np.testing.assert_array_equal(out["superpixels"].numpy() % 1000, out["images"].numpy()[..., 0])


def test_pipeline_draws_levels_per_step():
    ds = make_pipeline(make_synthetic_dataset(4, (48, 48)), batch_size=4, n_segments=(10, 60), num_levels=3,
                       mixer=None, seed=0, output="dict", progress=False, augment=False, shuffle=None)
    counts = set()
    for _ in range(6):
        batch = next(iter(ds))
        assert "superpixel_levels" not in batch and batch["superpixels"].dtype == tf.int32
        counts.add(int(tf.reduce_max(batch["superpixels"][0])))
    assert len(counts) > 1  # several granularities seen for the same image


def test_pipeline_without_cache_and_parallel_calls():
    ds = make_pipeline(make_synthetic_dataset(4, (32, 32)), batch_size=2, n_segments=20, cache=False,
                       num_parallel_calls=1, seed=0)
    x, y = next(iter(ds))
    assert x.shape == (2, 32, 32, 3) and y.shape == (2, 32, 32, 2)


def test_precompute_progress_is_a_bar_on_a_terminal_and_one_line_in_a_log(monkeypatch, capsys):
    import io
    import sys

    def cached() -> tf.data.Dataset:
        return add_superpixel_levels(make_synthetic_dataset(3, (24, 24)), 10)

    # stderr not a terminal (a log, a pipe, CI): one line at the end, no carriage-return redraws
    precompute(cached(), progress=True, desc="SLIC 1 level(s)")
    err = capsys.readouterr().err
    assert "\r" not in err and err.endswith(" s\n") and err.count("\n") == 1, repr(err)
    assert err.startswith("SLIC 1 level(s): 3 images in "), repr(err)
    precompute(cached(), progress=False)
    assert capsys.readouterr().err == ""

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    terminal = Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    precompute(cached(), progress=True, desc="SLIC 1 level(s)")
    assert "\r" in terminal.getvalue() and "/3 [" in terminal.getvalue() and "images in" not in terminal.getvalue()
