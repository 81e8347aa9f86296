"""Contract tests that every mixing layer must pass (KerasCV-style cross-layer suite)."""

from __future__ import annotations

import warnings

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_hsmix import HardMix, HSMix, SoftMix
from tests.helpers import grid_superpixels, random_batch

LAYERS = {
    "hard": lambda **kw: HardMix(**kw),
    "soft_static": lambda **kw: SoftMix(**kw),
    "soft_random": lambda **kw: SoftMix(saliency="random", **kw),
    "hsmix": lambda **kw: HSMix(**kw),
}


@pytest.fixture(params=sorted(LAYERS))
def make_layer(request):
    return LAYERS[request.param]


def _np(out: dict) -> dict:
    return {k: np.asarray(v) for k, v in out.items()}


def test_output_keys_shapes_dtypes(make_layer):
    batch = random_batch(num_classes=3)
    out = make_layer(num_classes=3, seed=1)(batch)
    assert set(out) == set(batch)
    assert out["images"].shape == batch["images"].shape
    assert out["images"].dtype == tf.float32
    assert out["segmentation_masks"].shape == (4, 24, 24, 3)
    assert out["segmentation_masks"].dtype == tf.float32
    assert out["superpixels"].dtype == tf.int32
    np.testing.assert_allclose(np.sum(out["segmentation_masks"], -1), 1.0, atol=1e-5)


@pytest.mark.parametrize("dtype", ["uint8", "float32"])
@pytest.mark.parametrize("channels", [1, 3, 4])  # gray, RGB, four MRI sequences (SLIC and static saliency too)
@pytest.mark.parametrize("size", [(16, 16), (12, 20)])
def test_dtype_and_shape_matrix(make_layer, dtype, channels, size):
    rng = np.random.default_rng(0)
    h, w = size
    if dtype == "uint8":
        images = rng.integers(0, 256, (3, h, w, channels)).astype(np.uint8)
    else:
        images = rng.random((3, h, w, channels)).astype(np.float32)
    batch = {"images": images, "segmentation_masks": rng.integers(0, 2, (3, h, w)).astype(np.int32)}
    out = make_layer(num_classes=2, n_segments=8, seed=0)(batch)
    assert out["images"].shape == (3, h, w, channels)
    assert out["images"].dtype.name == dtype
    assert out["segmentation_masks"].shape == (3, h, w, 2)
    np.testing.assert_allclose(np.sum(out["segmentation_masks"], -1), 1.0, atol=1e-5)


def test_training_false_returns_input_unchanged(make_layer):
    batch = random_batch()
    out = make_layer(num_classes=3, seed=1)(batch, training=False)
    for key in batch:
        np.testing.assert_array_equal(np.asarray(out[key]), batch[key])


def test_batch_of_one_is_not_mixed(make_layer):
    batch = random_batch(batch=1)
    out = _np(make_layer(num_classes=3, seed=1)(batch))
    np.testing.assert_allclose(out["images"], batch["images"], atol=1e-6)
    np.testing.assert_array_equal(np.argmax(out["segmentation_masks"], -1), batch["segmentation_masks"][..., 0])


def test_inputs_are_not_mutated(make_layer):
    batch = random_batch()
    copies = {k: v.copy() for k, v in batch.items()}
    make_layer(num_classes=3, seed=1)(batch)
    for key in batch:
        np.testing.assert_array_equal(batch[key], copies[key])


def test_seeded_determinism_and_epochs_differ(make_layer):
    batch = random_batch()
    first = _np(make_layer(num_classes=3, seed=7)(batch))
    layer = make_layer(num_classes=3, seed=7)
    again = _np(layer(batch))
    for key in first:
        np.testing.assert_array_equal(first[key], again[key])
    # Later calls of one layer (later epochs) draw new parameters.
    later = [_np(layer(batch))["images"] for _ in range(4)]
    assert any(not np.array_equal(first["images"], x) for x in later)


