"""keras-hsmix on every Keras 3 backend, as Keras' own preprocessing layers: the mixing runs in TensorFlow inside
tf.data whatever the backend, and a model of that backend trains with fit on the pipeline's output.

Each other backend runs tests/backend_check.py in a subprocess with KERAS_BACKEND set (a process has one
backend); its mixes are compared here with the TensorFlow backend's, from the same seeds.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests import backend_check

ROOT = Path(__file__).resolve().parents[1]
#: Backends other than TensorFlow, and the package each needs (absent: the case is skipped with the reason).
BACKENDS = {"jax": "jax", "torch": "torch"}


def test_import_on_the_tensorflow_backend():
    import keras

    import keras_hsmix

    assert keras.backend.backend() == "tensorflow" and keras_hsmix.__version__


@pytest.fixture(scope="module")
def tensorflow_mixes() -> dict[str, np.ndarray]:
    return backend_check.layer_mixes()


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(BACKENDS))
def test_another_backend(name, tmp_path, tensorflow_mixes):
    if name == "torch" and os.environ.get("CI", "").lower() == "true":
        # Issue 26: torch runs "only if its CPU wheel keeps CI inside its time". It costs about 30 s of a 2-core
        # run of 7.5-8.5 min against a 10-min limit, which a 20 % slower host would then exceed, so CI runs the
        # JAX case only; run this one locally (without CI=true).
        pytest.skip("the torch backend is not run under CI=true, to keep CI inside its time (issue 26); "
                    "run `python -m pytest tests/test_backend.py` without CI=true")
    if importlib.util.find_spec(BACKENDS[name]) is None:
        pytest.skip(f"{BACKENDS[name]} is not installed (pip install -e '.[test]' installs jax; torch is optional)")
    data = tmp_path / "data"
    backend_check.write_folder(data)
    env = {**os.environ, "KERAS_BACKEND": name, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "2"}
    result = subprocess.run([sys.executable, str(ROOT / "tests" / "backend_check.py"), str(tmp_path), str(data)],
                            env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr[-6000:]
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["backend"] == name

    # The layers in tf.data: the same seeds give the TensorFlow backend's mixes exactly.
    with np.load(tmp_path / "mixes.npz") as mixes:
        assert sorted(mixes.files) == sorted(tensorflow_mixes)
        for key, expected in tensorflow_mixes.items():
            np.testing.assert_allclose(mixes[key], expected, rtol=0, atol=1e-6, err_msg=key)

    # An eager call takes NumPy arrays and returns arrays of the backend.
    for key, channels in (("images", 3), ("segmentation_masks", 2)):
        module, is_tensor, shape = report["eager"][key]
        assert module.startswith(name) and is_tensor and shape == [4, 16, 16, channels], report["eager"]

    # load_folder, add_superpixels, make_pipeline, and fit of a model of the backend on the pipeline's output.
    assert report["load_folder"] == ["images", "segmentation_masks"]
    assert report["add_superpixels"] == ["images", "segmentation_masks", "superpixels"]
    assert report["model_variable"].startswith(name)  # jax / jaxlib, torch
    assert report["fit"]["loss"] and all(np.isfinite(v) for values in report["fit"].values() for v in values)
    assert report["preview"] is True

    # What needs TensorFlow outside tf.data says so.
    assert report["HSMixModel"].startswith("HSMixModel needs Keras' TensorFlow backend (its train_step"), report
    assert f"runs on {name!r}" in report["HSMixModel"] and "make_pipeline" in report["HSMixModel"]
    assert "run TensorFlow ops" in report["symbolic"] and "tf.data" in report["symbolic"], report


def test_draws_from_an_int_seed_are_keras_random_values():
    import keras

    from keras_hsmix.layers import backend

    np.testing.assert_array_equal(backend.uniform((3, 5), 7), keras.random.uniform((3, 5), seed=7))
    np.testing.assert_array_equal(backend.shuffle(np.arange(9), 7), keras.random.shuffle(np.arange(9), seed=7))
    np.testing.assert_array_equal(backend.beta((4, 6), 0.5, 2.0, 7), keras.random.beta((4, 6), 0.5, 2.0, seed=7))


def test_draws_from_a_generator_are_keras_random_values():
    """On the TensorFlow backend the draws (TensorFlow ops) are keras.random's, draw after draw."""
    import keras

    from keras_hsmix.layers import backend

    ours, theirs = keras.random.SeedGenerator(3), keras.random.SeedGenerator(3)
    stream = backend.TFSeedGenerator(3)  # the same stream in a tf.Variable, as on the other backends
    for _ in range(3):
        expected = keras.random.uniform((2, 4), seed=theirs)
        np.testing.assert_array_equal(backend.uniform((2, 4), ours), expected)
        np.testing.assert_array_equal(backend.uniform((2, 4), stream), expected)
        expected = keras.random.shuffle(np.arange(6), seed=theirs)
        np.testing.assert_array_equal(backend.shuffle(np.arange(6), ours), expected)
        np.testing.assert_array_equal(backend.shuffle(np.arange(6), stream), expected)
        expected = keras.random.beta((5,), 1.0, 1.0, seed=theirs)
        np.testing.assert_array_equal(backend.beta((5,), 1.0, 1.0, ours), expected)
        np.testing.assert_array_equal(backend.beta((5,), 1.0, 1.0, stream), expected)


def test_a_seed_generator_without_tensorflow_state_is_refused_clearly():
    from keras_hsmix.layers import backend

    class Foreign:  # what keras.random.SeedGenerator.next() gives on JAX: an array TensorFlow cannot advance
        def next(self):
            return np.array([1, 0])

    with pytest.raises(TypeError, match="cannot seed the mixing, which runs in TensorFlow: pass an int seed"):
        backend.uniform((2,), Foreign())


def test_hsmixmodel_names_the_backend_it_needs(monkeypatch):
    import keras

    from keras_hsmix import HSMixModel

    monkeypatch.setattr(keras.backend, "backend", lambda: "jax")
    with pytest.raises(RuntimeError, match=r"HSMixModel needs Keras' TensorFlow backend .* runs on 'jax'"):
        HSMixModel(keras.Sequential([keras.Input((8, 8, 3)), keras.layers.Conv2D(2, 1)]), num_classes=2)
