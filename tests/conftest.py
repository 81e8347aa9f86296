"""Shared test fixtures.

Real data lives beside the project in ``../shared/datasets`` (read-only). Tests that need
it use the ``glas_dir`` fixture, which skips with a clear reason when it is absent.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# Under pytest-xdist with one worker per core, each worker (and each process its tests start) runs TensorFlow with one
# thread per pool: with the default pools (a thread per core) in every worker, the threads of two workers on two cores
# spin and switch for nothing (about 9 % of the CPU of the training tests, measured side by side). Set the variables
# to run with other pools.
_CORES = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
if os.environ.get("PYTEST_XDIST_WORKER") and int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1")) >= _CORES:
    os.environ.setdefault("TF_NUM_INTRAOP_THREADS", "1")
    os.environ.setdefault("TF_NUM_INTEROP_THREADS", "1")

# XLA (TensorFlow's jit_compile=True mixing, and JAX) compiles each new function and shape for the CPU with LLVM's
# optimizations off in the tests and the processes they start: most of the suite's XLA time is compiling, for a few
# calls each, and with -O0 the suite takes about 10 % less CPU (measured side by side). The results are the same; the
# code is only slower to run. A flag the user set is kept. tests/test_cli_quiet.py runs the command line with
# USER_XLA_FLAGS, the user's default, so the demo's training also runs as a user's would.
USER_XLA_FLAGS = os.environ.get("XLA_FLAGS")
if "xla_backend_optimization_level" not in (USER_XLA_FLAGS or ""):
    os.environ["XLA_FLAGS"] = " ".join(filter(None, [USER_XLA_FLAGS, "--xla_backend_optimization_level=0"]))

REPO_ROOT = Path(__file__).resolve().parents[1]
GLAS_DIR = Path(os.environ.get("KERAS_HSMIX_GLAS", REPO_ROOT.parent / "shared" / "datasets" / "glas"))


@pytest.fixture(scope="session")
def glas_dir() -> Path:
    """Path of the GlaS dataset (``train/`` and ``test/``), or skip the test."""
    if not (GLAS_DIR / "train" / "images").is_dir():
        pytest.skip(f"GlaS data not found at {GLAS_DIR} (set KERAS_HSMIX_GLAS to its folder)")
    return GLAS_DIR


@pytest.fixture(autouse=True)
def _eager_functions(request: pytest.FixtureRequest):
    """Tests marked ``eager`` run ``tf.function`` bodies eagerly: Keras' train, test and predict steps included.

    The same Python code runs, op by op, without tracing: a ``fit`` of a few steps takes seconds less. The mark is for
    tests of what a step or a run computes (a CLI run's files, a study's resume, an example's output). Tests of how
    TensorFlow traces and compiles the code (``tf.function``, XLA, the trace count, graph-mode ``fit`` of each
    training path) are left unmarked, and ``tf.data`` functions are traced either way. Eagerly, the mixing in
    ``HSMixModel``'s step takes the plain ops that ``jit_compile="auto"`` picks outside a graph; the XLA-fused ops it
    takes in a traced step are tested by the unmarked tests.
    """
    if request.node.get_closest_marker("eager") is None:
        tf = sys.modules.get("tensorflow")  # not imported here: some tests check that a command never loads it
        assert tf is None or not tf.config.functions_run_eagerly(), "an earlier test left run_functions_eagerly on"
        yield
        return
    import tensorflow as tf

    tf.config.run_functions_eagerly(True)
    try:
        yield
    finally:
        tf.config.run_functions_eagerly(False)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Runs the tests marked ``slow`` first (a stable sort: otherwise in collection order).

    Under pytest-xdist the long tests then start early and the short ones fill the end of the run, so no worker
    ends the run alone on a long test while the other idles.
    """
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)
