"""The study's report: ``docs/results.md`` and its plots, written from the stored run records.

The report starts with the hand-written ``docs/study_notes.md`` (budget, choices, what was tried and seen),
then one section per results group (runs that share a tag and a kind of device), the optimizer settings
chosen on validation, and the runs of the plan that are not finished yet.
"""

from __future__ import annotations

import json
import os
import shlex
from pathlib import Path


from keras_hsmix.runs import compare  # load_results loads on first use (TensorFlow)
from keras_hsmix.runs.compare import mean_sd
from study.config import CORRUPTIONS, ROOT, StudyConfig, plan_runs
from study.methods import MAIN_METHODS, order
from study.plots import plots
from study.selection import (
    coverage_lines, device_kind, late_val_dice, paired, per_image_lines, target_lines,
    training_selection_lines, validation_selection_lines,
)

NOTES_FILE = "study_notes.md"  # hand-written notes in the docs folder, copied into the report of a GlaS study


def study_command(cfg: StudyConfig, action: str = "") -> str:
    """The ``python -m study`` command (``action``: ``""`` to run or resume, ``"report"``, ``"list"``) of
    exactly this study's plan: every option that defines it.

    Example:
        >>> cfg = StudyConfig(data_dir="../shared/datasets/glas", epochs=400, fractions=(0.25,))
        >>> study_command(cfg, "report")[:80]
        'python -m study report --data ../shared/datasets/glas --size 64 --epochs 400 --b'
    """
    parts = ["python -m study"] + ([action] if action else [])
    if cfg.quick:
        parts.append("--quick")
    parts.append(f"--data {shlex.quote(cfg.data_dir) if cfg.data_dir else 'synthetic'}")
    if not cfg.quick:
        parts.append(f"--size {cfg.size} --epochs {cfg.epochs} --base-filters {cfg.base_filters} --depth {cfg.depth}")
    if cfg.lr_schedule != "constant":
        parts.append(f"--lr-schedule {cfg.lr_schedule}")
    defaults = StudyConfig()
    for attr, option in (("learning_rate", "--lr"), ("weight_decay", "--weight-decay"),
                         ("batch_size", "--batch-size")):
        if getattr(cfg, attr) != getattr(defaults, attr):
            parts.append(f"{option} {getattr(cfg, attr):g}")
    if tuple(cfg.methods) != MAIN_METHODS:
        parts.append("--methods " + " ".join(shlex.quote(m) for m in cfg.methods))
    if not cfg.quick:
        parts.append(f"--fractions {' '.join(f'{f:g}' for f in cfg.fractions)} --seeds-25 {cfg.seeds_25} "
                     f"--seeds-other {cfg.seeds_other}")
    if not cfg.ablations and not cfg.quick:
        parts.append("--no-ablations")
    if not cfg.robustness:
        parts.append("--no-robustness")
    parts.append(f"--results-dir {cfg.results_dir} --docs-dir {cfg.report_dir}")
    return " ".join(parts)


def relative_command(command: str) -> str:
    """A recorded command with every absolute path inside the repository's parent written relative to the
    repository, so that no machine's paths reach the report.

    Example:
        >>> relative_command(f"python -m study --data {ROOT.parent / 'shared' / 'glas'} --epochs 400")
        'python -m study --data ../shared/glas --epochs 400'
    """
    def rewrite(token: str) -> str:
        if token.startswith("/") and Path(token).is_relative_to(ROOT.parent):
            return os.path.relpath(token, ROOT)
        return token

    return " ".join(rewrite(t) for t in command.split(" "))


def group_label(rec: dict) -> tuple[str, str]:
    """``(tag, kind of device)``: the results group of a record."""
    return rec.get("tag", "?"), device_kind(rec)


def group_order(label: tuple[str, str], recs: list[dict], main_tag: str) -> tuple:
    """Report order of the results groups: the study's own tag first, then by size, epochs, schedule (numerically).

    Example:
        >>> recs = lambda size, epochs: [{"setting": {"size": size, "epochs": epochs}}]
        >>> labels = {("glas128px-400ep", "cpu"): recs(128, 400), ("glas64px-400ep", "cpu"): recs(64, 400),
        ...           ("glas64px-200ep", "cpu"): recs(64, 200)}
        >>> sorted(labels, key=lambda k: group_order(k, labels[k], "glas64px-200ep"))[1:]
        [('glas64px-400ep', 'cpu'), ('glas128px-400ep', 'cpu')]
    """
    setting = recs[0].get("setting", {})
    return (label[0] != main_tag, int(setting.get("size", 0)), int(setting.get("epochs", 0)),
            str(setting.get("lr_schedule", "constant")), label)


