"""What every subcommand shares: argument types, the folder options, verbosity, quiet TensorFlow, CLI words.

Nothing here imports TensorFlow at module level: ``keras-hsmix --help`` answers without it.
"""

from __future__ import annotations

import argparse
import math
import os
import re
import sys
import tempfile
from collections.abc import Callable


# ---------------------------------------------------------------- argument types (checked before anything is written)
def _number(kind: Callable, text: str, ok: Callable, expected: str):
    try:
        value = kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}") from None
    if math.isnan(value) or not ok(value):
        raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}")
    return value


def positive_int(text: str) -> int:
    """argparse type: an int >= 1 (``--epochs``, ``--batch-size``, ``--depth``...)."""
    return _number(int, text, lambda v: v >= 1, "an integer >= 1")


def non_negative_int(text: str) -> int:
    """argparse type: an int >= 0 (``--seed``)."""
    return _number(int, text, lambda v: v >= 0, "an integer >= 0")


def positive_float(text: str) -> float:
    """argparse type: a finite float > 0 (``--lr``)."""
    return _number(float, text, lambda v: 0 < v < float("inf"), "a number > 0")


def non_negative_float(text: str) -> float:
    """argparse type: a finite float >= 0 (``--weight-decay``, ``--color-jitter``)."""
    return _number(float, text, lambda v: 0 <= v < float("inf"), "a number >= 0")


def probability(text: str) -> float:
    """argparse type: a float in [0, 1] (``--p``)."""
    return _number(float, text, lambda v: 0 <= v <= 1, "a number in [0, 1]")


def fraction(text: str) -> float:
    """argparse type: a float in (0, 1] (``compare --fractions``)."""
    return _number(float, text, lambda v: 0 < v <= 1, "a number in (0, 1]")


def share(text: str) -> float:
    """argparse type: a float in (0, 1), a part held out of a whole (``compare --val-fraction``)."""
    return _number(float, text, lambda v: 0 < v < 1, "a number between 0 and 1 (both excluded)")


def n_segments_range(values: list[int], parser: argparse.ArgumentParser) -> tuple[int, int]:
    """``--n-segments N`` or ``LOW HIGH`` (LOW <= HIGH) as ``(low, high)``; anything else exits with a usage error."""
    if len(values) not in (1, 2):
        parser.error(f"--n-segments: expected N or LOW HIGH (one or two integers), got {len(values)} values: "
                     f"{' '.join(map(str, values))}")
    low, high = values[0], values[-1]
    if low > high:
        parser.error(f"--n-segments: LOW must be <= HIGH, got {low} {high}")
    return low, high


def folder_options_given(args: argparse.Namespace) -> bool:
    """Whether ``--mask-mode``, ``--mask-suffix`` or ``--label-values`` were given: they read a ``--data`` folder."""
    return bool(args.mask_suffix or args.mask_mode != "nonzero" or args.label_values)


def check_model_options(parser: argparse.ArgumentParser, size: int, depth: int, num_classes: int) -> None:
    """Refuses (usage error) a ``--size`` the UNet cannot halve ``--depth`` times, or fewer than 2 classes."""
    if size < 16:
        parser.error(f"--size: expected an integer >= 16 (the UNet halves it --depth times), got {size}")
    if size % (2 ** depth):
        parser.error(f"--size {size} is not divisible by 2**--depth = {2 ** depth} (the UNet halves it --depth "
                     f"times); choose --size a multiple of {2 ** depth} or a smaller --depth")
    if num_classes < 2:
        parser.error(f"--num-classes: expected an integer >= 2 (background and at least one class), got {num_classes}")


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows every option's default (unless its help already says it); wide enough to read."""

    def __init__(self, prog: str) -> None:
        super().__init__(prog, max_help_position=32, width=min(110, max(60, _terminal_width())))

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if "default:" in text or action.default is argparse.SUPPRESS or action.nargs == 0:
            return text  # said in the text ("default: ..."); or a flag (off unless given)
        if action.option_strings and action.default == "":
            return text + " (default: none)"
        if isinstance(action.default, (list, tuple)):
            return text + " (default: " + " ".join(map(str, action.default)) + ")"
        return super()._get_help_string(action)


def _terminal_width() -> int:
    try:
        return os.get_terminal_size().columns
    except OSError:
        return 100


