"""The GlaS study in study/ (a user of keras_hsmix.runs.compare): plan order, nested subsets, corruptions, the
report and its statistics, and a resumable --quick smoke run."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from keras_hsmix.runs.compare import build_run, load_compare_data
from keras_hsmix.runs.lock import claim_run
from study import report, selection
from study.config import CORRUPTIONS, StudyConfig, corrupt, plan_runs
from study.methods import ABLATIONS, KEY_METHODS, METHODS, TABLE_METHODS
from study.run import main, run_study

# What the study writes and resumes, not how TensorFlow traces a step: fit runs eagerly (tests/conftest.py).
pytestmark = pytest.mark.eager


def test_methods_cover_the_issue() -> None:
    for base in ("cutmix", "mixup", "hard", "soft_static", "soft_gradcam", "hsmix_gradcam", "hsmix_static",
                 "randaugment", "augmix"):
        assert base in METHODS and f"{base}+flips" in METHODS
    assert "none" in METHODS and "flips" in METHODS
    assert METHODS["hard+flips"].probabilities == (1.0, 0.0, 0.0)
    assert METHODS["soft_gradcam"].probabilities == (0.0, 1.0, 0.0)


def test_balance_and_concat_ablations_reach_the_model() -> None:
    """``@mix0.5`` / ``@mix1`` set the clean-batch share, ``@hard0.5`` / ``@hard0.67`` the hard-mixed share and
    ``@concat`` the paper's concat mode of the HSMixModel."""
    cfg = StudyConfig(data_dir=None, size=16, base_filters=2, depth=1, n_segments=(4, 8), epochs=1)
    images = np.random.default_rng(0).random((4, 16, 16, 3)).astype(np.float32)
    masks = (images[..., :1] > 0.5).astype(np.int32)
    expected = {"hsmix_gradcam+flips@mix0.5": ((0.25, 0.25, 0.5), "random"),
                "hsmix_gradcam+flips@mix1": ((0.5, 0.5, 0.0), "random"),
                "hsmix_gradcam+flips@hard0.5": ((0.5, 0.25, 0.25), "random"),
                "hsmix_gradcam+flips@hard0.67": ((2 / 3, 1 / 6, 1 / 6), "random"),
                "hsmix_gradcam+flips@concat": ((1 / 3, 1 / 3, 1 / 3), "concat")}
    for name, (probabilities, mode) in expected.items():
        assert name in ABLATIONS
        model, dataset = build_run(METHODS[name], cfg, 0, images, masks)
        assert model.mixer.probabilities == pytest.approx(probabilities) and model.mixer.mode == mode
    assert name.endswith("@concat")  # the last one built trains
    history = model.fit(dataset, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])


def test_report_of_a_glas_study_starts_with_the_notes_file_when_present(tmp_path: Path) -> None:
    cfg = StudyConfig(data_dir=str(tmp_path / "glas"), results_dir=str(tmp_path / "results"),
                      report_dir=str(tmp_path / "docs"), fractions=(0.25,), seeds_25=1, methods=("flips",),
                      ablations=False)
    without = report.write_report(cfg, records=[]).read_text()
    assert "## Not yet run" in without and "Budget, by hand" not in without
    (tmp_path / "docs" / report.NOTES_FILE).write_text("## Budget, by hand\n\nnotes\n")
    text = report.write_report(cfg, records=[]).read_text()
    assert "## Budget, by hand\n\nnotes\n" in text and text.index("Budget, by hand") < text.index("## Command")


def test_per_image_report_names_the_images_a_method_loses_and_gains_on() -> None:
    names = ["1", "2", "3", "4"]

    def rec(scores: list[float]) -> dict:
        return {"test": {"dice": float(np.mean(scores)), "dice_per_image": scores}, "test_names": names}

    table = {("flips", 0): rec([0.5, 0.5, 0.5, 0.5]), ("hsmix_gradcam+flips", 0): rec([0.6, 0.4, 0.5, 0.9]),
             ("flips", 1): rec([0.5, 0.5, 0.5, 0.5]), ("hsmix_gradcam+flips", 1): rec([0.6, 0.2, 0.5, 0.7]),
             ("none", 0): {"test": {"dice": 0.3}}, ("cutmix+flips", 0): {"test": {"dice": 0.4}}}
    lines = selection.per_image_lines(table, ["flips", "hsmix_gradcam+flips", "none", "cutmix+flips"], [0, 1])
    rows = [line for line in lines if line.startswith("| hsmix")]
    # gaps (points): +10, -20, 0, +30 -> 2 of 4 better, median +5, worst image "2", best "4"
    assert rows == ["| hsmix_gradcam+flips | flips | 2 | 2/4 | +5.00 | 2 (-20.0), 3 (+0.0), 1 (+10.0) | "
                    "4 (+30.0), 1 (+10.0), 3 (+0.0) |"]
    assert not any(line.startswith(("| cutmix", "| none")) for line in lines)  # no per-image scores stored
    assert selection.per_image_lines({("flips", 0): rec([0.5] * 4)}, ["flips"], [0]) == []


