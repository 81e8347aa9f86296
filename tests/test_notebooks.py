"""The notebooks in notebooks/ run headless, top to bottom, in quick mode (KERAS_HSMIX_NOTEBOOK_QUICK=1).

Each test executes a copy of a notebook in ``tmp_path`` with nbclient (kernel ``python3``), so
the notebooks in git stay without outputs. GlaS is used when the tests find it (``KERAS_HSMIX_GLAS``
or ``../shared/datasets/glas``), as a user's run would.
"""

from __future__ import annotations

import os
import re
import zipfile
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

from tests.conftest import GLAS_DIR, REPO_ROOT  # noqa: E402

NOTEBOOKS = REPO_ROOT / "notebooks"
# notebook -> least number of figures it must show
FIGURES = {"01_quickstart.ipynb": 3, "02_compare_augmentations.ipynb": 1}
# OWNER is the placeholder for the repository's owner until it is published (pyproject.toml's [project.urls]).
COLAB = "https://colab.research.google.com/github/OWNER/keras-hsmix/blob/main/notebooks/{name}"
ALLOWED_URLS = {
    "https://colab.research.google.com/assets/colab-badge.svg",
    "https://github.com/OWNER/keras-hsmix",
    "https://github.com/McGregorWwww/UDTransNet/archive/refs/heads/main.zip",  # GlaS, docs/notebooks.md
}


def test_every_notebook_is_tested() -> None:
    assert sorted(p.name for p in NOTEBOOKS.glob("*.ipynb")) == sorted(FIGURES)


@pytest.mark.parametrize("name", sorted(FIGURES))
def test_notebook_is_stored_without_outputs(name: str) -> None:
    notebook = nbformat.read(NOTEBOOKS / name, as_version=4)
    nbformat.validate(notebook)
    for cell in notebook.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, f"{name}: strip the outputs"
    # The first code cell installs the package; the only links are the known ones, and the repository's owner is
    # the one marked placeholder (pyproject's [project.urls] says the same).
    first = next(cell for cell in notebook.cells if cell.cell_type == "code")
    assert "pip" in first.source and "find_spec" in first.source and "PLACEHOLDER" in first.source
    text = "\n".join(cell.source for cell in notebook.cells)
    assert set(re.findall(r"https?://[^\s\")]+", text)) == ALLOWED_URLS | {COLAB.format(name=name)}
    assert not re.search(r"<your|YOUR_|example\.com", text)
    assert "[![Open In Colab]" in notebook.cells[0].source
    assert [c for c in notebook.cells if "gpu-check" in c.metadata.get("tags", [])]


def test_docs_have_the_colab_badges() -> None:
    text = (REPO_ROOT / "docs" / "notebooks.md").read_text(encoding="utf-8")
    for name in FIGURES:
        assert COLAB.format(name=name) in text


def _cell(name: str, tag: str) -> str:
    notebook = nbformat.read(NOTEBOOKS / name, as_version=4)
    (cell,) = [c for c in notebook.cells if tag in c.metadata.get("tags", [])]
    return cell.source


def _glas_zip(path: Path, per_split: dict[str, int], drop_mask: bool = False) -> Path:
    """A zip laid out as the public archive (UDTransNet-main/datasets/GlaS/{Train,Test}_Folder/{img,labelcol})."""
    if not (GLAS_DIR / "train" / "images").is_dir():
        pytest.skip(f"GlaS data not found at {GLAS_DIR} (set KERAS_HSMIX_GLAS to its folder)")
    with zipfile.ZipFile(path, "w") as zipped:
        zipped.writestr("UDTransNet-main/README.md", "not data")
        for split, folder in (("train", "Train_Folder"), ("test", "Test_Folder")):
            for i, image in enumerate(sorted((GLAS_DIR / split / "images").glob("*.png"))[: per_split[split]]):
                base = f"UDTransNet-main/datasets/GlaS/{folder}"
                zipped.write(image, f"{base}/img/{image.name}")
                if not (drop_mask and i == 0):
                    zipped.write(GLAS_DIR / split / "masks" / image.name, f"{base}/labelcol/{image.name}")
    return path


@pytest.mark.parametrize("name", sorted(FIGURES))
def test_glas_cell_downloads_and_checks(name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    """The data cell, run as written against a local copy of the archive served from a file:// URL."""
    archive = _glas_zip(tmp_path / "glas.zip", {"train": 3, "test": 2})
    monkeypatch.setenv("KERAS_HSMIX_GLAS_URL", archive.as_uri())
    monkeypatch.setenv("KERAS_HSMIX_GLAS_EXPECTED", "3,2")
    namespace = {"os": os, "pathlib": __import__("pathlib"), "GLAS": tmp_path / "absent", "USE_GLAS": False,
                 "OUT": tmp_path / "out"}
    exec(_cell(name, "glas-data"), namespace)  # noqa: S102 - our own notebook
    assert namespace["USE_GLAS"] and namespace["GLAS"] == tmp_path / "out" / "glas"
    for split, count in (("train", 3), ("test", 2)):
        for kind in ("images", "masks"):
            assert len(list((tmp_path / "out" / "glas" / split / kind).glob("*.png"))) == count
    assert "GlaS train: 3 image/mask pairs, as expected" in capsys.readouterr().out
    assert not (tmp_path / "out" / "glas_download.zip").exists()


def test_glas_cell_refuses_unpaired_or_missing_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    source = _cell("01_quickstart.ipynb", "glas-data")
    monkeypatch.setenv("KERAS_HSMIX_GLAS_URL", _glas_zip(tmp_path / "bad.zip", {"train": 3, "test": 2}, True).as_uri())
    monkeypatch.setenv("KERAS_HSMIX_GLAS_EXPECTED", "3,2")
    namespace = {"os": os, "pathlib": __import__("pathlib"), "GLAS": tmp_path / "absent", "USE_GLAS": False,
                 "OUT": tmp_path / "out"}
    with pytest.raises(ValueError, match="images without masks"):
        exec(source, namespace)  # noqa: S102 - our own notebook
    monkeypatch.setenv("KERAS_HSMIX_GLAS_EXPECTED", "85,80")  # the full archive's counts; this copy has fewer
    namespace.update(GLAS=tmp_path / "absent", USE_GLAS=False, OUT=tmp_path / "out2")
    monkeypatch.setenv("KERAS_HSMIX_GLAS_URL", _glas_zip(tmp_path / "few.zip", {"train": 3, "test": 2}).as_uri())
    with pytest.raises(ValueError, match="3 image/mask pairs, expected 85"):
        exec(source, namespace)  # noqa: S102 - our own notebook


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
    assert "DSC" in text and "JAC" in text and "GPU found" in text  # "GPU found: ..." or "No GPU found ..."
    assert "TqdmWarning" not in text  # the SLIC cache's progress bar needs no ipywidgets
    if name == "01_quickstart.ipynb":
        assert (tmp_path / "out" / "quickstart_saved_model" / "saved_model.pb").is_file()
