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
