"""keras-hsmix preview writes a PNG grid."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from keras_hsmix.cli import main


def test_preview_builtin(tmp_path):
    out = tmp_path / "preview.png"
    assert main(["preview", "--out", str(out), "--size", "64", "--n-segments", "30", "--pairs", "1"]) == 0
    image = np.asarray(Image.open(out))
    assert image.ndim == 3 and image.shape[1] > image.shape[0]


def test_preview_glas(tmp_path, glas_dir):
    out = tmp_path / "glas.png"
    assert main(["preview", "--data", str(glas_dir / "train"), "--out", str(out), "--size", "96", "--pairs", "1"]) == 0
    assert out.stat().st_size > 10_000


def test_preview_missing_folder(tmp_path, capsys):
    assert main(["preview", "--data", str(tmp_path / "nope"), "--out", str(tmp_path / "x.png")]) == 2
    assert "nope" in capsys.readouterr().err


def test_train_rejects_a_negative_colour_jitter_before_writing_anything(tmp_path, capsys):
    # Training with a colour jitter, the files of a run and the refusal to overwrite a finished run are checked
    # on the real command line in tests/test_cli_quiet.py.
    bad = tmp_path / "bad"
    with pytest.raises(SystemExit) as exit_info:  # refused by the parser, before anything is written
        main(["train", "--out", str(bad), "--color-jitter", "-1", "--epochs", "1", "--size", "32", "-q"])
    assert exit_info.value.code == 2 and not bad.exists()
    assert "--color-jitter: expected a number >= 0, got '-1'" in capsys.readouterr().err


def _write_pairs(root, pairs, mask_suffix=""):
    """A data folder: ``images/<stem>.png`` and ``masks/<stem><mask_suffix>.png`` for each (stem, image, mask)."""
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    for stem, image, mask in pairs:
        Image.fromarray(image).save(root / "images" / f"{stem}.png")
        Image.fromarray(mask).save(root / "masks" / f"{stem}{mask_suffix}.png")
    return root


def _multiclass_folder(root, n=8, size=24):
    """Images with masks that store class ids 0, 1, 2, named '<stem>_mask.png' as many datasets do."""
    rng = np.random.default_rng(0)
    mask = np.zeros((size, size), np.uint8)
    mask[: size // 2, : size // 2] = 1
    mask[size // 2 :, size // 2 :] = 2
    pairs = [(f"case{i}", (rng.random((size, size, 3)) * 60 + mask[..., None] * 60).astype(np.uint8), mask)
             for i in range(n)]
    return _write_pairs(root, pairs, mask_suffix="_mask")


@pytest.mark.eager
def test_train_on_a_multiclass_folder_with_mask_values_and_suffix(tmp_path, capsys):
    import json

    data = _multiclass_folder(tmp_path / "data")
    base = ["--data", str(data), "--epochs", "1", "--size", "24", "--num-classes", "3", "--base-filters", "4",
            "--depth", "1", "--n-segments", "10", "20", "-q", "--mask-suffix", "_mask"]
    # Binary mask modes with three classes would train on two: refused before anything is written.
    wrong = tmp_path / "wrong"
    assert main(["train", "--out", str(wrong), *base]) == 2
    err = capsys.readouterr().err  # in the CLI's words: flags, not the library's Python arguments
    assert "--mask-mode nonzero makes binary masks" in err and "mask_mode=" not in err and not wrong.exists()

    out = tmp_path / "run"
    assert main(["train", "--out", str(out), "--mask-mode", "values", "--no-export", *base]) == 0
    config = json.loads((out / "config.json").read_text())
    assert (config["mask_mode"], config["label_values"], config["mask_suffix"]) == ("values", None, "_mask")
    assert config["export"] is False and not (out / "saved_model").exists()  # --no-export: no SavedModel
    assert "SavedModel" not in capsys.readouterr().out
    results = json.loads((out / "results.json").read_text())
    assert 0.0 <= results["validation"]["dice"] <= 1.0

    # Values that are not the classes' raw mask values name the file and the values.
    bad = tmp_path / "bad"
    assert main(["train", "--out", str(bad), "--mask-mode", "values", "--label-values", "0", "1", "5", *base]) == 2
    assert "case" in capsys.readouterr().err and not bad.exists()


def test_preview_with_mask_values(tmp_path, capsys):
    data = _multiclass_folder(tmp_path / "data", n=2, size=32)
    out = tmp_path / "p.png"
    args = ["preview", "--data", str(data), "--out", str(out), "--size", "32", "--pairs", "1", "--n-segments", "10",
            "--mask-suffix", "_mask", "--mask-mode", "values"]
    with pytest.raises(SystemExit) as exit_info:
        main(args)
    assert exit_info.value.code == 2 and "--label-values" in capsys.readouterr().err
    assert main([*args, "--label-values", "0", "1", "2"]) == 0 and out.exists()
    # --num-classes as for train: class-id masks need no --label-values; the mismatches are refused
    out.unlink()
    assert main([*args, "--num-classes", "3"]) == 0 and out.exists()
    out.unlink()
    for extra, message in ((["--num-classes", "2"], "values not in --label-values: 2 (--label-values 0 1)"),
                           (["--label-values", "0", "1", "2", "--num-classes", "4"], "lists 3 value(s)"),
                           (["--mask-mode", "nonzero", "--num-classes", "3"], "makes binary masks")):
        try:
            code = main([*args, *extra])
        except SystemExit as exit_info:
            code = exit_info.code
        assert code == 2 and message in capsys.readouterr().err, extra
        assert not out.exists()


def _gray_folder(root, n=8, size=24):
    """One-channel (mode "L") images, as CT / MRI / ultrasound PNGs are, with binary 0 / 255 masks."""
    rng = np.random.default_rng(1)
    pairs = []
    for i in range(n):
        mask = np.zeros((size, size), np.uint8)
        mask[4 + i % 4 : size - 6, 5 : size - 4 - i % 3] = 255
        pairs.append((str(i), (rng.random((size, size)) * 80 + (mask > 0) * 120).astype(np.uint8), mask))
    return _write_pairs(root, pairs)


@pytest.mark.eager
def test_train_and_preview_grayscale_folders_with_one_channel(tmp_path, capsys):
    import json

    import tensorflow as tf

    data = _gray_folder(tmp_path / "data")
    out = tmp_path / "run"
    args = ["train", "--out", str(out), "--data", str(data), "--test-data", str(data), "--channels", "1",
            "--epochs", "1", "--size", "24", "--base-filters", "4", "--depth", "1", "--n-segments", "10", "20",
            "-q"]
    assert main(args) == 0
    assert json.loads((out / "config.json").read_text())["channels"] == 1
    assert 0.0 <= json.loads((out / "results.json").read_text())["test"]["dice"] <= 1.0
    serving = tf.saved_model.load(str(out / "saved_model")).signatures["serving_default"]
    # The input's shape is checked inside the signature (docs/serving.md); serving.json and the outputs name the size.
    assert json.loads((out / "saved_model" / "serving.json").read_text())["signatures"]["serving_default"][
        "inputs"]["image"]["shape"] == [-1, 24, 24, 1]
    assert serving.structured_outputs["class_ids"].shape.as_list() == [None, 24, 24]

    preview = tmp_path / "gray.png"
    assert main(["preview", "--data", str(data), "--channels", "1", "--out", str(preview), "--size", "24",
                 "--pairs", "1", "--n-segments", "10"]) == 0 and preview.exists()
    with pytest.raises(SystemExit) as exit_info:  # argparse refuses other channel counts
        main(["preview", "--channels", "2", "--out", str(preview)])
    assert exit_info.value.code == 2 and "--channels: invalid choice: 2" in capsys.readouterr().err


def test_preview_says_when_the_folder_holds_fewer_pairs_than_asked(tmp_path, capsys):
    for sub in ("images", "masks"):
        (tmp_path / "d" / sub).mkdir(parents=True)
    for i in range(3):
        Image.fromarray(np.full((32, 32, 3), 60 * i, np.uint8)).save(tmp_path / "d" / "images" / f"{i}.png")
        mask = np.zeros((32, 32), np.uint8)
        mask[8:24, 4 + i:20] = 255
        Image.fromarray(mask).save(tmp_path / "d" / "masks" / f"{i}.png")
    out = tmp_path / "p.png"
    assert main(["preview", "--data", str(tmp_path / "d"), "--out", str(out), "--size", "32", "--n-segments", "20",
                 "--pairs", "3", "-q"]) == 0
    printed = capsys.readouterr().out
    assert f"wrote {out} (1 pair(s) from {tmp_path / 'd'}; --pairs 3 needs 6 images, found 3)" in printed
    assert out.is_file()