def test_validation_selection_chooses_on_validation_and_scores_on_unseen_seeds() -> None:
    def rec(val: float, test: float) -> dict:
        return {"best_val_dice": val, "test": {"dice": test}}

    table = {}
    for s in range(8):
        table[("flips", s)] = rec(0.70, 0.70)
        # "@p0.3" has the best test scores on the selection seeds but a lower validation: it must not be chosen.
        table[("hsmix_gradcam+flips@p0.3", s)] = rec(0.71, 0.90)
        table[("hard+flips", s)] = rec(0.75, 0.70 if s < 3 else 0.72 + 0.01 * (s - 3))
    table[("mixup+flips", 0)] = rec(0.99, 0.99)  # not an HSMix variant: never a candidate
    table[("hsmix_gradcam+flips@segx2", 0)] = rec(0.99, 0.99)  # seeds 1-2 missing: not ranked
    candidates = selection.hsmix_variants(m for m, _ in table)
    result = selection.select_on_validation(table, candidates, select_seeds=range(3))
    assert result["chosen"] == "hard+flips"
    assert [m for m, _ in result["ranking"]] == ["hard+flips", "hsmix_gradcam+flips@p0.3"]
    assert result["eval_seeds_done"] == [3, 4, 5, 6, 7]
    np.testing.assert_allclose(result["gap"], [0.02, 0.03, 0.04, 0.05, 0.06])
    # The report states the choice and the unseen-seed gap; without unseen seeds it says what to run.
    lines = selection.validation_selection_lines(table)
    assert any("hard+flips − flips on seeds 5, 6, 7" in line and "3/3 seeds better" in line for line in lines)
    partial = {k: v for k, v in table.items() if k[1] < 5}
    assert any("not yet measured" in line and "--methods hard+flips flips" in line
               for line in selection.validation_selection_lines(partial))
    assert selection.select_on_validation({("flips", 0): rec(0.7, 0.7)}, ["hard+flips"]) is None


