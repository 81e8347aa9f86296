"""The study's command line: ``python -m study`` runs or resumes it, ``report`` rewrites docs/results.md and its
plots from the stored records, ``list`` prints the plan, ``trace`` and ``summarize`` diagnose single runs.

Examples::

    python -m study --epochs 400 --fractions 0.25                  # run or resume (GlaS when present)
    python -m study report --epochs 400 --fractions 0.25           # regenerate docs/results.md and its plots
    python -m study trace --epochs 400 --fractions 0.25 --methods hsmix_gradcam+flips --seed 8 --every 5
    python -m study summarize study/traces/glas64px-400ep-f025-hsmix_gradcam+flips-s8.trace.json --images 16 23
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any, Sequence

from keras_hsmix.cli.common import setup_logging
from keras_hsmix.runs import compare  # its names load on first use: `--help` imports no TensorFlow
from study.config import StudyConfig, default_glas_dir, plan_runs, robustness
from study.methods import KEY_METHODS, METHODS
from study.report import write_report

ACTIONS = ("run", "report", "list", "trace", "summarize")
GLAS_BESIDE = "../shared/datasets/glas"  # the name the report gives the data when it is not on this machine


def run_study(cfg: StudyConfig, verbose: int = 0, max_runs: int | None = None,
              deadline: float | None = None, report: bool = True, log: Any = print) -> dict[str, Any]:
    """Runs (or resumes) the study with :func:`keras_hsmix.runs.compare.run_comparison`, then writes the report.

    Several processes may run the same study side by side (for example two with ``--threads 1`` on a
    2-core machine): each run is claimed by one of them and skipped by the others. With ``report`` the
    report is rewritten after every run.

    Returns ``{"trained": [...run ids], "skipped": [...], "remaining": [...]}``.
    """
    summary = compare.run_comparison(cfg, METHODS, plan_runs(cfg), verbose=verbose, max_runs=max_runs,
                                     deadline=deadline, after_run=(lambda _: write_report(cfg)) if report else None,
                                     extra=robustness, load=compare.load_compare_data, log=log)
    if report and not summary["trained"]:
        write_report(cfg)
    return summary


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The study's options (every action takes them; they define the plan and its run ids)."""
    parser.add_argument("--data", default="auto",
                        help="GlaS root with train/ and test/ ('auto': $KERAS_HSMIX_GLAS or shared/datasets/glas beside "
                             "the repository when present; 'synthetic': the built-in data)")
    parser.add_argument("--results-dir", default="study/results")
    parser.add_argument("--docs-dir", default="docs")
    parser.add_argument("--quick", action="store_true", help="smoke run: 1 seed, 2 epochs, 64 px, few images")
    parser.add_argument("--size", type=int, default=None)
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument("--fractions", type=float, nargs="+", default=None)
    parser.add_argument("--seeds-25", type=int, default=None, help="seeds at fractions up to 25 %% (default 5)")
    parser.add_argument("--seeds-other", type=int, default=None, help="seeds at other fractions (default 3)")
    parser.add_argument("--methods", nargs="+", default=None,
                        help=f"subset of methods (or 'key'); known: {', '.join(METHODS)}")
    parser.add_argument("--no-ablations", action="store_true")
    parser.add_argument("--no-robustness", action="store_true")
    parser.add_argument("--base-filters", type=int, default=None)
    parser.add_argument("--depth", type=int, default=None)
    parser.add_argument("--batch-size", type=int, default=None)
    parser.add_argument("--lr", type=float, default=None)
    parser.add_argument("--lr-schedule", default=None, choices=["constant", "cosine"],
                        help="constant (default) or cosine decay to lr / 1000 over the run; cosine groups are "
                             "tagged '-cos'")
    parser.add_argument("--weight-decay", type=float, default=None,
                        help="> 0: AdamW with this weight decay (the authors' recipe: --lr 2e-3 --weight-decay 5e-4)")
    parser.add_argument("--max-runs", type=int, default=None, help="train at most this many new runs")
    parser.add_argument("--hours", type=float, default=None, help="start no new run after this many hours")
    parser.add_argument("--threads", type=int, default=0, help="TensorFlow intra-op threads (0: default)")
    parser.add_argument("--verbose", type=int, default=0)
    # trace and summarize
    parser.add_argument("--seed", type=int, default=0, help="trace: the seed of the traced runs")
    parser.add_argument("--every", type=int, default=5, help="trace: record every this many epochs")
    parser.add_argument("--out", default="study/traces", help="trace: folder for <run-id>.trace.json")
    parser.add_argument("--images", nargs="+", default=None, help="summarize: test image names (file stems)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m study", description=__doc__.splitlines()[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__[
                                         __doc__.index("Examples"):])
    parser.add_argument("action", nargs="?", default="run", choices=ACTIONS)
    parser.add_argument("trace_file", nargs="?", default=None, help="summarize: a written trace")
    add_arguments(parser)
    return parser


def config_from_args(args: argparse.Namespace, argv: Sequence[str] | None = None) -> StudyConfig:
    """Builds a :class:`StudyConfig` from parsed :func:`add_arguments` options."""
    if args.data == "auto":
        # The report and the plan name GlaS even where it is absent (they read only the records).
        data = default_glas_dir() or (GLAS_BESIDE if args.action in ("report", "list") else None)
    else:
        data = None if args.data == "synthetic" else args.data
    command = "python -m study " + " ".join(shlex.quote(a) for a in (argv if argv is not None else sys.argv[1:]))
    cfg = StudyConfig.quick_config(data_dir=data) if args.quick else StudyConfig(data_dir=data)
    overrides: dict[str, Any] = {"results_dir": args.results_dir, "report_dir": args.docs_dir,
                                 "command": command.strip(), "robustness": not args.no_robustness}
    for name, attr in (("size", "size"), ("epochs", "epochs"), ("seeds_25", "seeds_25"),
                       ("seeds_other", "seeds_other"), ("base_filters", "base_filters"), ("depth", "depth"),
                       ("batch_size", "batch_size"), ("lr", "learning_rate"),
                       ("lr_schedule", "lr_schedule"), ("weight_decay", "weight_decay")):
        if getattr(args, name) is not None:
            overrides[attr] = getattr(args, name)
    if args.fractions:
        overrides["fractions"] = tuple(args.fractions)
    if args.methods:
        overrides["methods"] = KEY_METHODS if args.methods == ["key"] else tuple(args.methods)
    if args.no_ablations:
        overrides["ablations"] = False
    return replace(cfg, **overrides)


def summarize(path: Path, images: Sequence[str]) -> None:
    """Prints the named test images' mean DSC and predicted foreground per recorded epoch of a trace."""
    from study.trace import group_curve

    curve = group_curve(json.loads(path.read_text()), list(images))
    print(f"{path.name}: images {' '.join(images)} (true foreground {curve['true_foreground']:.2f})")
    print("epoch  val DSC  images DSC  images predicted fg  other images DSC")
    for row in zip(curve["epoch"], curve["val_dice"], curve["dice"], curve["foreground"], curve["rest_dice"]):
        print(f"{row[0]:5d}  {row[1]:7.3f}  {row[2]:10.3f}  {row[3]:19.3f}  {row[4]:16.3f}")


def trace(cfg: StudyConfig, args: argparse.Namespace) -> None:
    """Traces each method of ``--methods`` at the first of ``--fractions`` (see :mod:`study.trace`)."""
    from keras_hsmix.runs.compare import RunSpec
    from study.trace import summary_line, trace_run, write_trace

    data = compare.load_compare_data(cfg)
    for method in cfg.methods:
        spec = RunSpec(method, cfg.fractions[0], args.seed)
        print(f"tracing {spec.run_id(cfg)}", flush=True)

        def on_row(row: dict, trace: dict) -> None:
            print(summary_line(row, trace["test_foreground"]), flush=True)
            write_trace(trace, args.out)

        result = trace_run(spec, cfg, data, every=args.every, verbose=args.verbose, on_row=on_row)
        print(f"wrote {write_trace(result, args.out)}", flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m study [run|report|list|trace|summarize] [options]``."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    args = parser.parse_args(argv)
    setup_logging(0)  # TensorFlow loads here, its start-up log lines kept off stderr, as with keras-hsmix
    if args.action == "summarize":
        if not args.trace_file or not args.images:
            parser.error("summarize needs a trace file and --images (test image file stems)")
        if not Path(args.trace_file).is_file():
            parser.error(f"no trace file {args.trace_file}")
        summarize(Path(args.trace_file), args.images)
        return 0
    if args.trace_file:
        parser.error(f"unexpected argument {args.trace_file!r}")
    if args.action == "trace" and not args.methods:
        parser.error("name the methods to trace with --methods (for example --methods flips hsmix_gradcam+flips)")
    compare.set_threads(args.threads)
    cfg = config_from_args(args, argv)
    if args.action == "list":
        for spec, done in compare.plan_status(cfg, plan_runs(cfg)):
            print(("done " if done else "todo ") + spec.run_id(cfg))
        return 0
    if args.action == "report":
        print(f"wrote {write_report(cfg)}")
        return 0
    if args.action == "trace":
        trace(cfg, args)
        return 0
    deadline = time.time() + 3600 * args.hours if args.hours else None
    summary = run_study(cfg, verbose=args.verbose, max_runs=args.max_runs, deadline=deadline,
                        log=lambda s: print(s, flush=True))
    print(f"trained {len(summary['trained'])}, skipped {len(summary['skipped'])}, "
          f"left {len(summary['remaining'])}; report: {Path(cfg.report_dir) / 'results.md'}")
    return 0
