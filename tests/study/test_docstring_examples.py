"""Every docstring example of the study (the top-level study/ folder, not installed) runs as it says."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = ["study.config", "study.methods", "study.plots", "study.report", "study.run", "study.selection",
           "study.trace"]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0, f"{result.failed} docstring example(s) of {name} failed"