def test_plan_puts_key_methods_first_with_seeds_outermost() -> None:
    cfg = StudyConfig(fractions=(1.0, 0.25), seeds_25=2, seeds_other=1)
    runs = plan_runs(cfg)
    first = runs[: 2 * len(KEY_METHODS)]
    assert [r.method for r in first[: len(KEY_METHODS)]] == list(KEY_METHODS)
    assert {r.seed for r in first[: len(KEY_METHODS)]} == {0} and {r.seed for r in first[len(KEY_METHODS):]} == {1}
    assert all(r.fraction == 0.25 for r in runs[: len(runs) // 2])
    assert len({r.run_id(cfg) for r in runs}) == len(runs)
    assert any("@" in r.method for r in runs if r.fraction == 0.25)
    assert not any("@" in r.method for r in runs if r.fraction == 1.0)
    with pytest.raises(ValueError):
        plan_runs(StudyConfig(methods=("nope",)))


def test_subsets_are_nested_and_validation_is_held_out() -> None:
    cfg = StudyConfig(data_dir=None, size=16, num_synthetic=20)
    data = load_compare_data(cfg)
    assert len(data.val_images) == 4 and len(data.train_images) == 16
    small, half, full = (set(data.subset(f)) for f in (0.25, 0.5, 1.0))
    assert small < half < full and len(full) == 16
    assert data.train_masks.shape[-1] == 1 and set(np.unique(data.train_masks)) <= {0, 1}


def test_glas_test_images_are_named_by_file_stem_in_array_order(glas_dir: Path) -> None:
    from PIL import Image

    cfg = StudyConfig.quick_config(data_dir=str(glas_dir), size=32, max_train_images=8, max_test_images=12)
    data = load_compare_data(cfg)
    assert data.test_names == [str(i) for i in range(1, 13)]  # natural order: 2 before 10
    for i in (1, 9):  # array row i is the file named test_names[i] (masks compared, resized the same way)
        mask = np.asarray(Image.open(glas_dir / "test" / "masks" / f"{data.test_names[i]}.png")) > 0
        small = np.asarray(Image.fromarray(mask.astype(np.uint8) * 255).resize((32, 32), Image.NEAREST)) > 0
        agree = np.mean(small == (data.test_masks[i, ..., 0] > 0))
        others = [np.mean(small == (data.test_masks[j, ..., 0] > 0)) for j in range(12) if j != i]
        assert agree > max(others) and agree > 0.9


@pytest.mark.parametrize("kind", CORRUPTIONS)
def test_corruptions_keep_shape_and_range(kind: str) -> None:
    images = np.random.default_rng(0).random((2, 16, 16, 3)).astype(np.float32)
    out = corrupt(images, kind)
    assert out.shape == images.shape and out.dtype == np.float32
    assert 0.0 <= out.min() and out.max() <= 1.0 and not np.allclose(out, images)
    np.testing.assert_array_equal(out, corrupt(images, kind))


@pytest.mark.slow
def test_quick_study_writes_results_and_report_and_resumes(tmp_path: Path) -> None:
    cfg = StudyConfig.quick_config(data_dir=None, results_dir=str(tmp_path / "results"),
                                   report_dir=str(tmp_path / "docs"), methods=("none", "hsmix_gradcam+flips"),
                                   epochs=2, size=32, n_segments=(10, 20), command="python -m study --quick")
    logs: list[str] = []
    summary = run_study(cfg, log=logs.append)
    assert len(summary["trained"]) == 2 and not summary["skipped"]
    files = sorted((tmp_path / "results").glob("*.json"))
    assert [f.stem for f in files] == sorted(summary["trained"])
    record = json.loads(files[0].read_text())
    for key in ("config", "setting", "history", "test", "validation", "robustness", "seed", "versions", "device"):
        assert key in record or key == "config"
    assert len(record["history"]["val_dice"]) == 2
    assert set(record["robustness"]) == set(CORRUPTIONS)
    assert 0.0 <= record["test"]["dice"] <= 1.0
    per_image = record["test"]["dice_per_image"]  # per test image, named, averaging to the reported DSC
    assert len(per_image) == len(record["test_names"]) == record["n_test"]
    assert np.mean(per_image) == pytest.approx(record["test"]["dice"], abs=1e-4)
    assert record["test_names"][0] == "synthetic_0"
    text = (tmp_path / "docs" / "results.md").read_text()
    assert "| hsmix_gradcam+flips | 1 |" in text and "python -m study --quick" in text
    assert (tmp_path / "docs" / "results_dsc.png").stat().st_size > 0
    assert (tmp_path / "docs" / "results_curves.png").stat().st_size > 0

    again = run_study(cfg, log=logs.append)  # resumable: finished runs are skipped
    assert again["trained"] == [] and sorted(again["skipped"]) == sorted(summary["trained"])

    # Paired comparisons rely on it: the same method and seed, trained again in another results folder (from
    # whatever global random state the runs above left), give the same run: data draws, mixes, weights.
    repeat = replace(cfg, results_dir=str(tmp_path / "repeat"), methods=("hsmix_gradcam+flips",), robustness=False)
    (run_id,) = run_study(repeat, report=False)["trained"]
    history = json.loads((tmp_path / "repeat" / f"{run_id}.json").read_text())["history"]
    first = json.loads((tmp_path / "results" / f"{run_id}.json").read_text())["history"]
    assert history["val_dice"] == first["val_dice"] and history["loss"] == first["loss"]


def test_runs_claimed_by_a_live_process_are_left_to_it_and_dead_claims_taken_over(tmp_path: Path) -> None:
    import os
    import socket
    import subprocess
    import sys

    cfg = StudyConfig.quick_config(data_dir=None, results_dir=str(tmp_path / "results"),
                                   report_dir=str(tmp_path / "docs"), methods=("none", "flips"), epochs=1, size=32)
    none_id, flips_id = (r.run_id(cfg) for r in plan_runs(cfg))
    results = tmp_path / "results"
    results.mkdir()
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    try:
        (results / f"{none_id}.claim").write_text(f"{socket.gethostname()} {sleeper.pid}")  # another live study
        (results / f"{flips_id}.claim").write_text(f"{socket.gethostname()} {dead.pid}")  # a killed study
        summary = run_study(cfg, log=lambda _: None, report=False)
    finally:
        sleeper.kill()
    assert summary["trained"] == [flips_id]
    assert not (results / f"{none_id}.json").exists() and (results / f"{none_id}.claim").exists()
    assert not (results / f"{flips_id}.claim").exists()  # released after the run
    assert claim_run(results / "x.claim") and not claim_run(results / "x.claim")
    assert os.path.exists(results / "x.claim")


def test_python_m_study_lists_the_plan(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    code = main(["list", "--quick", "--data", "synthetic", "--methods", "none", "flips",
                 "--results-dir", str(tmp_path)])
    assert code == 0
    out = capsys.readouterr().out.split()
    assert out.count("todo") == 2


def test_python_m_study_report_rewrites_the_report_with_its_regenerate_command(tmp_path: Path) -> None:
    code = main(["report", "--quick", "--data", "synthetic", "--results-dir", str(tmp_path / "r"),
                 "--docs-dir", str(tmp_path / "d")])
    assert code == 0
    text = (tmp_path / "d" / "results.md").read_text()
    assert "Not yet run" in text and "`python -m study report --quick --data synthetic" in text
    assert "Last command run" not in text  # a report-only command is not a run


def test_python_m_study_runs_as_a_module_from_the_repository_root() -> None:
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[2]
    done = subprocess.run([sys.executable, "-m", "study", "--help"], cwd=root, capture_output=True, text=True)
    assert done.returncode == 0 and "report" in done.stdout and "summarize" in done.stdout


def test_absolute_paths_of_recorded_commands_are_written_relative_to_the_repository() -> None:
    outside = report.ROOT.parent / "shared" / "datasets" / "glas"
    assert report.relative_command(f"python -m study --data {outside} --epochs 400") == \
        "python -m study --data ../shared/datasets/glas --epochs 400"
    assert report.relative_command("python -m study --data ../x") == "python -m study --data ../x"


def test_coverage_lines_count_the_seeds_of_every_method_and_fraction() -> None:

    recs = [{"method": m, "fraction": f, "seed": s} for m in TABLE_METHODS for f, n in ((0.25, 5), (1.0, 3))
            for s in range(n)]
    recs = [r for r in recs if not (r["method"] == "augmix" and r["fraction"] == 1.0 and r["seed"] == 2)]
    recs.append({"method": "hsmix_gradcam+flips@p0.3", "fraction": 0.25, "seed": 0})  # ablations are not cells
    lines = selection.coverage_lines(recs)
    assert "39 of 40 cells complete" in lines[0]
    assert "| augmix | 5 | **2** of 3 |" in lines and "| flips | 5 | 3 |" in lines
    assert not any("@p0.3" in line for line in lines)
    assert selection.coverage_lines([r for r in recs if r["fraction"] == 0.25]) == []  # one fraction: no table to complete


def test_optimizer_settings_are_chosen_on_validation_per_method_and_compared_paired() -> None:
    def rec(method: str, seed: int, tag: str, lr: float, val: float, test: float, size: int = 64) -> dict:
        setting = {"size": size, "epochs": 400, "learning_rate": lr, "optimizer": "adam", "weight_decay": 0.0,
                   "lr_schedule": "constant"}
        return {"run_id": f"{tag}-{method}-s{seed}", "tag": tag, "method": method, "seed": seed, "fraction": 0.25,
                "device": "cpu:2 cores", "setting": setting, "best_val_dice": val, "test": {"dice": test}}

    records = []
    for s in range(7):
        # flips validates best at lr 1e-3 although it tests best at 5e-4: the choice must follow validation.
        records += [rec("flips", s, "g-lr1e-3", 1e-3, 0.75, 0.70), rec("flips", s, "g-lr5e-4", 5e-4, 0.70, 0.90)]
        # HSMix validates best at 5e-4; its test gap to flips at 1e-3 is +0.01 * seed.
        records += [rec("hsmix_gradcam+flips", s, "g-lr1e-3", 1e-3, 0.76, 0.0),
                    rec("hsmix_gradcam+flips", s, "g-lr5e-4", 5e-4, 0.80, 0.70 + 0.01 * s)]
        # Same optimizer settings at another size: a separate comparison, never mixed with the 64 px runs.
        records.append(rec("flips", s, "h-lr1e-3", 1e-3, 0.99, 0.99, size=128))
    records.append(rec("mixup+flips", 0, "g-lr1e-3", 1e-3, 0.99, 0.99))  # one setting only: no choice to make
    rows = selection.select_training_settings(records)
    by_method = {row["method"]: row for row in rows}
    assert set(by_method) == {"flips", "hsmix_gradcam+flips"}
    assert by_method["flips"]["chosen"] == "g-lr1e-3"
    hsmix = by_method["hsmix_gradcam+flips"]
    assert hsmix["chosen"] == "g-lr5e-4" and hsmix["reference_chosen"] == "g-lr1e-3"
    assert [tag for tag, _, _ in hsmix["ranking"]] == ["g-lr5e-4", "g-lr1e-3"]
    np.testing.assert_allclose(hsmix["gap"], [0.01 * s for s in range(7)], atol=1e-12)
    assert hsmix["fresh_seeds"] == [5, 6]
    np.testing.assert_allclose(hsmix["fresh_gap"], [0.05, 0.06], atol=1e-12)
    text = "\n".join(selection.training_selection_lines(records))
    assert "Adam lr 0.0005: 0.8000; Adam lr 0.001: 0.7600" in text
    assert "| hsmix_gradcam+flips |" in text and "+3.00 ± 2.16" in text and "(2/2 better)" in text
    # Fewer than five seeds under one of the settings: nothing to choose between yet.
    assert selection.training_selection_lines([r for r in records if r["seed"] < 4]) == []
