"""The notebooks in notebooks/ run headless, top to bottom, in quick mode (KERAS_HSMIX_NOTEBOOK_QUICK=1).

Each test executes a copy of a notebook in ``tmp_path`` with nbclient (kernel ``python3``), so
the notebooks in git stay without outputs. GlaS is used when the tests find it (``KERAS_HSMIX_GLAS``
or ``../shared/datasets/glas``), as a user's run would.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

from tests.conftest import GLAS_DIR, REPO_ROOT  # noqa: E402

NOTEBOOKS = REPO_ROOT / "notebooks"
# notebook -> least number of figures it must show
FIGURES = {"01_quickstart.ipynb": 3, "02_compare_augmentations.ipynb": 1}


def test_every_notebook_is_tested() -> None:
    assert sorted(p.name for p in NOTEBOOKS.glob("*.ipynb")) == sorted(FIGURES)


@pytest.mark.parametrize("name", sorted(FIGURES))
def test_notebook_is_stored_without_outputs(name: str) -> None:
    notebook = nbformat.read(NOTEBOOKS / name, as_version=4)
    nbformat.validate(notebook)
    for cell in notebook.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, f"{name}: strip the outputs"
    # The first code cell installs the package; no dead links or placeholder URLs anywhere.
    first = next(cell for cell in notebook.cells if cell.cell_type == "code")
    assert "pip" in first.source and "find_spec" in first.source
    text = "\n".join(cell.source for cell in notebook.cells)
    assert not re.search(r"https?://|<your|YOUR_|example\.com", text)


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(FIGURES))
def test_notebook_runs_in_quick_mode(name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KERAS_HSMIX_NOTEBOOK_QUICK", "1")
    monkeypatch.setenv("KERAS_HSMIX_NOTEBOOK_OUT", str(tmp_path / "out"))
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "2")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")])))
    if (GLAS_DIR / "train" / "images").is_dir():
        monkeypatch.setenv("KERAS_HSMIX_GLAS", str(GLAS_DIR))
    else:
        monkeypatch.delenv("KERAS_HSMIX_GLAS", raising=False)
    copy = tmp_path / name
    copy.write_bytes((NOTEBOOKS / name).read_bytes())
    notebook = nbformat.read(copy, as_version=4)

    client = nbclient.NotebookClient(
        notebook, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}, startup_timeout=600
    )
    client.execute()  # raises CellExecutionError, with the cell and traceback, if a cell fails
    nbformat.write(notebook, copy)

    outputs = [output for cell in notebook.cells if cell.cell_type == "code" for output in cell.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    figures = [o for o in outputs if "image/png" in o.get("data", {})]
    assert len(figures) >= FIGURES[name], f"{name}: expected {FIGURES[name]} figures, got {len(figures)}"
    text = "".join(o.get("text", "") for o in outputs if o.output_type == "stream")
    assert "DSC" in text and "JAC" in text
    if name == "01_quickstart.ipynb":
        assert (tmp_path / "out" / "quickstart_saved_model" / "saved_model.pb").is_file()
