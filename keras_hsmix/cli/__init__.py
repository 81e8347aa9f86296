"""Command line ``keras-hsmix``: argument parsing and printing only.

Each subcommand lives in its own module with ``add_parser(subparsers)`` and a
``run(args)`` that imports the heavy parts (TensorFlow) only when it runs, so
``--help`` answers at once. At default verbosity TensorFlow's own log lines are
kept off the terminal (``-v`` lets them through); expected errors are printed in
the CLI's words (flags, not Python arguments) without a traceback (``-v`` adds it).
"""

from __future__ import annotations

import argparse
import sys
import traceback
from collections.abc import Sequence

from keras_hsmix.cli import compare, preview, train
from keras_hsmix.cli.common import (
    HelpFormatter,
    add_verbosity_arguments,
    cli_words,
    setup_logging,
)

SUBCOMMANDS = (preview, train, compare)
#: Errors a user can cause (bad data, a path that exists, a missing file, TensorFlow's checks of the data, another
#: Keras backend): one line, exit status 2. Anything else is a bug and keeps its traceback.
EXPECTED_ERRORS = (ValueError, TypeError, OSError, ImportError)


class _Parser(argparse.ArgumentParser):
    """Every (sub)parser shows each option's default in its help."""

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("formatter_class", HelpFormatter)
        super().__init__(*args, **kwargs)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="keras-hsmix",
        description="HSMix (hard and soft superpixel mixing) augmentation for Keras 3: train a UNet with it, "
                    "preview its mixes, or compare augmentations.",
        epilog="Try: keras-hsmix train --out runs/demo  (built-in data, about a minute on 2 cores). "
               "Each subcommand has its own --help.",
    )
    add_verbosity_arguments(parser, top_level=True)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=_Parser)
    for module in SUBCOMMANDS:
        module.add_parser(sub)
    return parser


def _tensorflow_error_types() -> tuple[type, ...]:
    tf = sys.modules.get("tensorflow")
    return (tf.errors.OpError,) if tf is not None else ()


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if hasattr(args, "check"):  # validate every argument before anything is read or written (usage errors name
        args.check(args)  # the subcommand: "keras-hsmix train: error: ...", as argparse's own do)
    verbosity = getattr(args, "verbosity", 0) or 0
    if hasattr(args, "intro") and not getattr(args, "quiet", False):
        print(args.intro(args), flush=True)  # the first line comes before TensorFlow's seconds of loading
    # TensorFlow is loaded here (quietly) unless the command does without it (``compare --list``: seconds saved)
    setup_logging(verbosity, load_tensorflow=getattr(args, "loads_tensorflow", lambda _: True)(args))
    try:
        return args.func(args)
    except KeyboardInterrupt:
        print(f"keras-hsmix {args.command}: interrupted", file=sys.stderr)
        return 130
    except EXPECTED_ERRORS + _tensorflow_error_types() as err:
        if verbosity:
            traceback.print_exc()
        message = getattr(err, "message", None) if not isinstance(err, OSError) else None
        text = cli_words(str(message or err) or type(err).__name__)
        hint = "" if verbosity or isinstance(err, (ValueError, OSError)) else " (-v shows the traceback)"
        print(f"keras-hsmix {args.command}: error: {text}{hint}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
