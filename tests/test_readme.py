"""The README's Python examples run as written (with fewer images and epochs), one after the other."""

from __future__ import annotations

import re
from pathlib import Path

import keras
import numpy as np
import pytest

README = Path(__file__).resolve().parents[1] / "README.md"
# Smaller runs of the same code: nothing else in the blocks is changed.
SHORTER = {"num_images=32": "num_images=8", "epochs=5": "epochs=1", "epochs=50": "epochs=1", "128, 128": "64, 64"}


def _python_blocks() -> list[str]:
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), flags=re.S)
    assert len(blocks) >= 3, "README lost its Python examples"
    return blocks


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_readme_python_examples_run(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # model.export("saved_model") writes here
    keras.utils.set_random_seed(0)
    namespace: dict = {}
    for block in _python_blocks():
        for old, new in SHORTER.items():
            block = block.replace(old, new)
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
