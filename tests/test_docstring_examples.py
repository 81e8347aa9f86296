"""Every docstring example of the package runs and prints what it says (``doctest``)."""

from __future__ import annotations

import doctest
import importlib
import inspect
import pkgutil
import tempfile
from pathlib import Path

import pytest

import keras_hsmix

# ``cli.__main__`` runs the command line when imported.
SKIP = {"keras_hsmix.cli.__main__"}


def _modules() -> list[str]:
    names = [m.name for m in pkgutil.walk_packages(keras_hsmix.__path__, "keras_hsmix.")]
    return sorted(n for n in names if n not in SKIP)


@pytest.mark.eager
@pytest.mark.parametrize("name", _modules())
def test_docstring_examples(name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Examples that write files do so under tempfile.mkdtemp(), as a user would: here that is under tmp_path,
    # which pytest cleans up, so the suite leaves no folders in the system's temporary directory.
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0, f"{result.failed} docstring example(s) of {name} failed"
    assert result.attempted > 0 or ">>>" not in inspect.getsource(module), f"{name}: its examples were not run"
