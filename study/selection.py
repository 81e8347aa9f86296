"""The study's statistics: paired gaps, per-image gaps, coverage, and the choices made on validation only.

Every choice here (an HSMix configuration, an optimizer setting) is made on validation scores; test scores
only measure the chosen configuration, on seeds the choice never saw where there are any.
"""

from __future__ import annotations

import json
from typing import Any, Iterable, Sequence

import numpy as np

from keras_hsmix.runs.compare import mean_sd, reference_method
from study.config import required_seeds
from study.methods import TABLE_METHODS, order


def device_kind(rec: dict) -> str:
    """``"cpu"`` or ``"gpu"``: the kind of device a run was trained on (groups never mix them)."""
    return rec.get("device", "cpu").split(":")[0]


def paired(records: dict[tuple[str, int], dict], method: str, reference: str, seeds: Iterable[int]) -> list[float]:
    """Per-seed test-DSC differences ``method - reference`` over the seeds both finished."""
    return [records[(method, s)]["test"]["dice"] - records[(reference, s)]["test"]["dice"]
            for s in seeds if (method, s) in records and (reference, s) in records]



def late_val_dice(record: dict) -> float:
    """Mean validation DSC over the last eighth of a run's epochs (at least one epoch).

    Unlike the best-epoch value it involves no selection, so runs whose validation
    curves are noisier are not favoured by it.

    Example:
        >>> late_val_dice({"history": {"val_dice": [0.1] * 14 + [0.5, 0.7]}})
        0.6
    """
    values = record["history"]["val_dice"]
    tail = values[-max(1, len(values) // 8):]
    return round(float(np.mean(tail)), 10)



def coverage_lines(recs: list[dict]) -> list[str]:
    """How complete a group's method × fraction table is: finished seeds per cell, short cells in bold.

    Only for groups that span several fractions (the full comparison table).

    Example:
        >>> recs = [{"method": "none", "fraction": f, "seed": s} for f in (0.25, 0.5) for s in range(3)]
        >>> lines = coverage_lines(recs)
        >>> lines[4]
        '| none | **3** of 5 | 3 |'
    """
    fractions = sorted({r["fraction"] for r in recs})
    if len(fractions) < 2:
        return []
    seeds: dict[tuple[str, float], set[int]] = {}
    for r in recs:
        seeds.setdefault((r["method"], r["fraction"]), set()).add(r["seed"])
    rows, short = [], 0
    for m in TABLE_METHODS:
        cells = []
        for f in fractions:
            n, need = len(seeds.get((m, f), ())), required_seeds(f)
            short += n < need
            cells.append(str(n) if n >= need else f"**{n}** of {need}")
        rows.append(f"| {m} | " + " | ".join(cells) + " |")
    total = len(TABLE_METHODS) * len(fractions)
    return [f"Coverage of the comparison table ({len(TABLE_METHODS)} methods × {len(fractions)} fractions, "
            f"5 seeds at 25 %, 3 elsewhere): {total - short} of {total} cells complete; finished seeds per cell:",
            "", "| method | " + " | ".join(f"{f:.0%}" for f in fractions) + " |",
            "|---|" + "---|" * len(fractions)] + rows + [""]



def per_image_gaps(table: dict[tuple[str, int], dict], method: str, reference: str,
                   seeds: Iterable[int]) -> tuple[list[str], np.ndarray, int] | None:
    """Test-DSC gap per test image (points ×100), ``method`` − ``reference``, averaged over the paired seeds.

    Uses the seeds where both runs stored per-image scores of the same test images; ``None`` if there is none.
    Returns the test image names, the mean gaps and the number of seeds used.

    Example:
        >>> rec = lambda d: {"test": {"dice_per_image": d}, "test_names": ["a", "b"]}
        >>> table = {("flips", 0): rec([0.5, 0.75]), ("x+flips", 0): rec([0.75, 0.5]),
        ...          ("flips", 1): rec([0.5, 0.5]), ("x+flips", 1): rec([0.75, 0.75])}
        >>> per_image_gaps(table, "x+flips", "flips", [0, 1])
        (['a', 'b'], array([25.,  0.]), 2)
    """
    gaps, names = [], None
    for seed in seeds:
        a, b = table.get((method, seed)), table.get((reference, seed))
        if a is None or b is None or "dice_per_image" not in a["test"] or "dice_per_image" not in b["test"]:
            continue
        if a.get("test_names") != b.get("test_names") or names not in (None, a.get("test_names")):
            continue
        names = a.get("test_names")
        gaps.append(np.subtract(a["test"]["dice_per_image"], b["test"]["dice_per_image"]) * 100)
    if not gaps:
        return None
    return list(names or range(len(gaps[0]))), np.mean(gaps, axis=0), len(gaps)


def per_image_lines(table: dict[tuple[str, int], dict], methods: list[str], seeds: list[int]) -> list[str]:
    """Report lines: where on the test split each method gains or loses against its reference, image by image."""
    rows = []
    for m in methods:
        ref = reference_method(m)
        result = None if m == ref else per_image_gaps(table, m, ref, seeds)
        if result is None:
            continue
        names, g, n = result
        order = np.argsort(g)
        losses = ", ".join(f"{names[i]} ({g[i]:+.1f})" for i in order[:3])
        gains = ", ".join(f"{names[i]} ({g[i]:+.1f})" for i in order[::-1][:3])
        rows.append(f"| {m} | {ref} | {n} | {int(np.sum(g > 0))}/{len(g)} | {np.median(g):+.2f} | "
                    f"{losses} | {gains} |")
    if not rows:
        return []
    return ["Per test image (test DSC gap to the reference in points ×100, per image, averaged over the seeds "
            "that stored per-image scores; images named by file stem):", "",
            "| method | vs | seeds | images better | median gap | largest losses | largest gains |",
            "|---|---|---|---|---|---|---|", *rows, ""]


def t_text(gaps: Sequence[float]) -> str:
    """``", t = …"`` of a one-sample t over paired gaps (mean / (std / sqrt(n))), or ``""`` when undefined.

    Example:
        >>> t_text([1.0, 2.0, 3.0]), t_text([1.0])
        (', t = 3.46', '')
    """
    if len(gaps) < 2 or np.std(gaps, ddof=1) == 0:
        return ""
    return f", t = {np.mean(gaps) / (np.std(gaps, ddof=1) / np.sqrt(len(gaps))):.2f}"


def target_lines(table: dict[tuple[str, int], dict], seeds: list[int]) -> list[str]:
    lines = ["Issue 4 target at 25 %, judged on the seeds both methods finished (paired test-DSC differences; "
             "t = mean / (std / sqrt(n)); two-sided 5 % critical |t|: 12.7 for n = 2, 4.3 for n = 3, 3.2 for n = 4, "
             "2.8 for n = 5):", ""]
    checks = [("hsmix_gradcam+flips", "flips", 0.015), ("hsmix_static+flips", "flips", 0.015),
              ("hsmix_gradcam+flips", "cutmix+flips", 0.0), ("hsmix_gradcam+flips", "mixup+flips", 0.0),
              ("hsmix_static+flips", "cutmix+flips", 0.0), ("hsmix_static+flips", "mixup+flips", 0.0),
              ("hsmix_gradcam", "none", 0.015)]
    ablations = [("hsmix_gradcam+flips+color", "flips+color", 0.015),  # beyond the target
                 ("hsmix_gradcam+flips+color", "mixup+flips+color", 0.0)]
    checks += [a for a in ablations if {a[0], a[1]} <= {m for m, _ in table}]
    for m, ref, margin in checks:
        d = [100 * x for x in paired(table, m, ref, seeds)]
        if not d:
            lines.append(f"- {m} ≥ {ref} + {100 * margin:.1f} points: not yet measured")
            continue
        gap = float(np.mean(d))
        ok = "met" if gap >= 100 * margin - 1e-9 else "NOT met"
        t = t_text(d)
        label = " (colour-jitter ablation, beyond the issue's target)" if (m, ref, margin) in ablations else ""
        lines.append(f"- {m} ≥ {ref} + {100 * margin:.1f} points{label}: {ok} on {len(d)} seed(s) "
                     f"(paired gap {mean_sd(d, 2)} points{t})")
    return lines + [""]


def hsmix_variants(methods: Iterable[str]) -> list[str]:
    """The superpixel-mixing configurations on top of flips (HSMix and its ablations, hard or soft only), without
    colour jitter, each once in first-seen order: the candidates a user would tune HSMix among.

    Example:
        >>> hsmix_variants(["flips", "hard+flips", "hsmix_gradcam+flips@p0.3", "hsmix_gradcam", "mixup+flips",
        ...                 "hsmix_gradcam+flips+color", "hard+flips"])
        ['hard+flips', 'hsmix_gradcam+flips@p0.3']
    """
    prefixes = ("hsmix_", "hard+", "soft_")
    return [m for m in dict.fromkeys(methods) if m.startswith(prefixes) and "+flips" in m and "+color" not in m]


def mean_best_val(table: dict[tuple[str, int], dict], method: str, seeds: Sequence[int]) -> float | None:
    """Mean best-validation DSC of ``method`` over ``seeds``, or ``None`` unless every seed finished.

    Example:
        >>> table = {("flips", 0): {"best_val_dice": 0.7}, ("flips", 1): {"best_val_dice": 0.8}}
        >>> round(mean_best_val(table, "flips", [0, 1]), 2), mean_best_val(table, "flips", [0, 1, 2])
        (0.75, None)
    """
    if not all((method, s) in table for s in seeds):
        return None
    return float(np.mean([table[(method, s)]["best_val_dice"] for s in seeds]))


def select_on_validation(
    table: dict[tuple[str, int], dict],
    candidates: Sequence[str],
    reference: str = "flips",
    select_seeds: Sequence[int] = range(5),
    eval_seeds: Sequence[int] | None = None,
) -> dict[str, Any] | None:
    """Picks one configuration by validation only, then measures it on runs the choice never saw.

    Among ``candidates`` that finished every seed of ``select_seeds``, the one with the highest mean best-validation
    DSC is chosen; its test DSC is then compared with ``reference`` (paired) on ``eval_seeds`` (default: every
    other seed both finished), fresh training runs whose scores played no part in the choice. Test scores are never
    used to choose, so the gap on ``eval_seeds`` is an honest estimate of what tuning on validation buys. ``None``
    when no candidate finished ``select_seeds``.

    Returns ``{"chosen", "ranking": [(method, mean val DSC)...], "gap": [test DSC differences on the eval seeds
    both finished], "eval_seeds_done"}``.
    """
    ranking = [(m, val) for m in candidates if (val := mean_best_val(table, m, select_seeds)) is not None]
    if not ranking:
        return None
    ranking.sort(key=lambda item: -item[1])
    chosen = ranking[0][0]
    if eval_seeds is None:
        eval_seeds = sorted({s for m, s in table if m == chosen and s not in set(select_seeds)})
    done = [s for s in eval_seeds if (chosen, s) in table and (reference, s) in table]
    gap = [table[(chosen, s)]["test"]["dice"] - table[(reference, s)]["test"]["dice"] for s in done]
    return {"chosen": chosen, "ranking": ranking, "gap": gap, "eval_seeds_done": done}


def validation_selection_lines(table: dict[tuple[str, int], dict]) -> list[str]:
    """Report lines of :func:`select_on_validation` over the HSMix variants (25 % only)."""
    result = select_on_validation(table, hsmix_variants(m for m, _ in table))
    if result is None or len(result["ranking"]) < 2:
        return []
    top = ", ".join(f"{m} {v:.4f}" for m, v in result["ranking"][:4])
    lines = ["HSMix configuration chosen on validation only: among the "
             f"{len(result['ranking'])} HSMix variants on top of flips with seeds 0-4 finished, the highest mean "
             f"best-validation DSC (seeds 0-4) is {top}.", ""]
    d = [100 * x for x in result["gap"]]
    if not d:
        lines.append(f"- {result['chosen']} on seeds ≥ 5 (runs the choice never saw): not yet measured; run "
                     f"`--seeds-25 10 --methods {result['chosen']} flips`")
    else:
        t = t_text(d)
        seeds = ", ".join(map(str, result["eval_seeds_done"]))
        lines.append(f"- {result['chosen']} − flips on seeds {seeds} (runs the choice never "
                     f"saw): {mean_sd(d, 2)} points{t}, {sum(x > 0 for x in d)}/{len(d)} seeds better")
    return lines + [""]


TRAINING_KEYS: tuple[str, ...] = ("learning_rate", "lr_schedule", "optimizer", "weight_decay")


def training_label(setting: dict[str, Any]) -> str:
    """A short name for a run's optimizer settings.

    Example:
        >>> training_label({"optimizer": "adamw", "learning_rate": 0.002, "weight_decay": 0.0005})
        'AdamW lr 0.002, wd 0.0005'
        >>> training_label({"optimizer": "adam", "learning_rate": 0.001, "lr_schedule": "cosine"})
        'Adam lr 0.001, cosine'
    """
    name = "AdamW" if setting.get("optimizer") == "adamw" else "Adam"
    label = f"{name} lr {setting.get('learning_rate', 0):g}"
    if setting.get("weight_decay"):
        label += f", wd {setting['weight_decay']:g}"
    if setting.get("lr_schedule", "constant") != "constant":
        label += f", {setting['lr_schedule']}"
    return label


def select_training_settings(records: Iterable[dict], select_seeds: Sequence[int] = range(5)) -> list[dict[str, Any]]:
    """Chooses each method's optimizer settings on validation, across groups that differ only in them.

    Runs whose stored ``setting`` agrees except for :data:`TRAINING_KEYS` (learning rate, schedule, optimizer,
    weight decay), at the same fraction and on the same kind of device, form one comparison. Within it each method
    that finished ``select_seeds`` under at least two settings gets the setting with the highest mean
    best-validation DSC over those seeds; test scores play no part. The method is then compared on test, paired by
    seed, with its reference (:func:`reference_method`) at the reference's own chosen setting, so every method,
    baselines included, is tuned the same way.

    Returns one dict per method with ``fraction``, ``method``, ``ranking`` ([(tag, label, mean val DSC)], best
    first), ``chosen`` (a tag), ``reference`` and ``reference_chosen`` (``None`` when the reference has no choice),
    ``seeds`` and ``gap`` (test DSC differences over every seed both chosen runs finished) and ``fresh_seeds`` /
    ``fresh_gap`` (the same, without ``select_seeds``: runs the choice never saw).
    """
    clusters: dict[tuple, dict[str, dict[tuple[str, int], dict]]] = {}
    for rec in records:
        setting = rec.get("setting")
        if not setting or "tag" not in rec:
            continue
        base = json.dumps({k: v for k, v in setting.items() if k not in TRAINING_KEYS}, sort_keys=True)
        key = (base, rec["fraction"], device_kind(rec))
        clusters.setdefault(key, {}).setdefault(rec["tag"], {})[(rec["method"], rec["seed"])] = rec
    out: list[dict[str, Any]] = []
    used = set(select_seeds)
    for key in sorted(clusters):
        tables = clusters[key]
        if len(tables) < 2:
            continue
        rankings: dict[str, list[tuple[str, str, float]]] = {}
        for m in order(m for table in tables.values() for m, _ in table):
            ranking = [(tag, training_label(table[(m, select_seeds[0])]["setting"]), val)
                       for tag, table in tables.items() if (val := mean_best_val(table, m, select_seeds)) is not None]
            if len(ranking) >= 2:
                rankings[m] = sorted(ranking, key=lambda item: -item[2])
        for m, ranking in rankings.items():
            ref = reference_method(m)
            chosen = tables[ranking[0][0]]
            row: dict[str, Any] = {"fraction": key[1], "method": m, "ranking": ranking, "chosen": ranking[0][0],
                                   "reference": ref, "reference_chosen": None, "seeds": [], "gap": [],
                                   "fresh_seeds": [], "fresh_gap": []}
            if m != ref and ref in rankings:
                row["reference_chosen"] = rankings[ref][0][0]
                ref_table = tables[row["reference_chosen"]]
                seeds = sorted(s for (mm, s) in chosen if mm == m and (ref, s) in ref_table)
                gaps = [chosen[(m, s)]["test"]["dice"] - ref_table[(ref, s)]["test"]["dice"] for s in seeds]
                row.update(seeds=seeds, gap=gaps,
                           fresh_seeds=[s for s in seeds if s not in used],
                           fresh_gap=[g for s, g in zip(seeds, gaps) if s not in used])
            out.append(row)
    return out


def training_selection_lines(records: Iterable[dict], select_seeds: Sequence[int] = range(5)) -> list[str]:
    """Report section of :func:`select_training_settings` (empty when no two groups differ only in the optimizer)."""
    rows = select_training_settings(records, select_seeds)
    if not rows:
        return []
    first, last = select_seeds[0], select_seeds[-1]
    lines = ["## Optimizer settings chosen on validation", "",
             "Groups whose runs differ only in the optimizer (learning rate, weight decay, schedule) compared per "
             f"method: each method gets the setting with the highest mean best-validation DSC over seeds "
             f"{first}-{last} (test scores play no part), then its test DSC is paired by seed with its reference's "
             "(flips for + flips methods, none otherwise) at the reference's own chosen setting, so baselines are "
             "tuned the same way. 'Fresh seeds' leaves out the seeds the choice was made on. Gaps in DSC points ×100.",
             ""]
    by_fraction: dict[float, list[dict]] = {}
    for row in rows:
        by_fraction.setdefault(row["fraction"], []).append(row)
    for fraction, group in by_fraction.items():
        labels = {tag: label for row in group for tag, label, _ in row["ranking"]}
        lines += [f"At {fraction:.0%} of the training pool, settings compared: "
                  + "; ".join(f"`{tag}` ({label})" for tag, label in sorted(labels.items())) + ".", "",
                  f"| method | mean best val DSC per setting (seeds {first}-{last}) | chosen | reference at | "
                  "vs reference, every seed | fresh seeds |", "|---|---|---|---|---|---|"]
        for row in group:
            vals = "; ".join(f"{label}: {val:.4f}" for _, label, val in row["ranking"])
            cells = []
            for gap in (row["gap"], row["fresh_gap"]):
                d = [100 * x for x in gap]
                sign = "+" if d and np.mean(d) > 0 else ""
                cells.append(f"{sign}{mean_sd(d, 2)}{t_text(d)} ({sum(x > 0 for x in d)}/{len(d)} better)" if d else "–")
            ref_at = labels[row["reference_chosen"]] if row["reference_chosen"] else "–"
            lines.append(f"| {row['method']} | {vals} | {labels[row['chosen']]} | {ref_at} | {cells[0]} | "
                         f"{cells[1]} |")
        lines.append("")
    return lines
