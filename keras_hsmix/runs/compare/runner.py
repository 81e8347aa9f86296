"""Runs (or resumes) a comparison: each planned run whose record is missing is claimed, trained and written.

Every finished run is ``<results_dir>/<run-id>.json`` with its configuration, per-epoch curves, validation
and test scores; a rerun skips the runs whose record exists, so a comparison can be stopped at any moment,
losing at most the runs in progress. Several processes may share one plan: each run is claimed by one of
them (:func:`keras_hsmix.runs.lock.claim_run`).
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from keras_hsmix.runs.compare.config import CompareConfig, RunSpec, plan_runs, plan_status
from keras_hsmix.runs.compare.data import CompareData, load_compare_data
from keras_hsmix.runs.compare.methods import METHODS, Method
from keras_hsmix.runs.compare.training import train_run
from keras_hsmix.runs.lock import claim_run, release_run


def write_json(path: Path, record: dict) -> None:
    """Writes ``record`` to ``path`` through a temporary file, so a reader never sees half a record."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(record, indent=1))
    os.replace(tmp, path)


def load_results(results_dir: str | Path) -> list[dict]:
    """All run records under ``results_dir`` (recursively, in path order)."""
    out = []
    for path in sorted(Path(results_dir).rglob("*.json")):
        try:
            out.append(json.loads(path.read_text()))
        except (OSError, json.JSONDecodeError):
            continue
    return out


def check_settings(cfg: CompareConfig, paths: Sequence[Path]) -> None:
    """Raises ``ValueError`` when a stored run was trained with other settings than ``cfg``'s.

    A stored run is skipped as done and enters the report, so one trained under other settings (an old
    file, a hand-copied one) would silently mix into the comparison. Keys missing from either side (older
    records) are not compared.
    """
    expected = cfg.setting()
    for path in paths:
        stored = json.loads(Path(path).read_text()).get("setting", {})
        diff = {k: (stored[k], expected[k]) for k in stored.keys() & expected.keys() if stored[k] != expected[k]}
        if diff:
            details = ", ".join(f"{k}: stored {a!r}, this comparison {b!r}" for k, (a, b) in sorted(diff.items()))
            raise ValueError(f"{path} was trained with other settings than this comparison ({details}); "
                             "move it away or use another results folder")


def run_comparison(
    cfg: CompareConfig,
    methods: Mapping[str, Method] = METHODS,
    plan: Sequence[RunSpec] | None = None,
    verbose: int = 0,
    max_runs: int | None = None,
    deadline: float | None = None,
    after_run: Callable[[dict], None] | None = None,
    extra: Callable[[Any, CompareConfig, CompareData], dict] | None = None,
    load: Callable[[CompareConfig], CompareData] = load_compare_data,
    log: Callable[[str], None] = print,
    progress: bool = True,
) -> dict[str, list[str]]:
    """Trains each planned run whose record is missing (resumable; several processes may share the plan).

    Args:
        cfg: the comparison's settings.
        methods: the registry the plan's method names refer to.
        plan: the runs, in order (default :func:`plan_runs`).
        verbose: Keras ``fit`` verbosity.
        max_runs: train at most this many new runs.
        deadline: ``time.time()`` after which no new run is started.
        after_run: called with each new record once it is written (e.g. to rewrite a report).
        extra: adds keys to each record (see :func:`keras_hsmix.runs.compare.training.train_run`).
        load: loads the data (only when a run is left to train).
        log: progress printer.
        progress: show the SLIC cache's progress bar of each run.

    Returns ``{"trained": [...run ids], "skipped": [...], "remaining": [...]}``.
    """
    results_dir = Path(cfg.results_dir)
    plan = plan_runs(cfg, methods) if plan is None else list(plan)
    status = plan_status(cfg, plan)
    check_settings(cfg, [results_dir / f"{r.run_id(cfg)}.json" for r, done in status if done])
    todo = [r for r, done in status if not done]
    summary: dict[str, list[str]] = {"trained": [], "skipped": [r.run_id(cfg) for r, done in status if done],
                                     "remaining": []}
    log(f"{cfg.tag()}: {len(plan)} planned runs, {len(summary['skipped'])} already done, {len(todo)} to run")
    data = load(cfg) if todo else None
    for i, spec in enumerate(todo):
        if (max_runs is not None and len(summary["trained"]) >= max_runs) or (deadline and time.time() > deadline):
            summary["remaining"] = [r.run_id(cfg) for r in todo[i:]]
            break
        run_id = spec.run_id(cfg)
        claim = results_dir / f"{run_id}.claim"
        if (results_dir / f"{run_id}.json").exists() or not claim_run(claim):
            log(f"[{i + 1}/{len(todo)}] {run_id}: finished or in progress in another process, skipped")
            summary["skipped"].append(run_id)
            continue
        try:
            log(f"[{i + 1}/{len(todo)}] {run_id} ...")
            record = train_run(spec, cfg, data, methods, verbose=verbose, extra=extra, progress=progress)
            write_json(results_dir / f"{run_id}.json", record)
        finally:
            release_run(claim)
        summary["trained"].append(run_id)
        log(f"    test DSC {record['test']['dice']:.4f}  best val DSC {record['best_val_dice']:.4f} "
            f"(epoch {record['best_epoch']})  {record['wall_seconds']:.0f} s")
        if after_run is not None:
            after_run(record)
    return summary


def set_threads(threads: int) -> None:
    """Limit TensorFlow's intra- and inter-op thread pools to ``threads`` each (0: leave TF's defaults).

    Call before TensorFlow runs its first op. Two processes with one thread each share 2 cores.
    """
    if threads:
        import tensorflow as tf

        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(threads)


def compare(cfg: CompareConfig, verbose: int = 0, max_runs: int | None = None, deadline: float | None = None,
            log: Callable[[str], None] = print, progress: bool = True) -> dict[str, Any]:
    """Runs (or resumes) a comparison of the package's methods, then writes its report and plot.

    ``verbose`` is Keras ``fit``'s, ``progress`` shows the SLIC cache's progress bars (see :func:`run_comparison`).

    Returns the :func:`run_comparison` summary with ``"report"`` (the report's path) and ``"table"`` (the
    paired table's markdown lines) added.
    """
    from keras_hsmix.runs.compare.report import paired_table, write_report

    plan = plan_runs(cfg)
    summary: dict[str, Any] = dict(run_comparison(cfg, plan=plan, verbose=verbose, max_runs=max_runs,
                                                  deadline=deadline, log=log, progress=progress))
    records = [r for r in load_results(cfg.results_dir) if r.get("tag") == cfg.tag()
               and r.get("method") in cfg.methods and r.get("fraction") in cfg.fractions
               and r.get("seed") in range(cfg.seeds)]
    summary["report"] = write_report(cfg, records, len(plan))
    summary["table"] = paired_table(records, cfg.methods)
    return summary
