"""keras-hsmix preview writes a PNG grid."""

from __future__ import annotations

import numpy as np
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


def test_train_builtin_and_refuses_to_clobber(tmp_path, capsys):
    out = tmp_path / "run"
    args = ["train", "--out", str(out), "--epochs", "1", "--size", "32", "--num-images", "8", "--base-filters", "4",
            "--depth", "2", "--n-segments", "20", "30", "--verbose", "0"]
    assert main(args) == 0
    for name in ("config.json", "history.csv", "results.json", "best.weights.h5", "saved_model"):
        assert (out / name).exists(), name
    assert not (out / "backup").exists()
    assert main(args) == 2
    assert "already holds a finished run" in capsys.readouterr().err


def test_train_with_colour_jitter_records_it_and_rejects_a_negative_strength(tmp_path, capsys):
    import json

    base = ["--epochs", "1", "--size", "32", "--num-images", "8", "--base-filters", "4", "--depth", "2",
            "--n-segments", "20", "30", "--verbose", "0"]
    out = tmp_path / "run"
    assert main(["train", "--out", str(out), "--color-jitter", "1.0", *base]) == 0
    assert json.loads((out / "config.json").read_text())["color_jitter"] == 1.0
    bad = tmp_path / "bad"
    assert main(["train", "--out", str(bad), "--color-jitter", "-1", *base]) == 2
    assert "color_jitter must be >= 0" in capsys.readouterr().err and not bad.exists()
