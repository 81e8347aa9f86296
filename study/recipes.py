"""``python -m study.recipes``: issue 28's measurement of the HSMix recipes, paired with flips.

For each arm of one study group (default: GlaS 64 px, 400 epochs, AdamW 2e-3, weight decay 5e-4, 25 %) it
prints, over the seeds that the arm and flips both finished: the paired test-DSC gap to flips (mean ± sd in
points, seeds positive, paired t and its two-sided p), then the validation scores that choose the defaults
(best-validation DSC, the epoch-selected score, and the late validation DSC, the mean of the last eighth of
the epochs, free of that selection). Test scores never choose anything here.

Example::

    python -m study.recipes
    python -m study.recipes --results-dir study/results --group glas64px-400ep-lr0.002-wd0.0005
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Sequence

import numpy as np
from scipy import stats

from study.selection import late_val_dice, paired

#: Issue 28's arms: what each is, as the study names it.
ARMS = {
    "flips": "flips (reference)",
    "hsmix_gradcam+flips": "`default` recipe + flips (one of hard / soft / none per batch, Grad-CAM λ)",
    "hsmix_random+flips@concat": "`authors-glas` recipe + flips (concat, Beta(1, 1) λ per superpixel)",
    "hsmix_gradcam+flips@concat": "`paper` recipe + flips (concat, Grad-CAM λ)",
}


def load(results_dir: Path, group: str, fraction: str = "f025") -> dict[tuple[str, int], dict]:
    """The records of ``group`` at ``fraction``, by ``(method, seed)``."""
    records = {}
    for path in sorted(results_dir.glob(f"{group}-{fraction}-*.json")):
        rec = json.loads(path.read_text())
        records[(rec["method"], int(rec["seed"]))] = rec
    return records


def table(records: dict[tuple[str, int], dict], arms: Sequence[str], reference: str = "flips") -> list[str]:
    """Markdown rows: paired test gap to ``reference`` and the validation scores of each arm."""
    lines = ["| arm | seeds | test DSC gap to flips (points) | seeds positive | paired t, p | "
             "best val DSC | late val DSC | test DSC |", "|---|---|---|---|---|---|---|---|"]
    for arm in arms:
        seeds = sorted(s for (m, s) in records if m == arm and (reference, s) in records)
        if not seeds:
            continue
        test = np.array([records[(arm, s)]["test"]["dice"] for s in seeds])
        val = np.array([records[(arm, s)]["best_val_dice"] for s in seeds])
        late = np.array([late_val_dice(records[(arm, s)]) for s in seeds])
        if arm == reference:
            gap_text, positive, t_text = "–", "–", "–"
        else:
            gaps = 100 * np.array(paired(records, arm, reference, seeds))
            sd = gaps.std(ddof=1) if len(gaps) > 1 else float("nan")
            gap_text = f"{gaps.mean():+.2f} ± {sd:.2f}"
            positive = f"{int((gaps > 0).sum())}/{len(gaps)}"
            if len(gaps) > 1 and sd > 0:
                t, p = stats.ttest_1samp(gaps, 0.0)
                t_text = f"t = {t:.2f}, " + (f"p = {p:.3f}" if p >= 0.001 else "p < 0.001")
            else:
                t_text = "–"
        lines.append(f"| {ARMS.get(arm, arm)} | {len(seeds)} ({', '.join(map(str, seeds))}) | {gap_text} | "
                     f"{positive} | {t_text} | {val.mean():.4f} ± {val.std(ddof=1) if len(val) > 1 else 0:.4f} | "
                     f"{late.mean():.4f} | {test.mean():.4f} |")
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m study.recipes", description=__doc__.split("\n\n")[0])
    parser.add_argument("--results-dir", default="study/results", help="the study's records (default: %(default)s)")
    parser.add_argument("--group", default="glas64px-400ep-lr0.002-wd0.0005",
                        help="the study group: setting tag of the runs (default: %(default)s)")
    parser.add_argument("--arms", nargs="+", default=list(ARMS), help="study method names (default: issue 28's)")
    args = parser.parse_args(argv)
    records = load(Path(args.results_dir), args.group)
    print("\n".join(table(records, args.arms)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