# ------------------------------------------------------------------------------------------------- shared options
def add_verbosity_arguments(parser: argparse.ArgumentParser, top_level: bool = False) -> None:
    """``-v`` / ``--verbose`` (count: TensorFlow's own logs and error tracebacks) and ``-q`` / ``--quiet``.

    On a subcommand the defaults are ``SUPPRESS``, so ``keras-hsmix -v train`` and
    ``keras-hsmix train -v`` both work.
    """
    default = 0 if top_level else argparse.SUPPRESS
    parser.add_argument("-v", "--verbose", dest="verbosity", action="count", default=default,
                        help="let TensorFlow's own log lines through and show tracebacks of errors "
                             "(default: quiet)")
    parser.add_argument("-q", "--quiet", dest="quiet", action="store_true",
                        default=False if top_level else argparse.SUPPRESS,
                        help="no progress bars or per-epoch lines, only the final summary")


def add_mask_arguments(parser: argparse.ArgumentParser) -> None:
    """The options that say how a folder's files are read: masks to class ids, image channels (see ``load_folder``)."""
    parser.add_argument(
        "--mask-mode", default="nonzero", choices=["nonzero", "threshold", "values"],
        help="nonzero: binary, 1 where the mask is > 0 (instance-id masks such as GlaS); threshold: 1 where > 127; "
             "values: multi-class, the gray value --label-values[k] is class k",
    )
    parser.add_argument(
        "--label-values", type=int, nargs="+", default=None, metavar="V",
        help="with --mask-mode values: the raw mask value of each class, in class order (default: "
             "0 1 ... K-1, masks that store class ids)",
    )
    parser.add_argument(
        "--channels", type=int, default=3, choices=[1, 3],
        help="image channels: 3 (RGB) or 1 (grayscale: CT, MRI, ultrasound, X-ray; RGB files become luma)",
    )
    parser.add_argument(
        "--mask-suffix", default="",
        help="what a mask's file name adds to its image's (e.g. _mask for images/12.jpg and masks/12_mask.png)",
    )


def check_output_file(parser: argparse.ArgumentParser, flag: str, path: str | None, folder: bool) -> None:
    """Refuses (usage error, nothing written) an output path of the wrong kind: a file for a folder or the reverse."""
    if path is None:
        return
    if folder and os.path.exists(path) and not os.path.isdir(path):
        parser.error(f"{flag} {path}: exists and is not a folder (the run folder must be a folder; choose another "
                     f"{flag})")
    if not folder and os.path.isdir(path):
        parser.error(f"{flag} {path}: is a folder; give the path of the file to write")
    parent = os.path.dirname(os.path.abspath(path))
    while parent and not os.path.exists(parent):
        parent = os.path.dirname(parent)
    if parent and not os.path.isdir(parent):
        parser.error(f"{flag} {path}: {parent} is a file, not a folder")


# ---------------------------------------------------------------------------------------------- quiet TensorFlow
#: TensorFlow's C++ (absl) log lines and their companions, as written to stderr while TensorFlow loads.
_TF_NOISE = re.compile(
    r"^(?:WARNING: All log messages before absl::InitializeLog\(\) is called are written to STDERR"
    r"|[IWEF]\d{4} [\d:.]+\s+\d+ [\w./-]+:\d+\] .*"
    r"|To enable the following instructions: .* rebuild TensorFlow with the appropriate compiler flags\."
    r"|oneDNN custom operations are on\. .*)$"
)


def is_tensorflow_log_line(line: str) -> bool:
    """Whether ``line`` is one of TensorFlow's own start-up / C++ log lines."""
    return bool(_TF_NOISE.match(line.rstrip("\r\n")))


def setup_logging(verbosity: int, load_tensorflow: bool = True) -> None:
    """At ``verbosity`` 0, makes TensorFlow quiet; from 1 on, leaves all its logging as it is.

    ``load_tensorflow=False`` (a command that never imports TensorFlow): only the variable and the Python
    loggers are set, for the case it is imported after all.

    Why ``TF_CPP_MIN_LOG_LEVEL=3`` set by hand was not enough: TensorFlow 2.21 logs through absl, and the
    lines written while its shared libraries load (``cudart_stub.cc``: "Could not find cuda drivers", twice,
    each after absl's "All log messages before absl::InitializeLog() ..." line) come before any setting is
    read; only lines logged later (``failed call to cuInit``, ``cpu_feature_guard``, oneDNN, XLA) honour the
    variable. So: the variable is set (unless the user set it) before TensorFlow is imported, for the later
    lines, and TensorFlow is imported here with the stderr file descriptor captured, keeping every captured
    line that is not one of TensorFlow's own log lines. Python's loggers of TensorFlow and absl are set to
    ERROR as well.
    """
    if verbosity > 0:
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    if load_tensorflow:
        _import_tensorflow_filtering_stderr()
    import logging

    for name in ("tensorflow", "absl", "h5py"):
        logging.getLogger(name).setLevel(logging.ERROR)


