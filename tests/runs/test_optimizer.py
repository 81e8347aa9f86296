"""Optimizer choice (Adam, or AdamW with weight decay) in the trainer, the CLI and the comparison, and the
comparison's guard against mixing runs trained under other settings."""

from __future__ import annotations

import json
from pathlib import Path

import keras
import numpy as np
import pytest

from keras_hsmix.runs.compare import (
    METHODS, CompareConfig, build_run, check_settings, load_compare_data, plan_runs, run_comparison,
)
from keras_hsmix.runs.train import TrainConfig, build_model, make_optimizer, train


def test_weight_decay_selects_adamw_with_that_decay() -> None:
    adam, adamw = make_optimizer(1e-3), make_optimizer(2e-3, 5e-4)
    assert type(adam) is keras.optimizers.Adam and type(adamw) is keras.optimizers.AdamW
    assert adamw.weight_decay == pytest.approx(5e-4)
    assert float(keras.ops.convert_to_numpy(adamw.learning_rate)) == pytest.approx(2e-3)
    with pytest.raises(ValueError, match="weight_decay must be >= 0, got -1"):
        make_optimizer(1e-3, -1.0)


def test_adamw_shrinks_weights_that_get_no_gradient() -> None:
    # Decoupled decay: with a zero gradient Adam leaves a weight alone, AdamW multiplies it by (1 - lr * wd).
    for weight_decay, expected in ((0.0, 1.0), (0.1, 1.0 - 0.5 * 0.1)):
        optimizer = make_optimizer(0.5, weight_decay)
        var = keras.Variable(np.ones((3,), np.float32))
        optimizer.apply([keras.ops.zeros((3,))], [var])
        np.testing.assert_allclose(keras.ops.convert_to_numpy(var), expected, rtol=1e-6)


def test_trainer_and_comparison_models_use_the_configured_optimizer() -> None:
    model = build_model(TrainConfig(size=16, base_filters=2, depth=2, n_segments=(4, 8), weight_decay=5e-4), 2)
    assert type(model.optimizer) is keras.optimizers.AdamW
    cfg = CompareConfig.quick_config(data_dir=None, weight_decay=5e-4)
    data = load_compare_data(cfg)
    subset = data.subset(0.5)
    for method in ("flips", "hsmix_gradcam+flips"):
        model, _ = build_run(METHODS[method], cfg, 0, data.train_images[subset], data.train_masks[subset])
        assert type(model.optimizer) is keras.optimizers.AdamW, method
        assert model.optimizer.weight_decay == pytest.approx(5e-4)


def test_train_rejects_a_negative_weight_decay_before_writing(tmp_path: Path) -> None:
    out = tmp_path / "run"
    config = TrainConfig(out=str(out), size=32, epochs=1, num_images=8, base_filters=4, depth=2,
                         n_segments=(20, 30), weight_decay=-1e-4)
    with pytest.raises(ValueError, match="weight_decay must be >= 0"):
        train(config, verbose=0)
    assert not out.exists()


def test_cli_passes_weight_decay_to_the_trainer_and_the_comparison() -> None:
    from keras_hsmix.cli import build_parser
    from keras_hsmix.cli.compare import config_from_args

    parser = build_parser()
    args = parser.parse_args(["train", "--weight-decay", "5e-4"])
    assert args.weight_decay == pytest.approx(5e-4)
    args = parser.parse_args(["compare", "--data", "synthetic", "--lr", "2e-3", "--weight-decay", "5e-4"])
    cfg = config_from_args(args)
    assert (cfg.learning_rate, cfg.weight_decay) == (2e-3, 5e-4)
    assert cfg.setting()["optimizer"] == "adamw" and cfg.setting()["weight_decay"] == 5e-4


def test_every_non_default_setting_is_named_in_the_tag() -> None:
    base = CompareConfig(data_dir="glas", epochs=400)
    assert base.tag() == "glas64px-400ep"
    changes = {"learning_rate": 2e-3, "weight_decay": 5e-4, "batch_size": 8, "base_filters": 16, "depth": 3,
               "p": 0.3, "val_fraction": 0.3, "split_seed": 1, "n_segments": (10, 20)}
    tags = {name: CompareConfig(data_dir="glas", epochs=400, **{name: value}).tag() for name, value in changes.items()}
    assert len(set(tags.values()) | {base.tag()}) == len(changes) + 1, tags
    assert tags["learning_rate"] == "glas64px-400ep-lr0.002" and tags["n_segments"] == "glas64px-400ep-seg10-20"
    # Quick mode compares with its own defaults, so the smoke study keeps its short name.
    assert CompareConfig.quick_config(data_dir=None).tag() == "synthetic64px-2ep-quick"


def test_a_stored_run_of_other_settings_is_refused_by_name(tmp_path: Path) -> None:
    cfg = CompareConfig.quick_config(data_dir=None, results_dir=str(tmp_path), methods=("none",))
    run_id = compare_run_id(cfg)
    stored = tmp_path / f"{run_id}.json"
    record = {"run_id": run_id, "setting": {**cfg.setting(), "learning_rate": 5e-3, "legacy_key": 1}}
    stored.write_text(json.dumps(record))
    before = stored.read_text()
    with pytest.raises(ValueError, match=r"learning_rate: stored 0.005, this comparison 0.001"):
        run_comparison(cfg, log=lambda s: None)
    assert stored.read_text() == before  # the stored run is left as it was
    check_settings(cfg, [])  # nothing stored: nothing to refuse
    stored.write_text(json.dumps({**record, "setting": {k: v for k, v in cfg.setting().items() if k != "p"}}))
    check_settings(cfg, [stored])  # a key an older record lacks is not compared


def compare_run_id(cfg: CompareConfig) -> str:
    return plan_runs(cfg)[0].run_id(cfg)
