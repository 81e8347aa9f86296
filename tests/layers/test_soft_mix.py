"""SoftMix: λ per superpixel, soft labels, saliency sources."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from keras_hsmix import SoftMix
from keras_hsmix.ops import mixing
from tests.helpers import constant_pair_batch, grid_superpixels


def _run(layer: SoftMix, batch: dict, partner):
    canon = layer.prepare_inputs(batch)
    tr = layer.get_random_transformation(canon)
    tr["partner"] = tf.constant(partner, tf.int32)
    lam, mixed_sp = layer.coefficients(canon, tr)
    return layer.transform(canon, tr), lam.numpy(), mixed_sp.numpy()


@pytest.mark.parametrize("saliency", ["static", "random", "given"])
def test_lambda_constant_per_superpixel_in_unit_range(saliency):
    batch = constant_pair_batch(16, 16, block=4)
    batch["images"] = batch["images"] / 4  # A = 0.25, B = 0.5: in [0, 1], as static saliency requires
    rng = np.random.default_rng(0)
    if saliency == "given":
        batch["saliency"] = rng.random((2, 16, 16)).astype(np.float32)
    layer = SoftMix(num_classes=2, seed=0, saliency="random" if saliency == "random" else "static")
    out, lam, mixed_sp = _run(layer, batch, [1, 0])
    assert lam.min() >= 0 and lam.max() <= 1
    for b in range(2):
        for sid in np.unique(mixed_sp[b]):
            values = lam[b][mixed_sp[b] == sid]
            assert np.ptp(values) < 1e-6
    # image = (1-λ)·A + λ·B: with A = 0.25 and B = 0.5, the output is 0.25 + λ / 4.
    np.testing.assert_allclose(out["images"].numpy()[0, ..., 0], 0.25 + lam[0] / 4, atol=1e-6)
    # Soft labels use the same λ and sum to 1.
    masks = out["segmentation_masks"].numpy()
    np.testing.assert_allclose(masks[0, ..., 1], lam[0], atol=1e-6)
    np.testing.assert_allclose(masks.sum(-1), 1.0, atol=1e-6)


def test_given_saliency_matches_the_formula():
    batch = constant_pair_batch(8, 8, block=4)
    rng = np.random.default_rng(1)
    sal = rng.random((2, 8, 8)).astype(np.float32)
    batch["saliency"] = sal
    layer = SoftMix(num_classes=2, seed=0, p=0.0)  # mixed map = A's superpixels
    _, lam, mixed_sp = _run(layer, batch, [1, 0])
    ratio = sal[1] / (sal[0] + sal[1] + 1e-6)
    means = np.array([ratio[mixed_sp[0] == s].mean() for s in range(4)])
    expected = (means - means.min()) / (means.max() - means.min())
    np.testing.assert_allclose(lam[0], expected[mixed_sp[0]], atol=1e-5)


def test_salient_partner_gets_higher_lambda():
    batch = constant_pair_batch(8, 8, block=4)
    sal = np.zeros((2, 8, 8), np.float32) + 0.1
    sal[1, :4, :4] = 1.0  # B salient in the top-left superpixel
    batch["saliency"] = sal
    _, lam, _ = _run(SoftMix(num_classes=2, seed=0, p=0.0), batch, [1, 0])
    assert lam[0, 0, 0] == pytest.approx(1.0)
    assert lam[0, 7, 7] == pytest.approx(0.0)


def test_random_lambda_follows_beta():
    layer = SoftMix(num_classes=2, seed=0, saliency="random", alpha=0.5)
    batch = {"images": np.zeros((4, 32, 32, 1), np.float32), "segmentation_masks": np.zeros((4, 32, 32), np.int32),
             "superpixels": grid_superpixels(4, 32, 32, 2)}
    canon = layer.prepare_inputs(batch)
    draws = np.concatenate([layer.get_random_transformation(canon)["draws"].numpy().ravel() for _ in range(5)])
    # Beta(0.5, 0.5): mean 0.5, variance 1/8.
    assert abs(draws.mean() - 0.5) < 0.03
    assert abs(draws.var() - 0.125) < 0.02


def test_saliency_modes_validated():
    with pytest.raises(ValueError, match="saliency must be one of"):
        SoftMix(saliency="gradcam")
    with pytest.raises(ValueError, match="alpha"):
        SoftMix(alpha=0)


def test_single_superpixel_keeps_ratio():
    lam = mixing.saliency_coefficients(
        tf.ones((2, 4, 4)), tf.constant([1, 0]), tf.zeros((2, 4, 4), tf.int32), 1
    ).numpy()
    np.testing.assert_allclose(lam, 0.5, atol=1e-5)


def test_all_zero_saliency_gives_no_nan():
    lam = mixing.saliency_coefficients(
        tf.zeros((2, 8, 8)), tf.constant([1, 0]), tf.constant(grid_superpixels(2, 8, 8, 4)), 4
    ).numpy()
    assert np.all(np.isfinite(lam))
