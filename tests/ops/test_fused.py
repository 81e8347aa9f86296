"""The fused (XLA) mixing calls: same result as the plain ops, padding-invariant, few compilations."""

import numpy as np
import pytest
import tensorflow as tf

from keras_hsmix.ops import fused, mixing
from keras_hsmix.ops.masks import to_soft_masks


def _batch(seed=0, batch=4, size=12, n=7, classes=3):
    rng = np.random.default_rng(seed)
    images = tf.constant(rng.random((batch, size, size, 3), dtype=np.float32))
    masks = to_soft_masks(tf.constant(rng.integers(0, classes, (batch, size, size))), classes)
    sp = tf.constant(rng.integers(0, n, (batch, size, size)), tf.int32)
    partner = tf.constant(rng.permutation(batch), tf.int32)
    picked = tf.constant(rng.random((batch, n)) < 0.5)
    saliency = tf.constant(rng.random((batch, size, size), dtype=np.float32))
    return images, masks, sp, partner, picked, saliency


@pytest.mark.parametrize("jit", [True, False])
def test_hard_mix_batch_matches_the_ops(jit):
    images, masks, sp, partner, picked, saliency = _batch()
    out = fused.hard_mix_batch(images, masks, sp, partner, picked, 7, maps=saliency, jit_compile=jit)
    region = mixing.partner_region(sp, partner, picked)
    want_images, want_masks = mixing.hard_mix(images, masks, partner, region)
    np.testing.assert_array_equal(out.images.numpy(), want_images.numpy())
    np.testing.assert_array_equal(out.masks.numpy(), want_masks.numpy())
    np.testing.assert_array_equal(out.superpixels.numpy(), mixing.mixed_superpixels(sp, partner, region, 7).numpy())
    np.testing.assert_array_equal(out.maps.numpy(), mixing.paste(saliency, partner, region).numpy())


@pytest.mark.parametrize("jit", [True, False])
def test_soft_mix_batch_matches_the_ops(jit):
    images, masks, sp, partner, picked, saliency = _batch(1)
    out = fused.soft_mix_batch(images, masks, sp, partner, picked, 7, saliency=saliency, maps=saliency,
                               jit_compile=jit)
    region = mixing.partner_region(sp, partner, picked)
    mixed = mixing.mixed_superpixels(sp, partner, region, 7)
    lam = mixing.saliency_coefficients(saliency, partner, mixed, 14)
    want_images, want_masks = mixing.soft_mix(images, masks, partner, lam)
    np.testing.assert_allclose(out.images.numpy(), want_images.numpy(), atol=1e-6)
    np.testing.assert_allclose(out.masks.numpy(), want_masks.numpy(), atol=1e-6)
    np.testing.assert_allclose(out.maps.numpy(), mixing.blend_maps(saliency, partner, lam).numpy(), atol=1e-6)
    np.testing.assert_array_equal(out.superpixels.numpy(), mixed.numpy())
    assert out.masks.numpy().sum(-1).min() > 1 - 1e-5


def test_soft_mix_batch_random_draws_and_argument_check():
    images, masks, sp, partner, picked, _ = _batch(2)
    draws = tf.constant(np.random.default_rng(0).random((4, 14)), tf.float32)
    out = fused.soft_mix_batch(images, masks, sp, partner, picked, 7, draws=draws)
    region = mixing.partner_region(sp, partner, picked)
    lam = mixing.random_coefficients(draws, mixing.mixed_superpixels(sp, partner, region, 7))
    np.testing.assert_allclose(out.images.numpy(), mixing.soft_mix(images, masks, partner, lam)[0].numpy(), atol=1e-6)
    with pytest.raises(ValueError, match="exactly one of"):
        fused.soft_mix_batch(images, masks, sp, partner, picked, 7)


def test_padding_never_changes_the_result():
    images, masks, sp, partner, picked, saliency = _batch(3)
    wide = tf.pad(picked, [[0, 0], [0, 50]])  # unused id slots
    for fn in (fused.hard_mix_batch, lambda *a: fused.soft_mix_batch(*a, saliency=saliency)):
        a, b = fn(images, masks, sp, partner, picked, 7), fn(images, masks, sp, partner, wide, 7)
        np.testing.assert_allclose(a.images.numpy(), b.images.numpy(), atol=1e-6)
    assert fused.pad_segments(tf.zeros((2, 65, 3))).shape == (2, 128, 3)


