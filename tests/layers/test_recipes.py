"""Named recipes: each sets what its table says, explicit settings win, and they reach every entry point."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from keras_hsmix import HSMix, HSMixModel
from keras_hsmix.data import make_pipeline, make_synthetic_dataset
from keras_hsmix.recipes import MODEL_RECIPE, RECIPES, get_recipe, resolve
from keras_hsmix.models import unet
from keras_hsmix.ops import mixing

#: What each recipe must set (docs/fidelity.md gives the authors' file and line of each value).
EXPECTED = {
    "default": dict(mode="random", p=0.5, n_segments=(200, 400), compactness=10.0, saliency="gradcam",
                    soft_lambda="mean"),
    "paper": dict(mode="concat", p=0.5, n_segments=(200, 400), compactness=10.0, saliency="gradcam",
                  soft_lambda="mean"),
    "authors-glas": dict(mode="concat", p=0.5, n_segments=(200, 400), compactness=8.0, saliency="random",
                         alpha=1.0),
    "authors-monuseg": dict(mode="concat", p=0.5, n_segments=(300, 500), compactness=8.0, saliency="random"),
    "authors-isic": dict(mode="concat", p=0.2, n_segments=(30, 80), compactness=8.0, saliency="static",
                         soft_lambda="area"),
    "authors-brats": dict(mode="concat", p=0.2, n_segments=(50, 150), compactness=10.0, saliency="static",
                          soft_lambda="area"),
    "authors-synapse": dict(mode="concat", p=0.2, n_segments=(200, 400), compactness=0.1, saliency="static",
                            soft_lambda="area"),
}


def test_every_recipe_is_tested() -> None:
    assert set(RECIPES) == set(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_layer_takes_the_recipe(name: str) -> None:
    layer = HSMix(recipe=name)
    want = EXPECTED[name]
    for key, value in want.items():
        if key == "saliency":  # a layer has no model: Grad-CAM recipes give it static saliency
            assert layer.saliency == ("static" if value == "gradcam" else value)
        elif key == "n_segments":
            assert tuple(layer.n_segments) == value
        else:
            assert getattr(layer, key) == value, key
    assert layer.soft.soft_lambda == layer.soft_lambda
    assert layer.get_config()["recipe"] == name


def test_explicit_settings_win_and_config_round_trips() -> None:
    layer = HSMix(recipe="authors-glas", p=0.3, mode="random")
    assert (layer.p, layer.mode, layer.saliency, layer.compactness) == (0.3, "random", "random", 8.0)
    again = HSMix.from_config(layer.get_config())
    assert again.get_config() == layer.get_config()


def test_unknown_recipe_names_the_known_ones() -> None:
    with pytest.raises(ValueError, match="recipe must be one of .*authors-glas"):
        HSMix(recipe="authors")
    with pytest.raises(ValueError, match="soft_lambda"):
        resolve(None, soft_lambda="median")


def test_model_takes_the_recipe() -> None:
    net = unet((32, 32, 3), num_classes=2, base_filters=4, depth=2)
    paper = HSMixModel(net, num_classes=2, recipe="paper")
    assert (paper.saliency, paper.mixer.mode, paper.gradcam is not None) == ("gradcam", "concat", True)
    glas = HSMixModel(net, num_classes=2, recipe="authors-glas")
    assert (glas.saliency, glas.mixer.saliency, glas.gradcam) == ("random", "random", None)
    # Unnamed: the model takes the recipe that validated best (paper), the layers keep the batch-preserving one.
    unnamed = HSMixModel(net, num_classes=2)
    assert unnamed.get_config()["recipe"] == MODEL_RECIPE == "paper" and unnamed.mixer.mode == "concat"
    assert unnamed.saliency == "gradcam" and HSMix().mode == "random"
    assert get_recipe(None).name == "default"
    assert HSMixModel(net, num_classes=2, recipe="default").mixer.mode == "random"
    # Probabilities choose one branch per batch: given alone, they select the random mode that uses them.
    assert HSMixModel(net, num_classes=2, probabilities=(0, 1, 0)).mixer.mode == "random"
    assert HSMix(recipe="paper", probabilities=(1, 0, 0)).mode == "random"
    assert HSMix(recipe="paper", probabilities=(1, 0, 0), mode="concat").mode == "concat"


def test_pipeline_takes_the_recipe_superpixel_settings() -> None:
    ds = make_synthetic_dataset(4, (96, 96))

    def count(recipe: str) -> int:
        batch = next(iter(make_pipeline(ds, batch_size=4, mixer=None, output="dict", recipe=recipe, seed=0,
                                        progress=False)))
        return int(tf.reduce_max(batch["superpixels"])) + 1

    assert count("authors-isic") <= 100 < count("default")


def test_area_lambda_follows_superpixel_size() -> None:
    """With the same saliency ratio everywhere, the mean gives one λ; the area weighting ranks by size."""
    sp = np.zeros((2, 4, 4), np.int32)
    sp[:, :, 3] = 1  # superpixel 1 is a quarter of the image, superpixel 0 three quarters
    saliency = tf.ones((2, 4, 4))
    partner = tf.constant([1, 0])
    mean = mixing.saliency_coefficients(saliency, partner, tf.constant(sp), 2).numpy()
    area = mixing.saliency_coefficients(saliency, partner, tf.constant(sp), 2, aggregate="area").numpy()
    np.testing.assert_allclose(mean, 0.5, atol=1e-5)
    np.testing.assert_allclose(area[:, :, :3], 1.0, atol=1e-5)
    np.testing.assert_allclose(area[:, :, 3], 0.0, atol=1e-5)


def test_train_run_takes_the_recipe() -> None:
    from keras_hsmix.runs.train import TrainConfig, build_model

    paper = build_model(TrainConfig(size=32, depth=2, base_filters=4, recipe="paper"), epoch_steps=1)
    assert (paper.recipe, paper.mixer.mode, paper.saliency) == ("paper", "concat", "gradcam")
    assert tuple(paper.mixer.n_segments) == (20, 40)  # the run's own, scaled to its image size
    unnamed = build_model(TrainConfig(size=32, depth=2, base_filters=4), epoch_steps=1)  # HSMixModel's: paper
    assert (unnamed.recipe, unnamed.mixer.mode, unnamed.saliency) == ("paper", "concat", "gradcam")
    default = build_model(TrainConfig(size=32, depth=2, base_filters=4, recipe="default"), epoch_steps=1)
    assert (default.recipe, default.mixer.mode, default.saliency) == ("default", "random", "gradcam")
    glas = build_model(TrainConfig(size=32, depth=2, base_filters=4, recipe="authors-glas", p=0.3), epoch_steps=1)
    assert (glas.saliency, glas.mixer.p, glas.mixer.compactness) == ("random", 0.3, 8.0)


def test_cli_refuses_an_unknown_recipe(tmp_path, capsys: pytest.CaptureFixture) -> None:
    from keras_hsmix.cli import main

    out = tmp_path / "run"
    with pytest.raises(SystemExit) as stop:
        main(["train", "--out", str(out), "--recipe", "authors", "--epochs", "1"])
    assert stop.value.code == 2 and not out.exists()
    assert "--recipe authors: expected one of authors-brats" in capsys.readouterr().err
