"""Trace one run of the augmentation study: per-image validation and test DSC every few epochs (diagnosis).

Takes the study's options (``--data``, ``--size``, ``--epochs``, ...; see ``compare_augmentations.py``)
plus ``--seed``, ``--every`` and ``--out``; traces each method of ``--methods`` at the first of
``--fractions``. Writes ``<out>/<run-id>.trace.json`` after each recorded epoch and prints one line per
recorded epoch. The test split is looked at, never selected on. ``--summarize TRACE --images A B ...``
prints, for a written trace, the named test images' mean DSC and predicted foreground per recorded epoch
against the other test images. Example::

    python benchmarks/trace_run.py --data ../shared/datasets/glas --fractions 0.25 --epochs 400 \\
        --methods hsmix_gradcam+flips --seed 8 --every 5
    python benchmarks/trace_run.py --summarize benchmarks/traces/glas64px-400ep-f025-hsmix_gradcam+flips-s8.trace.json \\
        --images 16 23 34 48 56
"""

from __future__ import annotations

import argparse
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def main(argv: list[str] | None = None) -> int:
    from keras_hsmix.study.compare import RunSpec, add_arguments, config_from_args, load_study_data, set_threads
    from keras_hsmix.study.trace import group_curve, summary_line, trace_run, write_trace

    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(prog="trace_run.py", description=__doc__.splitlines()[0])
    add_arguments(parser)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--every", type=int, default=5, help="record every this many epochs")
    parser.add_argument("--out", default="benchmarks/traces", help="folder for <run-id>.trace.json")
    parser.add_argument("--summarize", default=None, help="a written trace: print --images against the rest")
    parser.add_argument("--images", nargs="+", default=None, help="test image names (file stems) for --summarize")
    args = parser.parse_args(argv)
    if args.summarize:
        if not args.images:
            parser.error("--summarize needs --images (test image file stems)")
        import json
        from pathlib import Path

        path = Path(args.summarize)
        if not path.is_file():
            parser.error(f"no trace file {path}")
        curve = group_curve(json.loads(path.read_text()), args.images)
        print(f"{path.name}: images {' '.join(args.images)} (true foreground {curve['true_foreground']:.2f})")
        print("epoch  val DSC  images DSC  images predicted fg  other images DSC")
        for row in zip(curve["epoch"], curve["val_dice"], curve["dice"], curve["foreground"], curve["rest_dice"]):
            print(f"{row[0]:5d}  {row[1]:7.3f}  {row[2]:10.3f}  {row[3]:19.3f}  {row[4]:16.3f}")
        return 0
    set_threads(args.threads)
    if not args.methods:
        parser.error("name the methods to trace with --methods (for example --methods flips hsmix_gradcam+flips)")
    cfg = config_from_args(args, argv)
    data = load_study_data(cfg)
    for method in cfg.methods:
        spec = RunSpec(method, cfg.fractions[0], args.seed)
        print(f"tracing {spec.run_id(cfg)}", flush=True)

        def on_row(row: dict, trace: dict) -> None:
            print(summary_line(row, trace["test_foreground"]), flush=True)
            write_trace(trace, args.out)

        trace = trace_run(spec, cfg, data, every=args.every, verbose=args.verbose, on_row=on_row)
        print(f"wrote {write_trace(trace, args.out)}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
