"""Timing helpers and the table row of ``benchmarks/run.py``.

Every ratio is measured side by side in one process: the functions compared
are called in rounds, each round in a freshly shuffled order (so no function
always runs right after a slow one that flushed the caches), after warm-up
calls that are not timed; a ratio is the median of the per-round ratios.
TensorFlow results are forced with :func:`materialise`.
"""

from __future__ import annotations

import dataclasses
import random
import statistics
import time
from typing import Callable, Sequence

import tensorflow as tf


@dataclasses.dataclass
class Row:
    """One line of the table: ``ratio`` of A over B (> 1 means A is better).

    ``low`` / ``high`` are the range of the ratio over separate runs (equal to
    ``ratio`` for a single run); ``runs`` is how many runs it summarises.
    """

    section: str
    a: str
    b: str
    a_value: float
    b_value: float
    unit: str
    ratio: float
    target: str
    met: bool | int | None  # None: information only; over several runs, in how many it was met
    low: float | None = None
    high: float | None = None
    runs: int = 1

    @property
    def status(self) -> str:
        if self.met is None:
            return "info"
        if self.runs == 1 or isinstance(self.met, bool):
            return "met" if self.met else "NOT met"
        if self.met in (0, self.runs):
            return "met" if self.met else "NOT met"
        return f"met in {self.met}/{self.runs} runs"


def interleaved(
    fns: dict[str, Callable[[], object]], rounds: int, warmup: int = 1, seed: int = 0
) -> dict[str, list[float]]:
    """Times each function ``rounds`` times, in a shuffled order each round; returns seconds per call.

    The ``warmup`` calls of each function (tracing, XLA compilation, first
    allocations) come first and are not timed.

    Example:
        >>> t = interleaved({"a": lambda: None, "b": lambda: None}, rounds=2)
        >>> sorted(t), len(t["a"])
        (['a', 'b'], 2)
    """
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    order = list(fns)
    shuffler = random.Random(seed)
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(rounds):
        shuffler.shuffle(order)
        for name in order:
            start = time.perf_counter()
            fns[name]()
            times[name].append(time.perf_counter() - start)
    return times


def median_ratio(numerator: Sequence[float], denominator: Sequence[float]) -> float:
    """Median of the per-round ratios ``numerator[i] / denominator[i]``.

    Example:
        >>> median_ratio([2.0, 4.0, 6.0], [1.0, 1.0, 1.0])
        4.0
    """
    return float(statistics.median(n / max(d, 1e-12) for n, d in zip(numerator, denominator)))


def materialise(out: object) -> object:
    """Forces every TensorFlow result of ``out`` into host memory, without copying it.

    The one way every TensorFlow line of the benchmark is forced: ``memoryview``
    of each output tensor, TensorFlow's documented zero-copy view of a CPU
    tensor (a tensor on an accelerator is transferred first). It waits for all
    the work that produces every output but adds no copy into a new NumPy
    array, which ``Tensor.numpy()`` makes and which neither the NumPy
    references nor a ``tf.data`` / ``train_step`` consumer pays.
    """
    return tf.nest.map_structure(lambda v: memoryview(v) if isinstance(v, tf.Tensor) else v, out)
