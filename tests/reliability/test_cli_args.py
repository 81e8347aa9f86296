"""Issue 27's command-line cases: bad arguments are refused by the parser, in the CLI's words, before anything is
read or written (no run folder, no config.json), with exit status 2."""

from __future__ import annotations

import pytest

from keras_hsmix.cli import main

#: Small, valid settings; each case below spoils one of them.
TRAIN = ["--size", "32", "--num-images", "8", "--epochs", "1", "--base-filters", "4", "--depth", "2",
         "--n-segments", "20", "30", "-q"]


def _refused(capsys, argv: list[str]) -> str:
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    return capsys.readouterr().err


@pytest.mark.parametrize("epochs", ["0", "-1"])
def test_train_refuses_zero_or_negative_epochs(tmp_path, capsys, epochs):
    # Issue 27 #3: --epochs 0 used to exit 0 and export an untrained model.
    out = tmp_path / "run"
    err = _refused(capsys, ["train", "--out", str(out), *TRAIN, "--epochs", epochs])
    assert "--epochs" in err and "expected an integer >= 1" in err
    assert not out.exists()


@pytest.mark.parametrize("values", [["10", "20", "999"], ["30", "20"]])
def test_train_refuses_n_segments_other_than_n_or_low_high(tmp_path, capsys, values):
    # Issue 27 #4: "--n-segments 10 20 999" kept 10 and 999 and dropped 20 without a word.
    out = tmp_path / "run"
    err = _refused(capsys, ["train", "--out", str(out), *TRAIN, "--n-segments", *values])
    assert "--n-segments" in err and ("N or LOW HIGH" in err or "LOW must be <= HIGH" in err)
    assert not out.exists()


@pytest.mark.parametrize("pairs", ["0", "-2"])
def test_preview_refuses_zero_pairs(tmp_path, capsys, pairs):
    # Issue 27 #5: --pairs 0 was read as "not given" and drew 16 pairs.
    out = tmp_path / "p.png"
    err = _refused(capsys, ["preview", "--out", str(out), "--pairs", pairs])
    assert "--pairs" in err and "expected an integer >= 1" in err
    assert not out.exists()


@pytest.mark.parametrize("flag, value", [
    ("--batch-size", "0"), ("--batch-size", "x"), ("--n-segments", "0"), ("--depth", "0"), ("--depth", "-2"),
    ("--base-filters", "0"), ("--num-images", "0"), ("--num-images", "1"), ("--lr", "0"), ("--lr", "nan"),
    ("--size", "0"), ("--size", "30"), ("--weight-decay", "-1"), ("--color-jitter", "-1"), ("--seed", "-1"),
    ("--num-classes", "1"),
])
def test_train_refuses_bad_values_before_writing_anything(tmp_path, capsys, flag, value):
    # Issue 27 #9: these used to be refused only after the run folder and its config.json were written.
    out = tmp_path / "run"
    err = _refused(capsys, ["train", "--out", str(out), *TRAIN, flag, value])
    assert flag in err, err
    # argparse's refusals and the checks after parsing alike: the subcommand's usage and name
    assert err.startswith("usage: keras-hsmix train ") and "\nkeras-hsmix train: error: " in err, err
    assert not out.exists()


def test_train_refuses_an_out_that_is_a_file_before_loading_data(tmp_path, capsys):
    # Issue 27 #10: a FileExistsError traceback after the data was loaded. The data folder here does not exist:
    # the --out error comes first, so nothing was read.
    out = tmp_path / "taken"
    out.write_text("a file")
    err = _refused(capsys, ["train", "--out", str(out), "--data", str(tmp_path / "missing"), *TRAIN])
    assert f"--out {out}: exists and is not a folder" in err and "Traceback" not in err
    assert out.read_text() == "a file"
    nested = out / "run"  # a folder inside that file
    err = _refused(capsys, ["train", "--out", str(nested), *TRAIN])
    assert "is a file, not a folder" in err


def test_preview_refuses_an_out_that_is_a_folder(tmp_path, capsys):
    err = _refused(capsys, ["preview", "--out", str(tmp_path), "--pairs", "1"])
    assert "--out" in err and "is a folder" in err


