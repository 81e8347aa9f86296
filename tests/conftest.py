"""Shared test fixtures.

Real data lives beside the project in ``../shared/datasets`` (read-only). Tests that need
it use the ``glas_dir`` fixture, which skips with a clear reason when it is absent.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

REPO_ROOT = Path(__file__).resolve().parents[1]
GLAS_DIR = Path(os.environ.get("KERAS_HSMIX_GLAS", REPO_ROOT.parent / "shared" / "datasets" / "glas"))


@pytest.fixture(scope="session")
def glas_dir() -> Path:
    """Path of the GlaS dataset (``train/`` and ``test/``), or skip the test."""
    if not (GLAS_DIR / "train" / "images").is_dir():
        pytest.skip(f"GlaS data not found at {GLAS_DIR} (set KERAS_HSMIX_GLAS to its folder)")
    return GLAS_DIR
