"""HSMixModel: fit with dict and tuple batches, logged loss, no augmentation at test/predict/export."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_hsmix import HSMixModel
from keras_hsmix.data import make_pipeline, make_synthetic_dataset
from keras_hsmix.losses import DiceCELoss
from keras_hsmix.metrics import Dice, Jaccard
from keras_hsmix.models import deeplab_v3_plus, unet

SIZE = 32


def _data(n=8, num_classes=2, seed=0):
    return make_synthetic_dataset(n, (SIZE, SIZE), num_classes=num_classes, seed=seed)


def _model(saliency="gradcam", num_classes=2, depth=1, **kwargs):
    keras.utils.set_random_seed(0)
    model = HSMixModel(unet((SIZE, SIZE, 3), num_classes=num_classes, base_filters=4, depth=depth),
                       num_classes=num_classes, saliency=saliency, n_segments=20, seed=0, **kwargs)
    model.compile(optimizer="adam", loss=DiceCELoss(from_logits=True),
                  metrics=[Dice(from_logits=True), Jaccard(from_logits=True)])
    return model


@pytest.mark.parametrize("saliency", ["gradcam", "static", "random"])
def test_fit_with_dict_batches_and_validation(saliency):
    model = _model(saliency)
    train = make_pipeline(_data(), batch_size=4, mixer=None, n_segments=20, output="dict", seed=0)
    val = _data(4, seed=1).batch(4)
    history = model.fit(train, epochs=2, validation_data=val, verbose=0)
    for key in ("loss", "dice", "jaccard", "val_loss", "val_dice"):
        assert key in history.history and np.all(np.isfinite(history.history[key])), key
    assert all(v > 0 for v in history.history["loss"])


def test_fit_with_tuple_batches_without_superpixels_traces_the_train_step_once():
    # The optimizer is built before fit: a train_step that creates variables in its first trace is traced twice.
    traces = []

    class Counted(HSMixModel):
        def train_step(self, data):
            traces.append(1)
            return super().train_step(data)

    keras.utils.set_random_seed(0)
    model = Counted(unet((SIZE, SIZE, 3), num_classes=2, base_filters=4, depth=1), num_classes=2,
                    probabilities=(0, 1, 0), n_segments=20, seed=0)
    model.compile(optimizer="adam", loss=DiceCELoss(from_logits=True), metrics=[Dice(from_logits=True)])
    ds = _data().batch(4).map(lambda e: (e["images"], e["segmentation_masks"]))  # SLIC runs in the step
    history = model.fit(ds, epochs=2, verbose=0)
    assert len(traces) == 1 and model.optimizer.built
    assert all(loss > 0 for loss in history.history["loss"])


def test_concat_mode_with_sample_weights():
    model = _model("static", mode="concat")
    ds = _data().batch(4).map(lambda e: (e["images"], e["segmentation_masks"], tf.ones((tf.shape(e["images"])[0],))))
    assert np.isfinite(model.fit(ds, epochs=1, verbose=0).history["loss"][0])


def test_soft_step_uses_gradcam_of_the_clean_batch():
    model = _model("gradcam", probabilities=(0, 1, 0))
    real = model.gradcam
    seen = []

    class Spy:
        def __call__(self, images, target=None):
            seen.append((images, target))
            return real(images, target)

    model.gradcam = Spy()
    batch = next(iter(_data(4).batch(4)))
    x, y = model.augment(batch)
    assert len(seen) == 1
    images, target = seen[0]
    np.testing.assert_array_equal(images.numpy(), batch["images"].numpy())  # clean, unmixed images
    np.testing.assert_array_equal(np.argmax(target.numpy(), -1), batch["segmentation_masks"].numpy()[..., 0])
    assert x.shape == (4, SIZE, SIZE, 3) and y.shape == (4, SIZE, SIZE, 2)
    assert not np.allclose(x.numpy(), batch["images"].numpy())  # soft mixing happened


def test_gradcam_target_prediction():
    model = _model("gradcam", probabilities=(0, 1, 0), gradcam_target="prediction")
    batch = next(iter(_data(4).batch(4)))
    x, y = model.augment(batch)
    assert np.all(np.isfinite(x.numpy())) and y.shape == (4, SIZE, SIZE, 2)


def test_logged_loss_matches_the_loss_of_the_batch():
    """With no mixing, one step per epoch: the logged loss is the loss at the weights before the step."""
    model = _model("static", probabilities=(0, 0, 1))
    batch = next(iter(_data(4).batch(4)))
    x = batch["images"]
    y = tf.one_hot(batch["segmentation_masks"][..., 0], 2)
    expected = float(DiceCELoss(from_logits=True)(y, model.model(x, training=True)))
    history = model.fit(tf.data.Dataset.from_tensors(batch), epochs=1, verbose=0)
    assert history.history["loss"][0] == pytest.approx(expected, rel=1e-4)


def test_evaluate_and_predict_do_not_augment(tmp_path):
    model = _model("gradcam")
    batch = next(iter(_data(4).batch(4)))
    pred = model.predict(batch["images"], verbose=0)
    np.testing.assert_allclose(pred, model.model.predict(batch["images"], verbose=0), atol=1e-6)
    np.testing.assert_allclose(model.predict(tf.data.Dataset.from_tensors(batch), verbose=0), pred, atol=1e-6)
    a = model.evaluate(tf.data.Dataset.from_tensors(batch), verbose=0, return_dict=True)
    b = model.evaluate(tf.data.Dataset.from_tensors(batch), verbose=0, return_dict=True)
    assert a == b


@pytest.mark.eager
def test_save_load_checkpoint_and_export(tmp_path):
    model = _model("gradcam")
    ds = make_pipeline(_data(), batch_size=4, mixer=None, n_segments=20, output="dict", seed=0)
    ckpt = tmp_path / "best.weights.h5"
    model.fit(ds, epochs=1, verbose=0, callbacks=[keras.callbacks.ModelCheckpoint(str(ckpt), save_weights_only=True)])
    assert ckpt.exists()
    images = next(iter(_data(4).batch(4)))["images"]
    expected = model.predict(images, verbose=0)

    path = tmp_path / "model.keras"
    model.save(path)
    restored = keras.saving.load_model(path)
    assert isinstance(restored, HSMixModel) and restored.saliency == "gradcam"
    np.testing.assert_allclose(restored.predict(images, verbose=0), expected, atol=1e-5)

    fresh = _model("gradcam")
    fresh.optimizer.build(fresh.trainable_variables)  # the checkpoint holds optimizer state: restore it too, quietly
    fresh.load_weights(ckpt)
    np.testing.assert_allclose(fresh.predict(images, verbose=0), expected, atol=1e-5)

    export_dir = tmp_path / "saved_model"
    model.export(str(export_dir))
    reloaded = tf.saved_model.load(str(export_dir))  # keep a reference while serving
    served = reloaded.serve(images)
    np.testing.assert_allclose(served, expected, atol=1e-5)


# Graph-mode fit of a DeepLab with Grad-CAM: test_hsmix_model_trains_a_keras_hub_segmenter_with_its_own_compile_ignored.
@pytest.mark.eager
def test_second_architecture_family_unchanged():
    keras.utils.set_random_seed(0)
    model = HSMixModel(deeplab_v3_plus((SIZE, SIZE, 3), num_classes=3, base_filters=4), num_classes=3,
                       saliency="gradcam", probabilities=(0, 1, 0), n_segments=20, seed=0)
    model.compile(optimizer="adam", loss=DiceCELoss(from_logits=True))
    ds = make_pipeline(_data(num_classes=3), batch_size=4, num_classes=3, mixer=None, n_segments=20,
                       output="dict", seed=0)
    assert np.isfinite(model.fit(ds, epochs=1, verbose=0).history["loss"][0])


def test_bad_arguments():
    base = unet((SIZE, SIZE, 3), num_classes=2, base_filters=4, depth=1)
    with pytest.raises(ValueError, match="saliency"):
        HSMixModel(base, num_classes=2, saliency="cam")
    with pytest.raises(ValueError, match="gradcam_target"):
        HSMixModel(base, num_classes=2, gradcam_target="x")
    model = _model("static")
    with pytest.raises(ValueError, match="segmentation_masks"):
        model.train_step({"images": tf.zeros((2, SIZE, SIZE, 3))})
    with pytest.raises(ValueError, match="outputs 3 channels but num_classes=2"):
        HSMixModel(unet((SIZE, SIZE, 3), num_classes=3, base_filters=4, depth=1), num_classes=2)


def test_one_channel_sigmoid_model_trains_on_the_foreground_channel():
    # The usual Keras binary segmentation model: one logit channel, BinaryCrossentropy.
    keras.utils.set_random_seed(0)
    static = HSMixModel(unet((SIZE, SIZE, 3), num_classes=1, base_filters=4, depth=1), num_classes=2,
                        saliency="static", probabilities=(0, 1, 0), n_segments=20, seed=0)
    batch = next(iter(_data(4).batch(4)))
    x, y = static.augment(batch)
    target = static._fit_output(y)
    assert target.shape == (4, SIZE, SIZE, 1)
    np.testing.assert_allclose(target.numpy()[..., 0], y.numpy()[..., 1])  # soft foreground probability
    assert 0.0 < target.numpy().mean() < 1.0 and not np.all(np.isin(target.numpy(), [0.0, 1.0]))

    model = HSMixModel(unet((SIZE, SIZE, 3), num_classes=1, base_filters=4, depth=1), num_classes=2,
                       n_segments=20, seed=0)  # Grad-CAM of the one-channel model
    model.compile(optimizer="adam", loss=keras.losses.BinaryCrossentropy(from_logits=True),
                  metrics=[Dice(from_logits=True)])
    logits = model.model(x, training=True)
    expected = float(keras.losses.BinaryCrossentropy(from_logits=True)(target, logits))
    assert np.isfinite(expected) and expected > 0
    history = model.fit(make_pipeline(_data(), batch_size=4, mixer=None, n_segments=20, output="dict", seed=0),
                        epochs=1, validation_data=_data(4, seed=1).batch(4), verbose=0)
    for key in ("loss", "dice", "val_loss", "val_dice"):
        assert np.isfinite(history.history[key][0]) and history.history[key][0] >= 0, key
    assert history.history["loss"][0] > 0


def test_gradcam_of_a_one_channel_model_with_one_hot_targets_uses_the_foreground():
    from keras_hsmix import grad_cam

    keras.utils.set_random_seed(0)
    model = unet((SIZE, SIZE, 3), num_classes=1, base_filters=4, depth=1)
    images = tf.random.uniform((2, SIZE, SIZE, 3), seed=1)
    ids = tf.cast(tf.random.uniform((2, SIZE, SIZE), seed=2) > 0.5, tf.int32)
    one_hot = tf.one_hot(ids, 2)
    foreground = tf.cast(ids, tf.float32)[..., tf.newaxis]
    np.testing.assert_allclose(grad_cam(model, images, one_hot).numpy(), grad_cam(model, images, foreground).numpy(),
                               atol=1e-6)


def test_fit_under_mixed_precision_scales_the_loss_and_keeps_a_float32_output():
    # Colab GPU users set mixed_float16; Grad-CAM and the mixing then see float16 features.
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        model = _model("gradcam", depth=2, probabilities=(0, 1, 0))  # a bottleneck at 1/4: the CAM's check below
        cam = model.gradcam(next(iter(_data(4).batch(4)))["images"])
        assert cam.dtype == tf.float32 and float(tf.reduce_max(cam)) > 0.5  # not underflowed to zero
        weights_before = [w.numpy().copy() for w in model.trainable_weights]
        history = model.fit(make_pipeline(_data(), batch_size=4, mixer=None, n_segments=20, output="dict", seed=0),
                            epochs=1, validation_data=_data(4, seed=1).batch(4), verbose=0)
    finally:
        keras.mixed_precision.set_global_policy("float32")
    assert isinstance(model.optimizer, keras.optimizers.LossScaleOptimizer)
    assert model.model.output.dtype == "float32"
    for key in ("loss", "dice", "val_loss", "val_dice"):
        assert np.isfinite(history.history[key][0]), key
    assert any(not np.allclose(a, b.numpy()) for a, b in zip(weights_before, model.trainable_weights))
