"""The reference baselines (CutMix, MixUp, RandAugment, AugMix) keep masks valid labels and shapes right."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from keras_hsmix.layers.baselines import CutMixSeg, KerasImageAugment, MixUpSeg, rectangle_region

B, H, W = 4, 32, 32


def _batch(num_classes: int = 2, seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    images = rng.random((B, H, W, 3)).astype("float32")
    masks = np.zeros((B, H, W, 1), np.int32)
    for i in range(B):  # blobs of different classes per sample, so mixes are visible in the masks
        masks[i, 4 + i:20 + i, 2 + 2 * i:18 + 2 * i, 0] = 1 + i % (num_classes - 1)
    return {"images": images, "segmentation_masks": masks}


def _check_valid(masks: np.ndarray, num_classes: int, hard: bool) -> None:
    assert masks.shape == (B, H, W, num_classes)
    assert masks.dtype == np.float32
    np.testing.assert_allclose(masks.sum(-1), 1.0, atol=1e-5)
    assert masks.min() >= 0.0 and masks.max() <= 1.0
    if hard:
        assert set(np.unique(masks)) <= {0.0, 1.0}


def test_rectangle_region_is_a_clipped_box() -> None:
    lam = tf.constant([0.75, 0.0, 1.0])
    region = rectangle_region(8, 8, lam, tf.constant([0.5, 0.0, 0.5]), tf.constant([0.5, 0.0, 0.5])).numpy()
    assert region.shape == (3, 8, 8)
    assert region[0].sum() == 16 and region[0][2:6, 2:6].all()  # side 8 * sqrt(0.25) = 4, centred
    assert region[1].sum() == 16 and region[1][:4, :4].all()  # full-size box clipped at the corner
    assert region[2].sum() == 0  # λ = 1: nothing pasted


@pytest.mark.parametrize("num_classes", [2, 3])
def test_cutmix_masks_are_hard_one_hot_and_follow_the_images(num_classes: int) -> None:
    data = _batch(num_classes)
    out = CutMixSeg(num_classes=num_classes, rate=1.0, seed=1)(data)
    masks = out["segmentation_masks"].numpy()
    _check_valid(masks, num_classes, hard=True)
    images = out["images"].numpy()
    assert images.shape == (B, H, W, 3)
    changed = np.any(images != data["images"], axis=-1)
    assert changed.any()
    # where an image pixel came from a partner, the mask came from the same partner
    for i in range(B):
        if not changed[i].any():
            continue
        ys, xs = np.nonzero(changed[i])
        box = np.zeros((H, W), bool)
        box[ys.min():ys.max() + 1, xs.min():xs.max() + 1] = True
        src = [j for j in range(B) if np.allclose(images[i][box], data["images"][j][box])]
        assert src, "the pasted region is one rectangle of one partner"
        expected = np.eye(num_classes, dtype=np.float32)[data["segmentation_masks"][src[0], ..., 0]]
        np.testing.assert_array_equal(masks[i][box], expected[box])


def test_cutmix_rate_zero_and_inference_are_identity() -> None:
    data = _batch()
    out = CutMixSeg(num_classes=2, rate=0.0, seed=0)(data)
    np.testing.assert_array_equal(out["images"].numpy(), data["images"])
    out = CutMixSeg(num_classes=2, seed=0)(data, training=False)
    np.testing.assert_array_equal(out["images"].numpy(), data["images"])
    assert out["segmentation_masks"].shape == (B, H, W, 2)


@pytest.mark.parametrize("num_classes", [2, 3])
def test_mixup_gives_soft_labels_with_one_lambda_per_sample(num_classes: int) -> None:
    data = _batch(num_classes)
    out = MixUpSeg(num_classes=num_classes, alpha=1.0, seed=3)(data)
    masks = out["segmentation_masks"].numpy()
    _check_valid(masks, num_classes, hard=False)
    images = out["images"].numpy()
    a = data["images"]
    for i in range(B):
        # the image is (1 - λ) A + λ B for a single λ and one partner B
        fits = []
        for j in range(B):
            diff = a[j] - a[i]
            denom = float((diff * diff).sum())
            lam = 0.0 if denom == 0 else float(((images[i] - a[i]) * diff).sum() / denom)
            fits.append((np.abs(a[i] + lam * diff - images[i]).max(), lam, j))
        err, lam, j = min(fits)
        assert err < 1e-4 and -1e-4 <= lam <= 1 + 1e-4
        onehot = np.eye(num_classes, dtype=np.float32)[data["segmentation_masks"][..., 0]]
        np.testing.assert_allclose(masks[i], (1 - lam) * onehot[i] + lam * onehot[j], atol=1e-4)


@pytest.mark.parametrize("layer", [CutMixSeg, MixUpSeg])
def test_seeded_baselines_repeat_and_seeds_differ(layer: type) -> None:
    # The study pairs runs of one seed across methods: a seeded baseline layer must draw the same mixes
    # (partners, boxes, lambdas) when built again with that seed, and other mixes with another seed.
    data = _batch()

    def two_calls(seed: int) -> list[np.ndarray]:
        mix = layer(num_classes=2, seed=seed)
        return [mix(data)["images"].numpy() for _ in range(2)]

    first, again, other = two_calls(7), two_calls(7), two_calls(8)
    np.testing.assert_array_equal(first[0], again[0])
    np.testing.assert_array_equal(first[1], again[1])
    assert not np.array_equal(first[0], first[1])  # successive calls (steps) differ
    assert not np.array_equal(first[0], other[0])


def test_mixup_accepts_float_masks() -> None:
    data = _batch()
    soft = tf.one_hot(data["segmentation_masks"][..., 0], 2)
    out = MixUpSeg(num_classes=None, seed=0)({"images": data["images"], "segmentation_masks": soft})
    _check_valid(out["segmentation_masks"].numpy(), 2, hard=False)


@pytest.mark.parametrize("kind", ["randaugment", "augmix"])
@pytest.mark.parametrize("num_classes", [2, 3])
def test_keras_augmentations_keep_masks_valid(kind: str, num_classes: int) -> None:
    data = _batch(num_classes)
    layer = KerasImageAugment(kind, num_classes=num_classes, seed=0)
    for _ in range(3):
        out = layer(data)
        masks = out["segmentation_masks"].numpy()
        _check_valid(masks, num_classes, hard=False)
        images = out["images"].numpy()
        assert images.shape == (B, H, W, 3) and images.dtype == np.float32
        assert 0.0 <= images.min() and images.max() <= 1.0


def test_keras_augmentations_in_tf_data() -> None:
    data = _batch(3)
    ds = tf.data.Dataset.from_tensor_slices(data).batch(B)
    for layer in (KerasImageAugment("augmix", 3, seed=0), CutMixSeg(3, seed=0), MixUpSeg(3, seed=0)):
        out = next(iter(ds.map(layer)))
        _check_valid(out["segmentation_masks"].numpy(), 3, hard=isinstance(layer, CutMixSeg))


def test_bad_arguments() -> None:
    with pytest.raises(ValueError):
        CutMixSeg(num_classes=2, alpha=0)
    with pytest.raises(ValueError):
        MixUpSeg(num_classes=2, rate=2)
    with pytest.raises(ValueError):
        KerasImageAugment("autoaugment")
    with pytest.raises(ValueError):
        CutMixSeg(num_classes=2)({"images": np.zeros((2, 4, 4, 3), "float32")})
