"""Per-epoch, per-image traces of a study run (diagnosis tool)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from keras_hsmix.runs.compare import RunSpec, load_compare_data
from study.config import StudyConfig
from study.run import main
from study.trace import summary_line, trace_run, write_trace

# What the traces record, not how TensorFlow traces a step: fit runs eagerly (tests/conftest.py).
pytestmark = pytest.mark.eager


def _cfg(tmp_path: Path, epochs: int = 3) -> StudyConfig:
    return StudyConfig.quick_config(data_dir=None, results_dir=str(tmp_path / "results"),
                                    report_dir=str(tmp_path / "docs"), epochs=epochs, size=32,
                                    num_synthetic=12, max_test_images=4, n_segments=(8, 16))


def test_trace_records_every_k_epochs_and_the_last_and_matches_keras_validation(tmp_path: Path) -> None:
    # HSMixModel (Grad-CAM), the study's method; a plain Keras model goes through the same trace callback (the
    # compare runner's training), and test_trace_script_on_synthetic_data traces another mixing method.
    method = "hsmix_gradcam+flips"
    cfg = _cfg(tmp_path)
    data = load_compare_data(cfg)
    rows: list[int] = []
    trace = trace_run(RunSpec(method, 0.5, 0), cfg, data, every=2, on_row=lambda row, t: rows.append(row["epoch"]))
    assert [r["epoch"] for r in trace["epochs"]] == [2, 3] == rows
    for row in trace["epochs"]:
        for split, n in (("val", len(data.val_images)), ("test", len(data.test_images))):
            assert len(row[split]["dice"]) == len(row[split]["foreground"]) == n
            assert all(0.0 <= v <= 1.0 for v in row[split]["dice"] + row[split]["foreground"])
        # Keras' val_dice of the epoch (per-image average) is the mean of the traced per-image scores.
        assert row["val_dice"] == pytest.approx(np.mean(row["val"]["dice"]), abs=2e-3)
    assert len(trace["test_names"]) == len(trace["test_foreground"]) == len(data.test_images)
    assert trace["run_id"] == RunSpec(method, 0.5, 0).run_id(cfg)


def test_trace_rejects_bad_arguments(tmp_path: Path) -> None:
    cfg = _cfg(tmp_path, epochs=1)
    data = load_compare_data(cfg)
    with pytest.raises(ValueError, match="every must be >= 1"):
        trace_run(RunSpec("flips", 0.5, 0), cfg, data, every=0)
    with pytest.raises(ValueError, match="unknown method 'cutmiks'"):
        trace_run(RunSpec("cutmiks", 0.5, 0), cfg, data)


def test_summary_line_counts_failed_images_and_their_foreground() -> None:
    row = {"epoch": 10, "val_dice": 0.5, "test": {"dice": [0.05, 0.9, 0.1], "foreground": [0.0, 0.5, 0.1]}}
    line = summary_line(row, [0.6, 0.5, 0.4])
    assert "test images < 0.2: 2" in line and "predicted fg 0.05 of true 0.50" in line
    assert "test images < 0.2: 0" in summary_line({**row, "test": {"dice": [0.9], "foreground": [0.5]}}, [0.5])


def test_write_trace_is_atomic_json(tmp_path: Path) -> None:
    path = write_trace({"run_id": "r", "epochs": []}, tmp_path / "traces")
    assert path.name == "r.trace.json" and json.loads(path.read_text()) == {"run_id": "r", "epochs": []}
    assert not list((tmp_path / "traces").glob("*.tmp"))


def test_trace_script_on_synthetic_data(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    # In-process: `python -m study` itself runs in tests/study/test_compare.py.
    assert main(["trace", "--data", "synthetic", "--quick", "--methods", "hard+flips", "--seed", "1", "--every", "1",
                 "--out", str(tmp_path / "traces")]) == 0
    out = capsys.readouterr().out
    assert "epoch    1  val DSC" in out and "epoch    2  val DSC" in out
    trace = json.loads(next((tmp_path / "traces").glob("*-hard+flips-s1.trace.json")).read_text())
    assert [r["epoch"] for r in trace["epochs"]] == [1, 2] and trace["seed"] == 1


def test_trace_script_needs_methods(capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["trace", "--data", "synthetic"])
    assert exit_info.value.code == 2 and "--methods" in capsys.readouterr().err


def _toy_trace() -> dict:
    return {"run_id": "toy", "test_names": ["1", "2", "3"], "test_foreground": [0.6, 0.5, 0.2],
            "epochs": [{"epoch": e, "val_dice": 0.5 + e / 100,
                        "test": {"dice": [0.0, 0.2, 0.8 + e / 100], "foreground": [0.0, 0.1, 0.2]}}
                       for e in (5, 10)]}


def test_group_curve_separates_the_named_images_from_the_rest() -> None:
    from study.trace import group_curve

    curve = group_curve(_toy_trace(), ["1", "2"])
    assert curve["epoch"] == [5, 10] and curve["dice"] == [0.1, 0.1]
    assert curve["rest_dice"] == [0.85, 0.9] and curve["foreground"] == [0.05, 0.05]
    assert curve["true_foreground"] == 0.55
    with pytest.raises(ValueError, match=r"test images \['9'\] are not in the trace"):
        group_curve(_toy_trace(), ["1", "9"])


def test_trace_script_summarizes_a_written_trace(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    path = write_trace(_toy_trace(), tmp_path)
    assert main(["summarize", str(path), "--images", "1", "2"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert "images 1 2 (true foreground 0.55)" in lines[0]
    assert lines[-1].split() == ["10", "0.600", "0.100", "0.050", "0.900"]
    with pytest.raises(SystemExit) as exit_info:
        main(["summarize", str(tmp_path / "nope.json"), "--images", "1"])
    assert exit_info.value.code == 2 and "no trace file" in capsys.readouterr().err
