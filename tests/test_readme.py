"""The README's Python examples run as written (with fewer images and epochs), one after the other."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import keras
import numpy as np
import pytest
from PIL import Image

README = Path(__file__).resolve().parents[1] / "README.md"
# Smaller runs of the same code: nothing else in the blocks is changed.
# Replaced in this order: "epochs=50" before "epochs=5", which would otherwise turn it into "epochs=10".
SHORTER = {"num_images=32": "num_images=8", "epochs=50": "epochs=1", "epochs=5": "epochs=1", "128, 128": "64, 64",
           # after the line above: the README's default UNet (16 filters, depth 4), smaller
           "unet((64, 64, 3), num_classes=2)": "unet((64, 64, 3), num_classes=2, base_filters=4, depth=2)"}


def _python_blocks() -> list[str]:
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), flags=re.S)
    assert len(blocks) >= 3, "README lost its Python examples"
    return blocks


def _my_data(folder: Path, n: int = 8) -> None:
    """The README's "your own folder": images/N.png with masks/N.png."""
    rng = np.random.default_rng(0)
    for sub in ("images", "masks"):
        (folder / sub).mkdir(parents=True)
    for i in range(n):
        mask = np.zeros((40, 48), np.uint8)
        mask[8 + i : 30, 10 : 36 - i] = 255
        image = (rng.random((40, 48, 3)) * 90 + (mask[..., None] > 0) * 140).astype(np.uint8)
        Image.fromarray(image).save(folder / "images" / f"{i}.png")
        Image.fromarray(mask).save(folder / "masks" / f"{i}.png")


@pytest.mark.eager
@pytest.mark.slow
def test_readme_python_examples_run(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # export_for_serving(model, "saved_model") writes here
    _my_data(tmp_path / "my_data")
    keras.utils.set_random_seed(0)
    namespace: dict = {}
    blocks = _python_blocks()
    assert all(any(old in block for block in blocks) for old in list(SHORTER)[:4]), "README examples changed"
    shorter = []
    for block in blocks:
        for old, new in SHORTER.items():
            block = block.replace(old, new)
        shorter.append(block)
    assert any("depth=2)" in block for block in shorter), "the README's UNet line changed: update SHORTER"
    assert all(re.findall(r"epochs=(\d+)", block) in ([], ["1"]) for block in shorter), shorter
    for block in shorter:
        exec(compile(block, str(README), "exec"), namespace)  # noqa: S102 - our own README
    assert (tmp_path / "saved_model" / "saved_model.pb").exists()
    out = namespace["out"]
    assert out["segmentation_masks"].shape == (4, 64, 64, 2)
    np.testing.assert_allclose(np.sum(out["segmentation_masks"], -1), 1.0, atol=1e-5)


def test_ci_runs_the_readme_test_command():
    """`.ci/run` must run exactly the test command the README gives users."""
    text = README.read_text(encoding="utf-8")
    section = text.split("Run the tests", 1)[1]
    command = re.search(r"```bash\n(.*?)\n```", section, flags=re.S).group(1).strip()
    assert command.startswith("python -m pytest"), command
    ci_lines = [line.strip() for line in (README.parent / ".ci" / "run").read_text().splitlines()]
    assert command in ci_lines, f"`.ci/run` does not run the README's test command {command!r}"


def test_readme_picture_command_draws_the_documented_layout(tmp_path, monkeypatch):
    """The README's picture comes from the command it documents; the command still draws that layout:
    one row per pair, the columns of ``keras_hsmix.visualize.COLUMNS``, at the committed picture's pixel size."""
    from keras_hsmix.cli import main
    from keras_hsmix.visualize import COLUMNS

    text = README.read_text(encoding="utf-8")
    command = re.search(r"`(keras-hsmix preview --out docs/preview_synthetic\.png[^`]*)`", text).group(1)
    args = shlex.split(command)[1:]
    pairs = int(args[args.index("--pairs") + 1])
    args[args.index("--out") + 1] = str(tmp_path / "preview.png")
    args[args.index("--size") + 1] = "48"  # smaller images, same figure
    args[args.index("--n-segments") + 1] = "20"
    assert main(args) == 0
    committed_path = README.parent / "docs" / "preview_synthetic.png"
    with Image.open(tmp_path / "preview.png") as drawn, Image.open(committed_path) as committed:
        assert drawn.size == committed.size, "docs/preview_synthetic.png is stale: rerun the README's command"
        width, height = drawn.size
    assert width / height == pytest.approx(len(COLUMNS) / pairs, rel=0.01)
    for column in ("A (mask contour)", "hard mix + mask", "soft mix"):  # named in the README's caption
        assert column in COLUMNS
