"""``keras-hsmix compare``: the resumable augmentation comparison study (writes docs/results.md)."""

from __future__ import annotations

import argparse
import sys


def run(args: argparse.Namespace) -> int:
    from keras_hsmix.study.compare import main

    return main(args, getattr(args, "argv", None))


def add_parser(sub: argparse._SubParsersAction) -> None:
    from keras_hsmix.study.compare import add_arguments

    p = sub.add_parser(
        "compare",
        help="train the same UNet under each augmentation (GlaS or built-in data), resumably, and write docs/results.md",
    )
    add_arguments(p)
    p.set_defaults(func=run, argv=sys.argv[2:] if len(sys.argv) > 1 and sys.argv[1] == "compare" else None)
