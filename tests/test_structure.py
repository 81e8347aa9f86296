"""The package's structure, as docs/architecture.md states it: imports only go downward, no private name
crosses a module border, every module stays small, and no absolute path of a machine is in the repository."""

from __future__ import annotations

import ast
import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "keras_hsmix"

#: The levels of docs/architecture.md: a module may import from its own package and from lower levels only.
LEVELS: dict[str, int] = {
    "ops": 1, "losses": 1, "metrics": 1, "recipes": 1,
    "layers": 2,
    "data": 3, "models": 3, "training": 3, "visualize": 3,
    "distributed": 4,
    "runs": 5,
    "cli": 6,
}
MAX_LINES = 500


def _modules() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if "__pycache__" not in p.parts)


def _unit(path: Path) -> str | None:
    """The top-level unit of the package a file belongs to (``None`` for ``keras_hsmix/__init__.py``)."""
    rel = path.relative_to(PACKAGE).with_suffix("")
    return None if rel.parts == ("__init__",) else rel.parts[0]


def _imports(path: Path) -> list[tuple[int, str, list[str]]]:
    """``(line, imported keras_hsmix module, imported names)`` of every import in a file, nested ones included."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name, []) for a in node.names if a.name.split(".")[0] == "keras_hsmix"]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module.split(".")[0] == "keras_hsmix":
                found.append((node.lineno, node.module, [a.name for a in node.names]))
    return found


def _target_units(module: str, names: list[str]) -> list[str]:
    parts = module.split(".")
    if len(parts) > 1:
        return [parts[1]]
    return names  # ``from keras_hsmix import data, layers``


def test_every_unit_has_a_level() -> None:
    units = {_unit(p) for p in _modules()} - {None}
    assert units <= set(LEVELS), f"units without a level in docs/architecture.md: {sorted(units - set(LEVELS))}"


def test_imports_only_go_downward() -> None:
    upward = []
    for path in _modules():
        unit = _unit(path)
        if unit is None:
            continue  # the package's __init__ gathers the public API
        for line, module, names in _imports(path):
            for target in _target_units(module, names):
                if target == unit or target not in LEVELS:
                    continue
                if LEVELS[target] >= LEVELS[unit]:
                    upward.append(f"{path.relative_to(ROOT)}:{line}: {unit} (level {LEVELS[unit]}) imports "
                                  f"{module} ({target}, level {LEVELS[target]})")
    assert not upward, "imports that do not go downward:\n" + "\n".join(upward)


def test_no_private_name_crosses_a_module() -> None:
    crossing = []
    for path in _modules():
        own = ".".join(path.relative_to(ROOT).with_suffix("").parts)
        for line, module, names in _imports(path):
            private = [n for n in names if n.startswith("_") and not n.startswith("__")]
            if private and module != own:
                crossing.append(f"{path.relative_to(ROOT)}:{line}: imports {private} from {module}")
    assert not crossing, "private names imported across modules:\n" + "\n".join(crossing)


def test_modules_are_small() -> None:
    long = {str(p.relative_to(ROOT)): n for p in _modules() if (n := len(p.read_text().splitlines())) > MAX_LINES}
    assert not long, f"modules over {MAX_LINES} lines: {long}"


def test_detects_an_upward_import(tmp_path: Path) -> None:
    """The checker itself: an ops module importing the CLI is reported."""
    bad = tmp_path / "bad.py"
    bad.write_text("def f():\n    from keras_hsmix.cli.common import add_mask_arguments\n")
    assert [(m, _target_units(m, n)) for _, m, n in _imports(bad)] == [("keras_hsmix.cli.common", ["cli"])]


#: Absolute paths of a particular machine: home and work folders (tests write to pytest's tmp_path instead).
MACHINE_PATH = re.compile(r"(?<![\w.])/(?:work|root|home/\w+|Users/\w+|mnt/\w+|opt/\w+)/")


def test_no_absolute_path_of_a_machine_in_tracked_files() -> None:
    try:
        listed = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout: no list of tracked files")
    hits = []
    for name in listed.decode().split("\0"):
        path = ROOT / name
        if not name or not path.is_file() or path.suffix in (".png", ".jpg", ".ipynb_checkpoints"):
            continue
        try:
            text = path.read_text()
        except (UnicodeDecodeError, OSError):
            continue
        if path == Path(__file__).resolve():
            continue
        for number, line in enumerate(text.splitlines(), 1):
            if MACHINE_PATH.search(line):
                hits.append(f"{name}:{number}: {line.strip()[:120]}")
    assert not hits, f"{len(hits)} line(s) with an absolute path of a machine:\n" + "\n".join(hits[:20])
