"""The demo learns (issue 25): the default ``keras-hsmix train`` run on the built-in data reached a validation DSC of
0.449 after 3 epochs, its model predicting foreground everywhere (batch-norm statistics unsettled after a few
steps at Keras' momentum 0.99). The same recipe on a reduced setting (smaller images and UNet, fewer images and
epochs) must reach the demo's threshold. No wall-clock limit here: ``python benchmarks/demo.py`` times the demo."""

from __future__ import annotations

import pytest

from keras_hsmix.runs.train import TrainConfig, train

THRESHOLD = 0.85  # the demo's goal (issue 25), at its defaults and here


@pytest.mark.slow
def test_demo_recipe_reaches_the_threshold_on_a_reduced_setting(tmp_path):
    config = TrainConfig(out=str(tmp_path / "demo"), size=32, depth=2, base_filters=8, num_images=32, epochs=12,
                         batch_size=4, n_segments=(15, 30), bn_momentum=0.9)
    results = train(config, verbose=0)
    dice = results["validation"]["dice"]
    assert dice >= THRESHOLD, results
    # Not the failure of issue 25: the exported model does not predict foreground everywhere.
    import tensorflow as tf

    from keras_hsmix.data import synthetic_arrays

    images, masks = synthetic_arrays(4, (32, 32), seed=123)
    serving = tf.saved_model.load(str(tmp_path / "demo" / "saved_model")).signatures["serving_default"]
    class_ids = serving(image=tf.constant(images))["class_ids"].numpy()  # by name: the outputs' order is not fixed
    assert class_ids.shape == masks.shape[:3], class_ids.shape
    foreground = float((class_ids > 0).mean())
    assert abs(foreground - float((masks > 0).mean())) < 0.15, (foreground, float((masks > 0).mean()))
