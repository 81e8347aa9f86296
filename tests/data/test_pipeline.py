"""add_superpixels, make_pipeline and random_flip_rotate."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_hsmix.data import add_superpixels, augment_elements, make_pipeline, make_synthetic_dataset, random_flip_rotate
from keras_hsmix import SoftMix


def test_add_superpixels_integer_and_cached():
    ds = add_superpixels(make_synthetic_dataset(4, (48, 48)), n_segments=30)
    assert ds.element_spec["superpixels"].dtype == tf.int32
    first = [e["superpixels"].numpy() for e in ds]
    second = [e["superpixels"].numpy() for e in ds]
    for a, b in zip(first, second):
        np.testing.assert_array_equal(a, b)


def test_flip_rotate_moves_all_keys_together():
    image = np.arange(16 * 16, dtype=np.float32).reshape(16, 16, 1)
    element = {"images": image, "segmentation_masks": image.astype(np.int32), "superpixels": image[..., 0].astype(np.int32)}
    for i in range(8):
        out = random_flip_rotate(element, seed=tf.constant([i, 0]))
        np.testing.assert_array_equal(out["images"].numpy()[..., 0], out["superpixels"].numpy())
        np.testing.assert_array_equal(out["images"].numpy(), out["segmentation_masks"].numpy())
        assert out["superpixels"].dtype == tf.int32


@pytest.mark.parametrize("output", ["tuple", "dict"])
def test_make_pipeline_outputs(output):
    ds = make_pipeline(make_synthetic_dataset(8, (48, 48), num_classes=3), batch_size=4, num_classes=3,
                       n_segments=30, seed=0, output=output)
    batch = next(iter(ds))
    if output == "tuple":
        x, y = batch
    else:
        x, y = batch["images"], batch["segmentation_masks"]
        assert batch["superpixels"].dtype == tf.int32
    assert x.shape == (4, 48, 48, 3) and y.shape == (4, 48, 48, 3)
    np.testing.assert_allclose(tf.reduce_sum(y, -1), 1.0, atol=1e-5)


def test_make_pipeline_with_custom_mixer_and_none():
    base = make_synthetic_dataset(8, (32, 32))
    soft = make_pipeline(base, batch_size=4, mixer=SoftMix(num_classes=2, seed=0), n_segments=20, seed=0)
    plain = make_pipeline(base, batch_size=4, mixer=None, n_segments=20, seed=0, augment=False, shuffle=None)
    x, y = next(iter(plain))
    assert set(np.unique(y.numpy())) <= {0.0, 1.0}
    assert next(iter(soft))[1].shape == (4, 32, 32, 2)


def test_make_pipeline_trains_a_model():
    import keras

    ds = make_pipeline(make_synthetic_dataset(8, (32, 32)), batch_size=4, n_segments=20, seed=0)
    inputs = keras.Input((32, 32, 3))
    outputs = keras.layers.Conv2D(2, 3, padding="same", activation="softmax")(inputs)
    model = keras.Model(inputs, outputs)
    model.compile("adam", "categorical_crossentropy")
    history = model.fit(ds, epochs=2, verbose=0)
    assert np.all(np.isfinite(history.history["loss"]))


def test_bad_arguments():
    with pytest.raises(ValueError, match="output"):
        make_pipeline(make_synthetic_dataset(4, (16, 16)), output="list")
    with pytest.raises(ValueError, match="batch_size"):
        make_pipeline(make_synthetic_dataset(4, (16, 16)), batch_size=0)
    with pytest.raises(ValueError, match="builds channels-last batches"):
        make_pipeline(make_synthetic_dataset(4, (16, 16)), batch_size=2,
                      mixer=SoftMix(num_classes=2, data_format="channels_first"))
    keras.config.set_image_data_format("channels_first")  # the built-in mixer stays channels-last
    try:
        batch = next(iter(make_pipeline(make_synthetic_dataset(4, (16, 16)), batch_size=2, n_segments=4, seed=0,
                                        output="dict", progress=False)))
    finally:
        keras.config.set_image_data_format("channels_last")
    assert batch["images"].shape == (2, 16, 16, 3) and batch["segmentation_masks"].shape == (2, 16, 16, 2)


def test_static_saliency_cached_with_superpixels_and_dropped_after_mixing():
    base = make_synthetic_dataset(8, (32, 32))
    ds = make_pipeline(base, batch_size=4, n_segments=20, seed=0, output="dict", progress=False,
                       mixer=SoftMix(num_classes=2, seed=0))
    batch = next(iter(ds))
    assert set(batch) == {"images", "segmentation_masks", "superpixels"}
    np.testing.assert_allclose(tf.reduce_sum(batch["segmentation_masks"], -1), 1.0, atol=1e-5)


def _two_epochs(ds) -> list[tuple[np.ndarray, np.ndarray]]:
    return [(x.numpy(), y.numpy()) for _ in range(2) for x, y in ds]


@pytest.mark.parametrize("mixer", ["hsmix", None])
def test_seeded_pipeline_repeats_every_draw_and_each_epoch_differs(mixer):
    # Flips, superpixel levels, colour jitter and mixing run in parallel maps: with a seed, the batches must
    # not depend on which element a worker thread happens to take first.
    base = make_synthetic_dataset(16, (32, 32))

    def build(seed):
        return make_pipeline(base, batch_size=4, mixer=mixer, n_segments=(15, 30), color_jitter=1.0, seed=seed,
                             progress=False)

    first, again, other = _two_epochs(build(0)), _two_epochs(build(0)), _two_epochs(build(1))
    assert len(first) == 8
    for (x0, y0), (x1, y1) in zip(first, again):
        np.testing.assert_array_equal(x0, x1)
        np.testing.assert_array_equal(y0, y1)
    assert not np.array_equal(first[0][0], first[4][0])  # the second epoch is not a replay of the first
    assert any(not np.array_equal(a[0], b[0]) for a, b in zip(first, other))


def test_augment_elements_gives_paired_pipelines_the_same_flips():
    base = make_synthetic_dataset(8, (16, 16))
    with_levels = add_superpixels(base, n_segments=10).map(
        lambda e: {**e, "superpixel_levels": e.pop("superpixels")[tf.newaxis]}
    )
    plain = [e["images"].numpy() for e in augment_elements(base, seed=3)]
    levels = [e["images"].numpy() for e in augment_elements(with_levels, seed=3, draw_level=True)]
    for a, b in zip(plain, levels):
        np.testing.assert_array_equal(a, b)
    originals = [e["images"].numpy() for e in base]
    assert any(not np.array_equal(a, o) for a, o in zip(plain, originals))


def test_pipeline_takes_image_mask_tuples_like_dicts():
    data = make_synthetic_dataset(8, (32, 32), seed=0)
    tuples = data.map(lambda e: (e["images"], e["segmentation_masks"]))
    kwargs = dict(batch_size=4, n_segments=20, seed=3, progress=False)
    from_dicts = list(make_pipeline(data, **kwargs).take(2).as_numpy_iterator())
    from_tuples = list(make_pipeline(tuples, **kwargs).take(2).as_numpy_iterator())
    for (xa, ya), (xb, yb) in zip(from_dicts, from_tuples):
        np.testing.assert_array_equal(xa, xb)
        np.testing.assert_array_equal(ya, yb)


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda d: d.batch(4), r"looks batched: .* pass dataset.unbatch\(\)"),
        (lambda d: d.map(lambda e: {"image": e["images"], "mask": e["segmentation_masks"]}),
         r"got keys \['image', 'mask'\]"),
        (lambda d: d.map(lambda e: e["images"]), "or \\(image, mask\\) tuples, got elements"),
        (lambda d: d.take(3), r"3 element\(s\), fewer than batch_size=4"),
    ],
    ids=["batched", "wrong_keys", "images_only", "fewer_than_a_batch"],
)
def test_pipeline_names_what_is_wrong_with_the_dataset(make, message):
    with pytest.raises(ValueError, match=message):
        make_pipeline(make(make_synthetic_dataset(8, (32, 32), seed=0)), batch_size=4, n_segments=20, progress=False)


def test_a_dataset_smaller_than_a_batch_is_fine_without_drop_remainder():
    ds = make_pipeline(make_synthetic_dataset(3, (32, 32), seed=0), batch_size=4, n_segments=20, progress=False,
                       drop_remainder=False, mixer=None)
    images, masks = next(iter(ds))
    assert images.shape == (3, 32, 32, 3) and masks.shape == (3, 32, 32, 2)
