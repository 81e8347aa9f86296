"""Learning-rate schedules of the trainer and the comparison: values, wiring into the optimizer, bad input."""

from __future__ import annotations

import argparse
from pathlib import Path

import keras
import numpy as np
import pytest

from keras_hsmix.runs.compare import METHODS, CompareConfig, build_run, load_compare_data
from keras_hsmix.runs.train import TrainConfig, learning_rate_schedule, steps_per_epoch, train

# Which rates the optimizer gets at which step, not how TensorFlow traces a step: fit runs eagerly
# (tests/conftest.py).
pytestmark = pytest.mark.eager


def test_constant_is_the_rate_itself() -> None:
    assert learning_rate_schedule(2e-3) == pytest.approx(2e-3)
    assert learning_rate_schedule(2e-3, "constant", total_steps=None) == pytest.approx(2e-3)


def test_cosine_decays_monotonically_to_a_thousandth() -> None:
    schedule = learning_rate_schedule(1e-3, "cosine", total_steps=40)
    values = np.array([float(schedule(step)) for step in range(41)])
    assert values[0] == pytest.approx(1e-3)
    assert values[-1] == pytest.approx(1e-6, rel=1e-4)
    assert values[20] == pytest.approx(0.5 * (1e-3 + 1e-6), rel=1e-4)  # cosine midpoint
    assert np.all(np.diff(values) < 0)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(learning_rate=1e-3, schedule="step"), "unknown lr_schedule 'step'"),
        (dict(learning_rate=1e-3, schedule="cosine"), "needs the run's total number of steps"),
        (dict(learning_rate=1e-3, schedule="cosine", total_steps=0), "needs the run's total number of steps"),
        (dict(learning_rate=0.0), "learning_rate must be > 0"),
    ],
)
def test_bad_schedule_arguments_are_named(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        learning_rate_schedule(**kwargs)


def test_steps_per_epoch_matches_the_pipelines_batching() -> None:
    assert [steps_per_epoch(n, 4) for n in (1, 3, 4, 7, 8, 17)] == [1, 1, 1, 1, 2, 4]
    with pytest.raises(ValueError, match="num_images >= 1"):
        steps_per_epoch(0, 4)


@pytest.mark.parametrize("method", ["flips", "hsmix_gradcam+flips"])
def test_comparison_runs_end_at_the_last_step_of_the_cosine(method: str) -> None:
    # The schedule's length must be the number of steps fit really takes: after the last
    # epoch the rate is exactly learning_rate / 1000, for the plain and the HSMix models.
    cfg = CompareConfig.quick_config(data_dir=None, epochs=3, lr_schedule="cosine")
    data = load_compare_data(cfg)
    subset = data.subset(0.5)
    images, masks = data.train_images[subset], data.train_masks[subset]
    model, pipeline = build_run(METHODS[method], cfg, 0, images, masks)
    assert float(keras.ops.convert_to_numpy(model.optimizer.learning_rate)) == pytest.approx(cfg.learning_rate)
    model.fit(pipeline, epochs=cfg.epochs, verbose=0)
    steps = steps_per_epoch(len(images), cfg.batch_size)
    assert int(keras.ops.convert_to_numpy(model.optimizer.iterations)) == cfg.epochs * steps
    final = float(keras.ops.convert_to_numpy(model.optimizer.learning_rate))
    assert final == pytest.approx(cfg.learning_rate / 1000, rel=1e-3)


def test_cosine_groups_are_tagged_apart_from_constant_ones() -> None:
    constant, cosine = CompareConfig(epochs=400), CompareConfig(epochs=400, lr_schedule="cosine")
    assert constant.tag() == "synthetic64px-400ep" and cosine.tag() == "synthetic64px-400ep-cos"
    assert cosine.setting()["lr_schedule"] == "cosine"


def test_train_rejects_an_unknown_schedule_before_writing(tmp_path: Path) -> None:
    out = tmp_path / "run"
    config = TrainConfig(out=str(out), size=32, epochs=1, num_images=8, base_filters=4, depth=1,
                         n_segments=(20, 30), lr_schedule="linear")
    with pytest.raises(ValueError, match="unknown lr_schedule 'linear'"):
        train(config, verbose=0)
    assert not out.exists()


@pytest.mark.parametrize("command", ["train", "compare"])
def test_cli_schedule_choices_are_the_runners(command: str) -> None:
    """The CLI spells the choices out (importing the runner at parse time would load TensorFlow for --help)."""
    from keras_hsmix.cli import build_parser
    from keras_hsmix.runs.train import LR_SCHEDULES

    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices[command]
    action = next(a for a in sub._actions if "--lr-schedule" in a.option_strings)
    assert tuple(action.choices) == LR_SCHEDULES