def test_graph_mode_traces_once_for_varying_segment_counts():
    """Batches with different superpixel counts reuse one trace (padded tables, relaxed shapes)."""
    calls = []

    @tf.function
    def step(images, masks, sp, partner, picked):
        calls.append(1)
        return fused.hard_mix_batch(images, masks, sp, partner, picked, tf.shape(picked)[1]).images

    before = fused._hard_xla.experimental_get_tracing_count()
    for n in (5, 9, 30):
        images, masks, sp, partner, picked, _ = _batch(4, n=n)
        step(images, masks, sp, partner, picked)
    # one outer trace per picked width (static in eager inputs), the padded kernel at most twice
    assert fused._hard_xla.experimental_get_tracing_count() - before <= 2


@pytest.mark.parametrize("jit", [True, False])
def test_class_id_masks_mix_like_one_hot_masks(jit):
    """Canonical class ids (one-hot encoded inside the kernel) give the one-hot path's masks."""
    rng = np.random.default_rng(3)
    ids = tf.constant(rng.integers(0, 3, (4, 12, 12)), tf.int32)
    images, _, sp, partner, picked, saliency = _batch(3)
    one_hot = to_soft_masks(ids, 3)
    hard_ids = fused.hard_mix_batch(images, ids, sp, partner, picked, 7, num_classes=3, jit_compile=jit)
    hard_hot = fused.hard_mix_batch(images, one_hot, sp, partner, picked, 7, jit_compile=jit)
    np.testing.assert_array_equal(hard_ids.masks.numpy(), hard_hot.masks.numpy())
    np.testing.assert_array_equal(hard_ids.images.numpy(), hard_hot.images.numpy())
    # Independent check: inside the region the partner's class ids, elsewhere the sample's own.
    region = mixing.partner_region(sp, partner, picked).numpy()
    want = np.where(region, ids.numpy()[partner.numpy()], ids.numpy())
    np.testing.assert_array_equal(hard_ids.masks.numpy().argmax(-1), want)
    assert hard_ids.masks.dtype == tf.float32 and hard_ids.masks.shape == (4, 12, 12, 3)

    soft_ids = fused.soft_mix_batch(images, ids, sp, partner, picked, 7, saliency=saliency, num_classes=3,
                                    jit_compile=jit)
    soft_hot = fused.soft_mix_batch(images, one_hot, sp, partner, picked, 7, saliency=saliency, jit_compile=jit)
    np.testing.assert_allclose(soft_ids.masks.numpy(), soft_hot.masks.numpy(), atol=1e-6)
    np.testing.assert_allclose(soft_ids.masks.numpy().sum(-1), 1.0, atol=1e-5)


def test_class_id_masks_need_num_classes():
    images, _, sp, partner, picked, _ = _batch(4)
    ids = tf.zeros((4, 12, 12), tf.int32)
    with pytest.raises(ValueError, match="need num_classes"):
        fused.hard_mix_batch(images, ids, sp, partner, picked, 7, jit_compile=False)


def test_auto_compiles_in_graph_mode_only(monkeypatch):
    """``jit_compile="auto"`` (the layers' default): XLA in ``tf.data`` / ``tf.function``, plain ops eagerly."""
    from keras_hsmix import HardMix

    compiled = []
    real = fused._hard_xla
    monkeypatch.setattr(fused, "_hard_xla", lambda *args: compiled.append(1) or real(*args))
    rng = np.random.default_rng(0)
    batch = {"images": rng.random((4, 8, 8, 3)).astype(np.float32),
             "segmentation_masks": rng.integers(0, 2, (4, 8, 8)).astype(np.int32),
             "superpixels": np.repeat(np.arange(4, dtype=np.int32).repeat(16).reshape(1, 8, 8), 4, 0)}
    eager = HardMix(num_classes=2, p=1.0, seed=0)(batch)
    assert compiled == []
    (graph,) = tf.data.Dataset.from_tensors(batch).map(HardMix(num_classes=2, p=1.0, seed=0))
    assert compiled == [1]
    for key in eager:
        np.testing.assert_array_equal(eager[key].numpy(), graph[key].numpy(), err_msg=key)
    HardMix(num_classes=2, p=1.0, seed=0, jit_compile=True)(batch)
    assert compiled == [1, 1]
    with pytest.raises(ValueError, match="jit_compile must be True, False or 'auto', got 'xla'"):
        HardMix(num_classes=2, jit_compile="xla")
