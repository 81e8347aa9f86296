"""HSMix: branch probabilities, concat mode, config."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from keras_hsmix import HSMix
from tests.helpers import random_batch


def test_branch_frequencies_follow_probabilities():
    layer = HSMix(num_classes=3, seed=0, probabilities=(0.2, 0.5, 0.3))
    canon = layer.prepare_inputs(random_batch())
    draw = tf.function(lambda: layer.get_random_transformation(canon)["branch"])  # traced once, as in tf.data
    branches = [int(draw()) for _ in range(600)]
    counts = np.bincount(branches, minlength=3) / len(branches)
    np.testing.assert_allclose(counts, [0.2, 0.5, 0.3], atol=0.06)


@pytest.mark.parametrize("branch", [0, 1, 2])
def test_each_branch_matches_its_layer(branch):
    layer = HSMix(num_classes=3, seed=0)
    canon = layer.prepare_inputs(random_batch())
    tr = layer.get_random_transformation(canon)
    tr["branch"] = np.int32(branch)
    out = layer.transform(canon, tr)
    expected = [layer.hard.transform, layer.soft.transform, lambda d, t: d][branch](canon, tr)
    np.testing.assert_allclose(out["images"], expected["images"], atol=1e-6)


def test_no_mixing_branch_returns_one_hot_input():
    layer = HSMix(num_classes=3, seed=0, probabilities=(0, 0, 1))
    batch = random_batch()
    out = layer(batch)
    np.testing.assert_array_equal(out["images"], batch["images"])
    np.testing.assert_array_equal(np.argmax(out["segmentation_masks"], -1), batch["segmentation_masks"][..., 0])


def test_concat_mode_stacks_hard_and_soft():
    layer = HSMix(num_classes=3, seed=0, mode="concat")
    batch = random_batch()
    out = layer(batch)
    assert out["images"].shape == (8, 24, 24, 3)
    assert out["segmentation_masks"].shape == (8, 24, 24, 3)
    np.testing.assert_allclose(np.sum(out["segmentation_masks"], -1), 1.0, atol=1e-5)
    # The hard half only holds values of the sources.
    hard = out["segmentation_masks"].numpy()[:4]
    assert set(np.unique(hard)) <= {0.0, 1.0}


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"mode": "both"}, "mode must be one of"),
        ({"probabilities": (0.5, 0.5)}, "three values"),
        ({"probabilities": (0.5, 0.5, 0.5)}, "sum to 1"),
        ({"probabilities": (1.5, -0.5, 0)}, "in \\[0, 1\\]"),
    ],
)
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        HSMix(num_classes=2, **kwargs)


def test_config_round_trip():
    layer = HSMix(num_classes=4, seed=2, probabilities=(0.5, 0.25, 0.25), mode="concat", saliency="random", alpha=0.4)
    clone = HSMix.from_config(layer.get_config())
    assert clone.get_config() == layer.get_config()
    assert clone.soft.saliency == "random" and clone.soft.alpha == 0.4


@pytest.mark.parametrize("graph", [False, True])
def test_chains_with_keras_image_layers_in_a_keras_pipeline(graph):
    # keras.layers.Pipeline passes the dict from Keras' RandomFlip to HSMix: every output pixel must carry
    # the class of the input pixel whose value it holds (image and mask flipped and pasted together).
    import keras
    import tensorflow as tf

    batch = random_batch(batch=6, num_classes=3)
    pipe = keras.layers.Pipeline([keras.layers.RandomFlip("horizontal_and_vertical", seed=1),
                                  HSMix(num_classes=3, probabilities=(1.0, 0.0, 0.0), p=0.5, seed=0)])
    if graph:
        out = next(iter(tf.data.Dataset.from_tensor_slices(batch).batch(6).map(pipe)))
    else:
        out = pipe(dict(batch))  # a copy: Keras' own image layers write their outputs into the dict they get
    images, masks = np.asarray(out["images"]), np.asarray(out["segmentation_masks"])
    assert images.shape == batch["images"].shape and masks.shape == (*batch["images"].shape[:3], 3)
    assert set(np.unique(masks)) <= {0.0, 1.0} and np.all(masks.sum(-1) == 1.0)
    class_of = dict(zip(batch["images"][..., 0].ravel().tolist(), batch["segmentation_masks"].ravel().tolist()))
    labels = [class_of[v] for v in images[..., 0].ravel().tolist()]  # KeyError: a value no input pixel had
    np.testing.assert_array_equal(np.argmax(masks, -1).ravel(), labels)
    assert not np.array_equal(images, batch["images"])  # something was flipped or pasted
