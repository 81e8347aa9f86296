"""``keras-hsmix compare``: does HSMix help on my data? The same UNet under each augmentation, paired by seed."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from keras_hsmix.cli.common import (
    add_mask_arguments,
    add_verbosity_arguments,
    check_model_options,
    check_output_file,
    folder_options_given,
    fraction,
    n_segments_range,
    non_negative_float,
    non_negative_int,
    positive_float,
    positive_int,
    probability,
    share,
)

#: The budget options that ``--quick`` sets itself (option, dest): given together with it, they are refused.
QUICK_SETS = (("--size", "size"), ("--fractions", "fractions"), ("--seeds", "seeds"), ("--epochs", "epochs"),
              ("--base-filters", "base_filters"), ("--depth", "depth"), ("--n-segments", "n_segments"))


def check(args: argparse.Namespace, parser: argparse.ArgumentParser) -> None:
    """Checks what argparse's types cannot, before anything is read or written (as ``train`` does)."""
    from keras_hsmix.runs.compare.config import CompareConfig  # plain Python: no TensorFlow

    if args.n_segments is not None:
        args.n_segments = list(n_segments_range(args.n_segments, parser))
    check_output_file(parser, "--out", args.out, folder=True)
    defaults = CompareConfig.quick_config() if args.quick else CompareConfig()
    size = args.size if args.size is not None else defaults.size
    depth = args.depth if args.depth is not None else defaults.depth
    check_model_options(parser, size, depth, args.num_classes)


def config_from_args(args: argparse.Namespace):
    """The :class:`keras_hsmix.runs.compare.CompareConfig` that the options describe, checked before any run."""
    from keras_hsmix.runs.compare import CompareConfig, check_methods, resume_command

    if args.quick:
        given = [option for option, dest in QUICK_SETS if getattr(args, dest) is not None]
        if given:
            raise ValueError(f"--quick sets the budget itself (1 seed, 2 epochs, 64 px, few images, a tiny UNet): "
                             f"drop {', '.join(given)} or drop --quick")
    if args.data == "synthetic" and Path("synthetic").is_dir():
        raise ValueError("--data synthetic names the built-in data, and a folder called synthetic is here too: "
                         "--data ./synthetic for that folder, or leave --data out for the built-in data")
    data = None if args.data in (None, "synthetic") else args.data
    if args.test_data and not data:
        raise ValueError("--test-data: needs a --data folder (the built-in data has its own test split)")
    if data is None and folder_options_given(args):
        raise ValueError("--mask-mode, --mask-suffix and --label-values apply to a --data folder only")
    for option, folder in (("--data", data), ("--test-data", args.test_data)):
        if folder and not Path(folder).is_dir():
            raise FileNotFoundError(f"{option}: no folder {folder}")
    if args.methods:
        check_methods(args.methods)
    overrides = {"data_dir": data, "test_dir": args.test_data, "name": args.name,
                 "results_dir": str(Path(args.out) / "results"), "report_dir": args.out,
                 "batch_size": args.batch_size, "learning_rate": args.lr, "lr_schedule": args.lr_schedule,
                 "weight_decay": args.weight_decay, "p": args.p, "val_fraction": args.val_fraction,
                 "test_fraction": args.test_fraction, "split_seed": args.split_seed,
                 "num_classes": args.num_classes, "mask_mode": args.mask_mode, "channels": args.channels,
                 "label_values": tuple(args.label_values) if args.label_values else None,
                 "mask_suffix": args.mask_suffix}
    if args.methods:
        overrides["methods"] = tuple(args.methods)
    for _, dest in QUICK_SETS:
        value = getattr(args, dest)
        if value is not None:
            overrides[dest] = tuple(value) if isinstance(value, list) else value
    cfg = CompareConfig.quick_config(**overrides) if args.quick else CompareConfig(**overrides)
    cfg.command = resume_command(cfg)  # recorded with each run: the command that plans this comparison
    return cfg