def test_train_refuses_a_missing_test_folder_before_training(tmp_path, capsys):
    # --test-data is read after training: a typo used to cost the whole run before it was reported.
    out = tmp_path / "run"
    err = _refused(capsys, ["train", "--out", str(out), *TRAIN, "--test-data", str(tmp_path / "typo")])
    assert "--test-data" in err and "not a folder" in err
    assert not out.exists()


@pytest.mark.parametrize("flag, value", [
    ("--seeds", "0"), ("--fractions", "0"), ("--fractions", "1.5"), ("--epochs", "0"), ("--size", "30"),
    ("--size", "8"), ("--num-classes", "1"), ("--base-filters", "0"), ("--depth", "0"), ("--batch-size", "0"),
    ("--lr", "-1"), ("--lr", "nan"), ("--weight-decay", "-1"), ("--p", "2"), ("--val-fraction", "1"),
    ("--test-fraction", "0"), ("--split-seed", "-1"), ("--max-runs", "0"), ("--hours", "-1"), ("--threads", "-1"),
])
def test_compare_refuses_bad_values_before_writing_anything(tmp_path, capsys, flag, value):
    # They used to be taken as given: "--batch-size 0" planned runs with batches of 0, "--p 2" a probability of 2.
    out = tmp_path / "compare"
    err = _refused(capsys, ["compare", "--list", "--out", str(out), flag, value])
    assert flag in err, err
    assert not out.exists()


def test_compare_refuses_n_segments_out_of_order_and_a_size_the_unet_cannot_halve(tmp_path, capsys):
    out = tmp_path / "compare"
    err = _refused(capsys, ["compare", "--list", "--out", str(out), "--n-segments", "40", "20"])
    assert "LOW must be <= HIGH" in err
    err = _refused(capsys, ["compare", "--list", "--out", str(out), "--size", "48", "--depth", "5"])
    assert "--size 48 is not divisible by 2**--depth = 32" in err
    assert not out.exists()


@pytest.mark.parametrize("extra", [["--mask-mode", "values"], ["--mask-suffix", "_mask"], ["--label-values", "0", "1"]])
def test_train_refuses_folder_options_on_the_built_in_data(tmp_path, capsys, extra):
    # They were ignored without a word: the built-in data has its own binary class-id masks.
    out = tmp_path / "run"
    err = _refused(capsys, ["train", "--out", str(out), *TRAIN, *extra])
    assert "apply to a --data folder only" in err, err
    assert not out.exists()


def test_label_values_must_list_one_value_per_class(tmp_path, capsys):
    # --num-classes 3 with two --label-values trained a 3-class model on masks that never hold class 2.
    import numpy as np
    from PIL import Image

    from keras_hsmix.data import load_arrays

    for sub in ("images", "masks"):
        (tmp_path / "d" / sub).mkdir(parents=True)
    for i in range(2):
        Image.fromarray(np.full((16, 16, 3), 50 * i, np.uint8)).save(tmp_path / "d" / "images" / f"{i}.png")
        Image.fromarray(np.full((16, 16), 255 * i, np.uint8)).save(tmp_path / "d" / "masks" / f"{i}.png")
    with pytest.raises(ValueError, match=r"label_values lists 2 value\(s\), one per class, but num_classes=3"):
        load_arrays(str(tmp_path / "d"), 16, None, "values", 0, label_values=[0, 255], num_classes=3)
    _, masks = load_arrays(str(tmp_path / "d"), 16, None, "values", 0, label_values=[0, 255], num_classes=2)
    assert sorted(np.unique(masks)) == [0, 1]
    out = tmp_path / "run"
    code = main(["train", "--data", str(tmp_path / "d"), "--out", str(out), *TRAIN, "--mask-mode", "values",
                 "--label-values", "0", "255", "--num-classes", "3"])
    assert code == 2
    assert "--label-values lists 2 value(s), one per class, but --num-classes 3" in capsys.readouterr().err
    assert not out.exists()