def write_report(cfg: StudyConfig, records: list[dict] | None = None) -> Path:
    """Writes ``<report_dir>/results.md`` (+ ``results_dsc.png``, ``results_curves.png``) from finished runs.

    A GlaS study's report starts with the hand-written ``<report_dir>/study_notes.md`` when that file exists.
    """
    records = compare.load_results(cfg.results_dir) if records is None else records
    docs = Path(cfg.report_dir)
    docs.mkdir(parents=True, exist_ok=True)
    groups: dict[tuple[str, str], list[dict]] = {}
    for rec in records:
        groups.setdefault(group_label(rec), []).append(rec)
    plan = plan_runs(cfg)
    done_ids = {r["run_id"] for r in records}
    missing = [r for r in plan if r.run_id(cfg) not in done_ids]

    lines = ["# Augmentation comparison on GlaS" if cfg.data_dir else "# Augmentation comparison (synthetic data)", ""]
    lines += [
        "Generated by the study in the repository's `study/` folder from the run records in "
        f"`{cfg.results_dir}/` (one JSON per finished run, with its configuration, curves and metrics). "
        "Only measured numbers are shown; every table covers the runs finished so far. Regenerate this page "
        f"and its plots from the records with `{study_command(cfg, 'report')}`.", "",
        "Protocol: a validation split (20 % of the GlaS training images, fixed) is held out for model "
        "selection (each run keeps its best-validation-DSC epoch); the rest is the training pool, of which "
        "fractions take fixed nested prefixes of one fixed permutation. The official test split is used "
        "for reporting only. All methods: same UNet, Adam, DiceCE loss, batch size and epoch budget; for "
        "one seed all methods start from the same initial weights. DSC / JAC: foreground, per image, "
        "mean over test images; HD95 in pixels of the resized image.", "",
    ]
    notes = docs / NOTES_FILE
    if cfg.data_dir and not cfg.quick and notes.is_file():
        lines += [notes.read_text().rstrip("\n") + "\n"]
    command = relative_command(cfg.command) if cfg.command and " report" not in cfg.command else ""
    lines += ["## Command", ""]
    if command:
        lines += ["Last command run:", "", "```bash", command, "```", ""]
    lines += ["Each results group below lists the commands that produced its runs. "
              "Resume or complete the study (finished runs are skipped; several processes may run it side by side, "
              "each run is claimed by one):", "", "```bash", study_command(cfg), "```", ""]

    ordered = sorted(groups, key=lambda label: group_order(label, groups[label], cfg.tag()))
    for tag, device in ordered:
        lines += group_section(tag, device, groups[(tag, device)], docs, first=(tag, device) == ordered[0])
    lines += training_selection_lines(records)

    lines += ["## Not yet run", ""]
    if missing:
        by: dict[tuple[float, str], list[int]] = {}
        for r in missing:
            by.setdefault((r.fraction, r.method), []).append(r.seed)
        lines += [f"{len(missing)} of {len(plan)} planned runs of `{cfg.tag()}` are not finished:", "",
                  "| fraction | method | seeds missing |", "|---|---|---|"]
        for (fraction, method), seeds in by.items():
            lines.append(f"| {fraction:.0%} | {method} | {', '.join(map(str, seeds))} |")
        lines += ["", "Run them with the resume command above."]
    else:
        lines.append("All planned runs are finished.")
    lines.append("")
    path = docs / "results.md"
    path.write_text("\n".join(lines))
    return path


