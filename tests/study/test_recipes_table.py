"""``python -m study.recipes``: issue 28's paired table, from records written here."""

from __future__ import annotations

import json
from pathlib import Path

from study.recipes import load, main, table


def _write(folder: Path, method: str, seed: int, test: float, val: float) -> None:
    record = {"method": method, "seed": seed, "test": {"dice": test}, "best_val_dice": val,
              "history": {"val_dice": [val - 0.1] * 16}}
    (folder / f"g-f025-{method}-s{seed}.json").write_text(json.dumps(record))


def test_paired_gaps_positive_seeds_and_t_on_the_shared_seeds(tmp_path: Path, capsys) -> None:
    for seed, (ref, arm) in enumerate([(0.70, 0.72), (0.75, 0.76), (0.80, 0.83)]):
        _write(tmp_path, "flips", seed, ref, 0.78)
        _write(tmp_path, "hsmix_gradcam+flips@concat", seed, arm, 0.80)
    _write(tmp_path, "hsmix_gradcam+flips@concat", 7, 0.99, 0.99)  # no flips run for seed 7: left out
    rows = table(load(tmp_path, "g"), ["flips", "hsmix_gradcam+flips@concat"])
    assert rows[2].startswith("| flips (reference) | 3 (0, 1, 2) | – |")
    paper = rows[3]
    assert "| 3 (0, 1, 2) | +2.00 ± 1.00 | 3/3 | t = 3.46, p = 0.074 | 0.8000 ± 0.0000 | 0.7000 | 0.7700 |" in paper
    assert main(["--results-dir", str(tmp_path), "--group", "g"]) == 0
    assert "`paper` recipe + flips" in capsys.readouterr().out
