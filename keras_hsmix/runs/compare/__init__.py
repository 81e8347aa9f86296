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

from keras_hsmix.runs.compare.config import CompareConfig, RunSpec, check_methods, data_name, plan_runs
from keras_hsmix.runs.compare.data import CompareData, load_compare_data
from keras_hsmix.runs.compare.methods import METHODS, MIXERS, Method, reference_method
from keras_hsmix.runs.compare.report import mean_sd, paired_gaps, paired_table, plot, resume_command, write_report
from keras_hsmix.runs.compare.runner import (
    check_settings, load_results, plan_status, run_comparison, set_threads, write_json,
)
from keras_hsmix.runs.compare.training import baseline_pipeline, build_run, scores, train_run

__all__ = [
    "CompareConfig", "CompareData", "METHODS", "MIXERS", "Method", "RunSpec", "baseline_pipeline", "build_run",
    "check_methods", "check_settings", "data_name", "load_compare_data", "load_results", "mean_sd", "paired_gaps",
    "paired_table", "plan_runs", "plan_status", "plot", "reference_method", "resume_command", "run_comparison",
    "scores", "set_threads", "train_run", "write_json", "write_report",
]
