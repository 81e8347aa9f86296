"""``keras-hsmix compare``: a general comparison on the built-in data or any folder, its paired table, its
resume command and its checks (the study in study/ builds on the same machinery)."""

from __future__ import annotations

import json
import shlex
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from keras_hsmix.cli import build_parser, main
from keras_hsmix.cli.compare import config_from_args
from keras_hsmix.runs.compare import CompareConfig, load_compare_data, paired_table, plan_runs

# What a comparison plans, prints and writes, not how TensorFlow traces a step: fit runs eagerly
# (tests/conftest.py).
pytestmark = pytest.mark.eager


def _folder(root: Path, n: int = 12, size: int = 40, suffix: str = "_mask") -> Path:
    """A folder dataset: images/<i>.png and masks/<i><suffix>.png (a bright disc on a dark image, mask 0/255)."""
    rng = np.random.default_rng(0)
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    yy, xx = np.mgrid[:size, :size]
    for i in range(n):
        cy, cx, r = rng.integers(10, size - 10, 2).tolist() + [int(rng.integers(5, 10))]
        disc = (yy - cy) ** 2 + (xx - cx) ** 2 < r * r
        image = (rng.random((size, size, 3)) * 60 + disc[..., None] * 150).astype(np.uint8)
        Image.fromarray(image).save(root / "images" / f"{i}.png")
        Image.fromarray((disc * 255).astype(np.uint8)).save(root / "masks" / f"{i}{suffix}.png")
    return root


def _config(argv: list[str]) -> CompareConfig:
    return config_from_args(build_parser().parse_args(["compare", *argv]))