def _import_tensorflow_filtering_stderr() -> None:
    if "tensorflow" in sys.modules:
        return
    sys.stderr.flush()
    try:
        saved = os.dup(2)
    except OSError:  # no stderr file descriptor (embedded interpreters): import as usual
        import tensorflow
        return
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        try:
            import keras  # noqa: F401  (its import prints through TensorFlow too)
            import tensorflow  # noqa: F401
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            captured.seek(0)
            kept = [line for line in captured.read().decode(errors="replace").splitlines(keepends=True)
                    if not is_tensorflow_log_line(line)]
            if kept:
                sys.stderr.write("".join(kept))
                sys.stderr.flush()


# --------------------------------------------------------------------------------------------------- CLI words
#: Python argument names of the library -> the CLI's flags (used to put library messages into CLI words).
FLAGS: dict[str, str] = {
    "mask_suffix": "--mask-suffix", "mask_mode": "--mask-mode", "label_values": "--label-values",
    "num_classes": "--num-classes", "image_size": "--size", "channels": "--channels", "num_images": "--num-images",
    "data_dir": "--data", "learning_rate": "--lr", "lr_schedule": "--lr-schedule", "weight_decay": "--weight-decay",
    "color_jitter": "--color-jitter", "batch_size": "--batch-size", "n_segments": "--n-segments",
    "base_filters": "--base-filters", "depth": "--depth", "epochs": "--epochs", "seed": "--seed",
    "saliency": "--saliency",
}
#: Library advice with no CLI equivalent -> what a CLI user can do.
_PYTHON_ONLY = [
    (re.compile(r"pass allow_unpaired=True, or on_error='skip' in load_folder, to skip them"),
     "move them out of the folder to leave them out"),
    (re.compile(r"\(skippable with on_error=['\"]skip['\"][^)]*\)"), ""),
    (re.compile(r"with on_error=['\"]skip['\"]"), ""),
    (re.compile(r" \(CLI: [^)]*\)"), ""),  # the library's own hint to CLI users: the message is about to say it
    (re.compile(r"\bresume=True\b"), "--resume"),
    (re.compile(r"^(images|masks)_subdir: "), ""),  # the CLI's folders are always images/ and masks/
]
_ASSIGNMENT = re.compile(r"\b(" + "|".join(FLAGS) + r")=('[^']*'|\"[^\"]*\"|\[[^\]]*\]|\([^)]*\)|[\w.+-]+)")
#: Bare names are replaced only when they cannot be an ordinary word ("channels", "depth"): with an underscore.
_NAME = re.compile(r"(?<![-\w'.])(" + "|".join(n for n in FLAGS if "_" in n) + r")\b(?!['\w])")


def _cli_value(value: str) -> str:
    if value[:1] in "'\"":
        inner = value[1:-1]
        return inner if inner and " " not in inner else repr(inner)
    if value[:1] in "[(":
        return " ".join(v.strip().strip("'\"") for v in value[1:-1].split(",") if v.strip())
    return value


def cli_words(message: str) -> str:
    """A library message in the CLI's words: ``mask_suffix='_mask'`` -> ``--mask-suffix _mask``.

    Example:
        >>> cli_words("pass mask_suffix='_mask' to pair them")
        'pass --mask-suffix _mask to pair them'
        >>> cli_words("color_jitter must be >= 0, got -1.0")
        '--color-jitter must be >= 0, got -1.0'
    """
    for pattern, replacement in _PYTHON_ONLY:
        message = pattern.sub(replacement, message)
    message = _ASSIGNMENT.sub(lambda m: f"{FLAGS[m.group(1)]} {_cli_value(m.group(2))}", message)
    return _NAME.sub(lambda m: FLAGS[m.group(1)], message)


def fit_verbosity(quiet: bool, stream=None) -> int:
    """Keras ``fit(verbose=...)``: 0 when quiet, 1 (progress bar) on a terminal, 2 (a line per epoch) otherwise."""
    if quiet:
        return 0
    stream = sys.stdout if stream is None else stream
    try:
        return 1 if stream.isatty() else 2
    except (AttributeError, ValueError):
        return 2