def test_same_seed_same_result_eager_and_tf_data(make_layer):
    batch = random_batch()
    eager = _np(make_layer(num_classes=3, seed=3)(batch))
    ds = tf.data.Dataset.from_tensors(batch).map(make_layer(num_classes=3, seed=3))
    graph = _np(next(iter(ds)))
    for key in eager:
        np.testing.assert_allclose(eager[key], graph[key], atol=1e-6)


def test_tf_data_epochs_differ(make_layer):
    batch = random_batch()
    ds = tf.data.Dataset.from_tensors(batch).repeat(4).map(make_layer(num_classes=3, seed=3))
    images = [b["images"].numpy() for b in ds]
    assert any(not np.array_equal(images[0], x) for x in images[1:])


def test_integer_ids_cast_to_float_by_tf_data_are_recovered(make_layer):
    batch = random_batch()
    as_float = {k: v.astype(np.float32) for k, v in batch.items()}
    a = _np(make_layer(num_classes=3, seed=5)(batch))
    b = _np(make_layer(num_classes=3, seed=5)(as_float))
    np.testing.assert_allclose(a["segmentation_masks"], b["segmentation_masks"], atol=1e-6)
    assert b["superpixels"].dtype == np.int32


def test_serialization_round_trip_gives_identical_arrays(make_layer):
    layer = make_layer(num_classes=3, seed=11, p=0.3, n_segments=(10, 20))
    config = layer.get_config()
    clone = type(layer).from_config(config)
    assert clone.get_config() == config
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(layer))
    assert type(restored) is type(layer)
    batch = random_batch()
    a, b = _np(make_layer(num_classes=3, seed=11, p=0.3, n_segments=(10, 20))(batch)), _np(clone(batch))
    for key in a:
        np.testing.assert_array_equal(a[key], b[key])


def test_float_probability_masks_mixed_as_given(make_layer):
    rng = np.random.default_rng(0)
    probs = rng.random((4, 16, 16, 1)).astype(np.float32)
    batch = {"images": rng.random((4, 16, 16, 3)).astype(np.float32), "segmentation_masks": probs,
             "superpixels": grid_superpixels(4, 16, 16, 4)}
    out = _np(make_layer(seed=0)(batch))
    assert out["segmentation_masks"].shape == (4, 16, 16, 1)
    assert out["segmentation_masks"].min() >= 0 and out["segmentation_masks"].max() <= 1


def test_computes_superpixels_when_absent(make_layer):
    batch = random_batch()
    del batch["superpixels"]
    out = make_layer(num_classes=3, n_segments=(6, 12), seed=0)(batch)
    assert set(out) == {"images", "segmentation_masks"}


def test_unbatched_sample_passes_unmixed(make_layer):
    batch = random_batch(batch=1)
    sample = {k: v[0] for k, v in batch.items()}
    layer = make_layer(num_classes=3, seed=0)
    with pytest.warns(UserWarning, match=r"unbatched sample .* dataset\.batch\(4\)\.map\(layer\)"):
        out = _np(layer(sample))
    np.testing.assert_allclose(out["images"], sample["images"], atol=1e-6)
    assert out["segmentation_masks"].shape == (24, 24, 3)
    with warnings.catch_warnings():  # once per layer, not once per sample
        warnings.simplefilter("error")
        layer(sample)