def group_section(tag: str, device: str, recs: list[dict], docs: Path, first: bool) -> list[str]:
    setting = recs[0].get("setting", {})
    vers = recs[0].get("versions", {})
    devices = sorted({r.get("device", "?") for r in recs})
    seeds_all = sorted({r["seed"] for r in recs})
    wall = sum(r.get("wall_seconds", 0) for r in recs)
    lines = [f"## Results: `{tag}` on {', '.join(devices)}", ""]
    lines += [f"- setting: {json.dumps(setting)}",
              f"- versions: {', '.join(f'{k} {v}' for k, v in vers.items())}",
              f"- seeds: {seeds_all}; runs: {len(recs)}; total wall time of these runs: {wall / 3600:.2f} h "
              f"(mean {wall / max(1, len(recs)):.0f} s per run)"]
    commands = sorted({r.get("command", "") for r in recs} - {""})
    lines += ["- commands that produced these runs:", ""] + [f"      {relative_command(c)}" for c in commands] + [""]
    lines += coverage_lines(recs)
    by_fraction: dict[float, dict[tuple[str, int], dict]] = {}
    for r in recs:
        by_fraction.setdefault(r["fraction"], {})[(r["method"], r["seed"])] = r
    suffix = "" if first else f"_{tag}_{device}".replace("/", "_")
    for fraction in sorted(by_fraction):
        table = by_fraction[fraction]
        methods = order(m for m, _ in table)
        n_train = next(iter(table.values()))["n_train"]
        lines += [f"### {fraction:.0%} of the training pool ({n_train} training images)", "",
                  "Test split, best-validation checkpoint, mean ± std over seeds (sample std).", "",
                  "| method | seeds | DSC | JAC | HD95 (px) | best val DSC | best epoch | late val DSC |",
                  "|---|---|---|---|---|---|---|---|"]
        for m in methods:
            rs = [table[k] for k in sorted(table) if k[0] == m]
            lines.append(f"| {m} | {len(rs)} | {mean_sd([r['test']['dice'] for r in rs])} | "
                         f"{mean_sd([r['test']['jaccard'] for r in rs])} | {mean_sd([r['test']['hd95'] for r in rs], 2)} | "
                         f"{mean_sd([r['best_val_dice'] for r in rs])} | {mean_sd([r['best_epoch'] for r in rs], 0)} | "
                         f"{mean_sd([late_val_dice(r) for r in rs])} |")
        lines += ["", "Late val DSC: mean validation DSC over the last eighth of the epochs, free of the "
                  "best-epoch selection (the best of many noisy epochs is biased upwards, the more so the noisier "
                  "the curve)."]
        lines += ["", "Paired over seeds (test DSC difference, in DSC points ×100, mean ± std; wins = seeds where "
                  "the method is better):", "",
                  "| method | vs flips | wins | vs none | wins |", "|---|---|---|---|---|"]
        seeds = sorted({s for _, s in table})
        for m in methods:
            cells = []
            for ref in ("flips", "none"):
                d = paired(table, m, ref, seeds)
                if m == ref or not d:
                    cells += ["–", "–"]
                else:
                    cells += [mean_sd([100 * x for x in d], 2) + f" (n={len(d)})", f"{sum(x > 0 for x in d)}/{len(d)}"]
            lines.append(f"| {m} | " + " | ".join(cells) + " |")
        lines += [""]
        lines += per_image_lines(table, methods, seeds)
        if abs(fraction - 0.25) < 1e-9:
            lines += target_lines(table, seeds)
            lines += validation_selection_lines(table)
        rob = [m for m in methods if any("robustness" in table[k] for k in table if k[0] == m)]
        if rob:
            kinds = CORRUPTIONS
            lines += ["Robustness: test DSC drop (clean − corrupted, DSC points ×100, mean ± std over seeds) "
                      "under synthetic artifacts (blur σ=1.5 px, smooth multiplicative bias field, contrast ×0.4, "
                      "Gaussian noise σ=0.08):", "",
                      "| method | clean DSC | " + " | ".join(kinds) + " |", "|---|---|" + "---|" * len(kinds)]
            for m in rob:
                rs = [table[k] for k in sorted(table) if k[0] == m and "robustness" in table[k]]
                cells = [mean_sd([100 * (r["test"]["dice"] - r["robustness"][k]["dice"]) for r in rs], 2) for k in kinds]
                lines.append(f"| {m} | {mean_sd([r['test']['dice'] for r in rs])} | " + " | ".join(cells) + " |")
            lines.append("")
    png = plots(by_fraction, docs, suffix)
    lines += [f"![test DSC per method]({png[0]})", "", f"![validation curves]({png[1]})", ""]
    return lines
