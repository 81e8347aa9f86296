"""HardMix: provenance (KerasCV style), whole superpixels, picked fraction."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from keras_hsmix import HardMix
from tests.helpers import constant_pair_batch, grid_superpixels


def _mix_with_partner(layer: HardMix, batch: dict, partner) -> tuple[dict, dict]:
    canon = layer.prepare_inputs(batch)
    transformation = layer.get_random_transformation(canon)
    transformation["partner"] = tf.constant(partner, tf.int32)
    return layer.transform(canon, transformation), transformation


@pytest.mark.parametrize("seed", range(5))
def test_provenance_constant_images(seed):
    batch = constant_pair_batch(16, 16, block=4)
    out, tr = _mix_with_partner(HardMix(num_classes=2, seed=seed), batch, [1, 0])
    images = out["images"].numpy()
    masks = out["segmentation_masks"].numpy()
    # Every pixel comes from A or from B, for all channels together.
    assert set(np.unique(images)) <= {1.0, 2.0}
    assert np.all(images == images[..., :1])
    # Mask values come from the same source as the image, at the same places.
    from_b = images[0, ..., 0] == 2.0
    np.testing.assert_array_equal(masks[0, ..., 1] == 1.0, from_b)
    np.testing.assert_array_equal(masks[1, ..., 0] == 1.0, images[1, ..., 0] == 1.0)
    # The pasted region is the union of the picked superpixels of the partner.
    sp_b = batch["superpixels"][1]
    picked = tr["picked"].numpy()[0]
    np.testing.assert_array_equal(from_b, picked[sp_b])
    for sid in np.unique(sp_b):
        region = from_b[sp_b == sid]
        assert region.all() or not region.any()


def test_never_invents_values_uint8():
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (4, 16, 16, 3)).astype(np.uint8)
    batch = {"images": images, "segmentation_masks": rng.integers(0, 3, (4, 16, 16)),
             "superpixels": grid_superpixels(4, 16, 16, 4)}
    out, tr = _mix_with_partner(HardMix(num_classes=3, seed=0), batch, [1, 2, 3, 0])
    mixed = out["images"].numpy()
    partner_images = images[[1, 2, 3, 0]]
    from_a = np.all(mixed == images, axis=-1)
    from_b = np.all(mixed == partner_images, axis=-1)
    assert np.all(from_a | from_b)
    masks = out["segmentation_masks"].numpy()
    assert set(np.unique(masks)) <= {0.0, 1.0}


@pytest.mark.parametrize("p", [0.0, 0.2, 0.5, 0.9, 1.0])
def test_picked_fraction_close_to_p(p):
    layer = HardMix(p=p, num_classes=2, seed=0)
    batch = {"images": np.zeros((8, 32, 32, 1), np.float32), "segmentation_masks": np.zeros((8, 32, 32), np.int32),
             "superpixels": grid_superpixels(8, 32, 32, 2)}  # 256 superpixels per image
    canon = layer.prepare_inputs(batch)
    fractions = [np.mean(layer.get_random_transformation(canon)["picked"].numpy()) for _ in range(20)]
    assert abs(np.mean(fractions) - p) < 0.02


def test_p_one_copies_partner_and_p_zero_keeps_a():
    batch = constant_pair_batch()
    all_b, _ = _mix_with_partner(HardMix(p=1.0, num_classes=2, seed=0), batch, [1, 0])
    np.testing.assert_array_equal(all_b["images"].numpy()[0], batch["images"][1])
    none, _ = _mix_with_partner(HardMix(p=0.0, num_classes=2, seed=0), batch, [1, 0])
    np.testing.assert_array_equal(none["images"].numpy(), batch["images"])


def test_mixed_superpixels_follow_the_sources():
    batch = constant_pair_batch(16, 16, block=4)
    out, tr = _mix_with_partner(HardMix(num_classes=2, seed=3), batch, [1, 0])
    sp = out["superpixels"].numpy()[0]
    from_b = out["images"].numpy()[0, ..., 0] == 2.0
    n = int(tr["num_segments"])
    assert np.all(sp[from_b] >= n) and np.all(sp[~from_b] < n)


def test_saliency_key_is_pasted_like_the_image():
    batch = constant_pair_batch()
    batch["saliency"] = np.stack([np.zeros((16, 16)), np.ones((16, 16))]).astype(np.float32)
    out, _ = _mix_with_partner(HardMix(num_classes=2, seed=1), batch, [1, 0])
    np.testing.assert_array_equal(out["saliency"].numpy()[0] == 1.0, out["images"].numpy()[0, ..., 0] == 2.0)