class TestErrors:
    def test_class_id_out_of_range(self, make_layer):
        batch = random_batch(num_classes=3)
        with pytest.raises((tf.errors.InvalidArgumentError, ValueError), match="num_classes"):
            make_layer(num_classes=2, seed=0)(batch)

    def test_mismatched_sizes(self, make_layer):
        batch = random_batch()
        batch["segmentation_masks"] = batch["segmentation_masks"][:, :20]
        with pytest.raises(ValueError, match="does not match images"):
            make_layer(num_classes=3)(batch)

    @pytest.mark.parametrize("p", [-0.1, 1.5])
    def test_p_out_of_range(self, make_layer, p):
        with pytest.raises(ValueError, match="p must lie in"):
            make_layer(num_classes=3, p=p)

    def test_missing_keys(self, make_layer):
        with pytest.raises(ValueError, match="segmentation_masks"):
            make_layer(num_classes=3)({"images": np.zeros((2, 8, 8, 3), np.float32)})

    @pytest.mark.parametrize("data", [np.zeros((2, 8, 8, 3), np.float32), [np.zeros((2, 8, 8, 3), np.float32)]])
    def test_images_without_a_dict(self, make_layer, data):
        # A bare image batch (as Keras' own image layers take) names what is missing, not an
        # obscure conversion error; a mix needs the masks.
        with pytest.raises(ValueError, match="expects a dict with 'images' and 'segmentation_masks'"):
            make_layer(num_classes=3)(data)

    def test_wrong_rank(self, make_layer):
        with pytest.raises(ValueError, match="expected"):
            make_layer(num_classes=3)(
                {"images": np.zeros((2, 8, 8, 3, 1), np.float32), "segmentation_masks": np.zeros((2, 8, 8), np.int32)}
            )

    def test_nan_images(self, make_layer):
        batch = random_batch()
        batch["images"][0, 0, 0, 0] = np.nan
        with pytest.raises(tf.errors.InvalidArgumentError, match="NaN or Inf"):
            make_layer(num_classes=3)(batch)

    def test_integer_masks_without_num_classes(self, make_layer):
        with pytest.raises(ValueError, match="num_classes"):
            make_layer()(random_batch())

    def test_probabilities_not_summing_to_one(self, make_layer):
        batch = random_batch()
        batch["segmentation_masks"] = np.full((4, 24, 24, 3), 0.5, np.float32)
        with pytest.raises(tf.errors.InvalidArgumentError, match="sum to 1"):
            make_layer()(batch)


def test_channels_first_is_the_channels_last_mix_transposed(make_layer):
    batch = random_batch(num_classes=3)
    first = {
        "images": np.transpose(batch["images"], (0, 3, 1, 2)),
        "segmentation_masks": np.transpose(batch["segmentation_masks"], (0, 3, 1, 2)),  # [B, 1, H, W]
        "superpixels": batch["superpixels"],  # maps stay [B, H, W]
    }
    last = _np(make_layer(num_classes=3, seed=4)(batch))
    layer = make_layer(num_classes=3, seed=4, data_format="channels_first")
    out = _np(layer(first))
    np.testing.assert_allclose(out["images"], np.transpose(last["images"], (0, 3, 1, 2)), atol=1e-6)
    np.testing.assert_allclose(out["segmentation_masks"], np.transpose(last["segmentation_masks"], (0, 3, 1, 2)),
                               atol=1e-6)
    np.testing.assert_array_equal(out["superpixels"], last["superpixels"])
    assert layer.compute_output_shape({k: v.shape for k, v in first.items()})["segmentation_masks"] == (4, 3, 24, 24)
    # In a tf.data map (graph mode), and after a config round trip.
    again = type(layer).from_config(layer.get_config())
    assert again.data_format == "channels_first"
    mapped = next(iter(tf.data.Dataset.from_tensors(first).map(again)))
    assert mapped["images"].shape == first["images"].shape
    assert mapped["segmentation_masks"].shape == (4, 3, 24, 24)


def test_data_format_defaults_to_the_keras_setting(make_layer):
    keras.config.set_image_data_format("channels_first")
    try:
        assert make_layer(num_classes=2).data_format == "channels_first"
    finally:
        keras.config.set_image_data_format("channels_last")
    assert make_layer(num_classes=2).data_format == "channels_last"
    with pytest.raises(ValueError, match="data_format must be one of"):
        make_layer(num_classes=2, data_format="NCHW")