@pytest.mark.slow
def test_quick_on_the_built_in_data_prints_the_paired_table_and_writes_report_and_plot(
        tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "cmp"
    code = main(["compare", "--quick", "--methods", "flips", "hsmix_gradcam+flips", "--out", str(out), "-q"])
    assert code == 0
    printed, errors = capsys.readouterr()
    # -q: only the final summary, no per-run lines and no SLIC progress bars (HSMix's runs cache superpixels).
    assert "[1/2]" not in printed and "SLIC" not in errors, errors
    assert "| fraction | method | vs | seeds | test DSC | gap to vs (points ×100) | seeds better |" in printed
    row = next(line for line in printed.splitlines() if line.startswith("| 100% | hsmix_gradcam+flips |"))
    assert row.split("|")[3].strip() == "flips" and row.split("|")[4].strip() == "1"
    assert "resume or complete: keras-hsmix compare --quick --data synthetic" in printed
    records = sorted((out / "results").glob("*.json"))
    assert [r.stem for r in records] == ["synthetic64px-2ep-quick-f100-flips-s0",
                                         "synthetic64px-2ep-quick-f100-hsmix_gradcam+flips-s0"]
    record = json.loads(records[0].read_text())
    assert record["setting"]["data"] == "synthetic" and "robustness" not in record
    report = (out / "synthetic64px-2ep-quick.md").read_text()
    assert report.startswith("# Augmentation comparison on synthetic") and "Adam lr 0.001" in report
    assert (out / "synthetic64px-2ep-quick.png").stat().st_size > 0
    # Resumable: the same command finds both runs done and trains nothing.
    assert main(["compare", "--quick", "--methods", "flips", "hsmix_gradcam+flips", "--out", str(out)]) == 0
    assert "trained 0, skipped 2, left 0" in capsys.readouterr().out


@pytest.mark.slow
def test_quick_on_a_folder_with_mask_suffixed_masks(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    data = _folder(tmp_path / "Lesions-2", n=12)
    out = tmp_path / "cmp"
    code = main(["compare", "--quick", "--data", str(data), "--mask-suffix", "_mask", "--mask-mode", "threshold",
                 "--methods", "none", "flips", "--out", str(out)])
    assert code == 0
    printed = capsys.readouterr().out
    assert "| 100% | flips | none | 1 |" in printed
    record = json.loads(next((out / "results").glob("lesions264px-2ep-quick-f100-flips-s0.json")).read_text())
    assert record["setting"]["data"] == "lesions2" and record["setting"]["mask_suffix"] == "_mask"
    # A single folder: a test split (20 %) is held out first, then validation (20 % of the rest).
    assert (record["n_test"], record["n_val"], record["n_train"]) == (2, 2, 8)
    assert (out / "lesions264px-2ep-quick.md").read_text().startswith("# Augmentation comparison on lesions2")


def test_a_single_folder_holds_out_test_images_by_name_and_never_trains_on_them(tmp_path: Path) -> None:
    data = _folder(tmp_path / "d", n=20)
    cfg = CompareConfig(data_dir=str(data), mask_suffix="_mask", mask_mode="threshold", size=32)
    split = load_compare_data(cfg)
    assert len(split.test_images) == 4 and len(split.val_images) == 3 and len(split.train_images) == 13
    assert len(set(split.test_names)) == 4 and set(split.test_names) <= {str(i) for i in range(20)}
    # With --test-data, that folder is the test split and nothing is held out of --data.
    test = _folder(tmp_path / "t", n=5)
    both = load_compare_data(CompareConfig(data_dir=str(data), test_dir=str(test), mask_suffix="_mask",
                                           mask_mode="threshold", size=32))
    assert len(both.test_images) == 5 and len(both.train_images) + len(both.val_images) == 20


@pytest.mark.parametrize("argv", [
    ["--quick"],
    ["--quick", "--methods", "none", "mixup+flips", "--lr", "2e-3", "--weight-decay", "5e-4", "--name", "kv"],
    ["--seeds", "5", "--fractions", "0.25", "1", "--epochs", "40", "--size", "96", "--base-filters", "4",
     "--depth", "3", "--n-segments", "20", "40", "--lr-schedule", "cosine", "--p", "0.3", "--batch-size", "8",
     "--val-fraction", "0.25", "--split-seed", "2", "--num-classes", "3", "--channels", "1"],
])
def test_the_resume_command_plans_exactly_the_same_comparison(argv: list[str], tmp_path: Path) -> None:
    cfg = _config([*argv, "--out", str(tmp_path / "o")])
    words = shlex.split(cfg.command)
    assert words[:2] == ["keras-hsmix", "compare"]
    again = _config(words[2:])
    assert asdict(again) == asdict(cfg)
    assert [r.run_id(again) for r in plan_runs(again)] == [r.run_id(cfg) for r in plan_runs(cfg)]


def test_one_seed_count_for_every_fraction() -> None:
    cfg = _config(["--seeds", "3", "--fractions", "0.1", "0.5", "1"])
    runs = plan_runs(cfg)
    assert {f: sorted({r.seed for r in runs if r.fraction == f}) for f in (0.1, 0.5, 1.0)} == \
        {0.1: [0, 1, 2], 0.5: [0, 1, 2], 1.0: [0, 1, 2]}


@pytest.mark.parametrize("argv, message", [
    (["--quick", "--epochs", "150"], "--quick sets the budget itself"),
    (["--quick", "--seeds", "3", "--size", "96"], "drop --size, --seeds"),
    (["--methods", "nope"], "unknown methods ['nope']"),
    (["--mask-suffix", "_mask"], "apply to a --data folder only"),
    (["--data", "no/such/folder"], "--data: no folder"),
])
def test_refused_options_write_nothing(argv: list[str], message: str, tmp_path: Path,
                                       capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "o"
    assert main(["compare", *argv, "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("keras-hsmix compare: error:") and message in err
    assert not out.exists()


def test_data_synthetic_beside_a_folder_called_synthetic_is_refused_as_ambiguous(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    monkeypatch.chdir(tmp_path)
    assert _config(["--data", "synthetic", "--quick"]).data_dir is None  # no such folder: the built-in data
    _folder(tmp_path / "synthetic", n=4)
    assert main(["compare", "--data", "synthetic", "--quick", "--out", "o"]) == 2
    assert "a folder called synthetic is here too: --data ./synthetic for that folder" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()
    assert _config(["--data", "./synthetic", "--quick"]).data_dir == "./synthetic"
    assert _config(["--quick"]).data_dir is None


def test_paired_table_pairs_each_method_with_its_reference_by_seed() -> None:
    def rec(method: str, seed: int, dice: float) -> dict:
        return {"method": method, "seed": seed, "fraction": 0.5, "test": {"dice": dice}}

    records = [rec("none", 0, 0.50), rec("none", 1, 0.60), rec("flips", 0, 0.55), rec("flips", 1, 0.58),
               rec("cutmix+flips", 0, 0.50), rec("cutmix+flips", 1, 0.60), rec("cutmix+flips", 2, 0.99)]
    rows = {line.split("|")[2].strip(): line for line in paired_table(records)[2:]}
    assert rows["none"] == "| 50% | none | – | 2 | 0.5500 ± 0.0707 | – | – |"
    assert rows["flips"] == "| 50% | flips | none | 2 | 0.5650 ± 0.0212 | +1.50 ± 4.95 | 1/2 |"
    # seed 2 has no reference run: it is not paired
    assert rows["cutmix+flips"].endswith("| flips | 3 | 0.6967 ± 0.2589 | -1.50 ± 4.95 | 1/2 |")
