"""Does HSMix help on my data? The same UNet trained under each augmentation, paired by seed (``keras-hsmix compare``).

Built from the pieces of ``keras-hsmix train`` (:mod:`keras_hsmix.runs.train`): a plan of runs (methods ×
fractions × seeds), resumable and shareable between processes (claims of :mod:`keras_hsmix.runs.lock`), one
JSON record per finished run, and a report that pairs each method with its reference seed by seed. A study
registers its own methods (:class:`Method`) and extends :class:`CompareConfig`; see the repository's
``study/`` folder.

Example (the built-in data, a smoke run):
    >>> from keras_hsmix.runs.compare import CompareConfig, run_comparison
    >>> cfg = CompareConfig.quick_config(results_dir="/tmp/cmp/results", report_dir="/tmp/cmp")  # doctest: +SKIP
    >>> summary = run_comparison(cfg)  # doctest: +SKIP
"""

from __future__ import annotations

import importlib

#: Public name -> its module. Loaded on first use (PEP 562), so that ``keras-hsmix compare --help`` reads the
#: method names (``methods``, ``config``: no TensorFlow) without loading TensorFlow.
_HOMES = {
    "config": ("CompareConfig", "RunSpec", "check_methods", "data_name", "plan_runs", "plan_status"),
    "data": ("CompareData", "load_compare_data"),
    "methods": ("METHODS", "MIXERS", "Method", "reference_method"),
    "report": ("mean_sd", "paired_gaps", "paired_table", "plot", "resume_command", "write_report"),
    "runner": ("check_settings", "load_results", "run_comparison", "set_threads", "write_json"),
    "training": ("baseline_pipeline", "build_run", "scores", "train_run"),
}
_PUBLIC = {name: f"keras_hsmix.runs.compare.{module}" for module, names in _HOMES.items() for name in names}


def __getattr__(name: str):
    if name not in _PUBLIC:
        raise AttributeError(f"module 'keras_hsmix.runs.compare' has no attribute {name!r}")
    value = getattr(importlib.import_module(_PUBLIC[name]), name)
    globals()[name] = value
    return value


__all__ = [
    "CompareConfig", "CompareData", "METHODS", "MIXERS", "Method", "RunSpec", "baseline_pipeline", "build_run",
    "check_methods", "check_settings", "data_name", "load_compare_data", "load_results", "mean_sd", "paired_gaps",
    "paired_table", "plan_runs", "plan_status", "plot", "reference_method", "resume_command", "run_comparison",
    "scores", "set_threads", "train_run", "write_json", "write_report",
]