def run(args: argparse.Namespace) -> int:
    from keras_hsmix.runs.compare.config import plan_runs, plan_status

    cfg = config_from_args(args)
    if args.list:  # the plan only: no TensorFlow loaded
        for spec, done in plan_status(cfg, plan_runs(cfg)):
            print(("done " if done else "todo ") + spec.run_id(cfg))
        return 0
    from keras_hsmix.runs.compare.runner import compare, set_threads

    set_threads(args.threads)
    deadline = time.time() + 3600 * args.hours if args.hours else None
    quiet = args.quiet
    summary = compare(cfg, verbose=0 if quiet else args.fit_verbose, max_runs=args.max_runs, deadline=deadline,
                      log=(lambda s: None) if quiet else (lambda s: print(s, flush=True)), progress=not quiet)
    report = summary["report"]
    print(f"\n{cfg.tag()}: each method against its reference, paired by seed (test DSC gap in points ×100)\n")
    print("\n".join(summary["table"]))
    print(f"\ntrained {len(summary['trained'])}, skipped {len(summary['skipped'])}, left {len(summary['remaining'])}; "
          f"report: {report}, plot: {report.with_suffix('.png')}")
    print(f"resume or complete: {cfg.command}")
    return 0


def add_parser(sub: argparse._SubParsersAction) -> None:
    from keras_hsmix.runs.compare.methods import METHODS

    p = sub.add_parser(
        "compare",
        help="does HSMix help on my data? the same UNet under each augmentation, paired by seed (resumable)",
    )
    p.add_argument("--data", default=None,
                   help="a folder with train/ and test/ (each with images/ and masks/), or one folder with images/ "
                        "and masks/; 'synthetic': the built-in data (default: the built-in data)")
    p.add_argument("--test-data", default=None,
                   help="test folder for a single --data folder (default: --test-fraction of it is held out)")
    p.add_argument("--name", default=None, help="the data's name in run ids and the report (default: its folder's)")
    p.add_argument("--out", default="runs/compare",
                   help="folder of the run records (results/) and the report (default: runs/compare)")
    p.add_argument("--quick", action="store_true",
                   help="smoke run: 1 seed, 2 epochs, 64 px, few images, a tiny UNet (refuses the budget options)")
    p.add_argument("--methods", nargs="+", default=None, help=f"default: all of {', '.join(METHODS)}")
    p.add_argument("--seeds", type=positive_int, default=None, help="seeds 0..N-1 at every fraction (default: 3)")
    p.add_argument("--fractions", type=fraction, nargs="+", default=None,
                   help="nested fractions of the training images (default: 1)")
    p.add_argument("--epochs", type=positive_int, default=None, help="training epochs of each run (default: 200)")
    p.add_argument("--size", type=positive_int, default=None, help="image side in pixels (default: 64)")
    p.add_argument("--num-classes", type=positive_int, default=2, help="classes including background (default: 2)")
    add_mask_arguments(p)
    p.add_argument("--base-filters", type=positive_int, default=None, help="UNet base filters (default: 8)")
    p.add_argument("--depth", type=positive_int, default=None, help="UNet depth (default: 4)")
    p.add_argument("--n-segments", type=positive_int, nargs=2, default=None, metavar=("LOW", "HIGH"),
                   help="SLIC superpixels per image (default: 200-400 at 224 px, scaled by the image area)")
    p.add_argument("--batch-size", type=positive_int, default=4, help="images per optimizer step")
    p.add_argument("--lr", type=positive_float, default=1e-3, help="learning rate of Adam (or AdamW)")
    p.add_argument("--lr-schedule", default="constant", choices=["constant", "cosine"],
                   help="constant, or cosine decay to lr / 1000 over each run")
    p.add_argument("--weight-decay", type=non_negative_float, default=0.0, help="> 0: AdamW with this weight decay")
    p.add_argument("--p", type=probability, default=0.5, help="HSMix's mixing probability")
    p.add_argument("--val-fraction", type=share, default=0.2, help="validation share of the training images")
    p.add_argument("--test-fraction", type=share, default=0.2, help="test share held out of a single --data folder")
    p.add_argument("--split-seed", type=non_negative_int, default=0,
                   help="seed of the validation (and held-out test) split, the same for every run")
    p.add_argument("--max-runs", type=positive_int, default=None,
                   help="train at most this many new runs (default: no limit)")
    p.add_argument("--hours", type=positive_float, default=None,
                   help="start no new run after this many hours (default: no limit)")
    p.add_argument("--threads", type=non_negative_int, default=0, help="TensorFlow threads (0: TensorFlow's default)")
    p.add_argument("--list", action="store_true",
                   help="print the planned runs and whether each is done (loads no TensorFlow)")
    p.add_argument("--fit-verbose", type=int, default=0, choices=[0, 1, 2],
                   help="Keras fit's verbosity in each run: 0 none (a line per run), 1 a progress bar, 2 a line per "
                        "epoch")
    add_verbosity_arguments(p)
    p.set_defaults(func=run, check=lambda args: check(args, p), loads_tensorflow=lambda args: not args.list)
