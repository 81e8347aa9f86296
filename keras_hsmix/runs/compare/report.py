"""What a comparison prints and writes: the paired table, a plot, and the command that resumes it.

Each method is paired with its reference (:func:`~keras_hsmix.runs.compare.methods.reference_method`) seed
by seed: the same seed means the same initial weights, validation split and training subset, so the test
DSC gap of a seed measures the method and little else.
"""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from keras_hsmix.runs.compare.config import BUDGET_FIELDS, CompareConfig
from keras_hsmix.runs.compare.methods import reference_method


def mean_sd(values: Sequence[float], digits: int = 4) -> str:
    """``"mean ± sd"`` (sample sd), the value alone for one, ``"–"`` for none.

    Example:
        >>> mean_sd([0.5, 0.7]), mean_sd([0.5]), mean_sd([])
        ('0.6000 ± 0.1414', '0.5000', '–')
    """
    values = [v for v in values if v is not None and np.isfinite(v)]
    if not values:
        return "–"
    if len(values) == 1:
        return f"{values[0]:.{digits}f}"
    return f"{np.mean(values):.{digits}f} ± {np.std(values, ddof=1):.{digits}f}"


def paired_gaps(table: dict[tuple[str, int], dict], method: str, reference: str) -> list[float]:
    """Test-DSC differences ``method − reference`` over the seeds both finished (in seed order).

    Example:
        >>> table = {("flips", 0): {"test": {"dice": 0.5}}, ("x+flips", 0): {"test": {"dice": 0.75}},
        ...          ("x+flips", 1): {"test": {"dice": 0.9}}}
        >>> paired_gaps(table, "x+flips", "flips")
        [0.25]
    """
    seeds = sorted({s for m, s in table if m == method})
    return [table[(method, s)]["test"]["dice"] - table[(reference, s)]["test"]["dice"]
            for s in seeds if (reference, s) in table]


def paired_table(records: Iterable[dict], methods: Sequence[str] | None = None) -> list[str]:
    """Markdown rows: per fraction and method, test DSC over seeds and the paired gap to its reference.

    Gaps are in DSC points ×100: mean ± sd over the seeds both runs finished, and how many of those seeds
    the method is better on.

    Example:
        >>> rec = lambda m, s, d: {"method": m, "seed": s, "fraction": 1.0, "test": {"dice": d}}
        >>> rows = paired_table([rec("none", 0, 0.5), rec("flips", 0, 0.6), rec("none", 1, 0.5),
        ...                      rec("flips", 1, 0.7)])
        >>> rows[-1]
        '| 100% | flips | none | 2 | 0.6500 ± 0.0707 | +15.00 ± 7.07 | 2/2 |'
    """
    by_fraction: dict[float, dict[tuple[str, int], dict]] = {}
    for r in records:
        by_fraction.setdefault(r["fraction"], {})[(r["method"], r["seed"])] = r
    lines = ["| fraction | method | vs | seeds | test DSC | gap to vs (points ×100) | seeds better |",
             "|---|---|---|---|---|---|---|"]
    for fraction in sorted(by_fraction):
        table = by_fraction[fraction]
        present = list(dict.fromkeys(m for m, _ in table))
        order = [m for m in (methods or present) if m in present] + [m for m in present if m not in (methods or ())]
        for m in dict.fromkeys(order):
            dice = [table[k]["test"]["dice"] for k in sorted(table) if k[0] == m]
            ref = reference_method(m)
            gaps = [100 * g for g in paired_gaps(table, m, ref)] if m != ref else []
            gap = "–" if not gaps else ("+" if np.mean(gaps) > 0 else "") + mean_sd(gaps, 2)
            better = f"{sum(g > 0 for g in gaps)}/{len(gaps)}" if gaps else "–"
            lines.append(f"| {fraction:.0%} | {m} | {ref if m != ref else '–'} | {len(dice)} | {mean_sd(dice)} | "
                         f"{gap} | {better} |")
    return lines


def resume_command(cfg: CompareConfig, prog: str = "keras-hsmix compare") -> str:
    """The command that plans exactly this comparison again (finished runs are skipped).

    Every option that defines the plan is written out; ``--quick`` stands for its budget options.

    Example:
        >>> cmd = resume_command(CompareConfig(data_dir="data/kvasir", seeds=5, methods=("flips", "cutmix+flips")))
        >>> "--seeds 5" in cmd and "--methods flips cutmix+flips" in cmd and "--weight-decay 0" in cmd
        True
    """
    parts: list[str] = [prog]
    if cfg.quick:
        parts.append("--quick")
    parts += ["--data", cfg.data_dir or "synthetic"]
    if cfg.test_dir:
        parts += ["--test-data", cfg.test_dir]
    if cfg.name:
        parts += ["--name", cfg.name]
    parts += ["--out", cfg.report_dir]
    budget = {"size": ["--size", str(cfg.size)], "fractions": ["--fractions", *(f"{f:g}" for f in cfg.fractions)],
              "seeds": ["--seeds", str(cfg.seeds)], "epochs": ["--epochs", str(cfg.epochs)],
              "base_filters": ["--base-filters", str(cfg.base_filters)], "depth": ["--depth", str(cfg.depth)]}
    for key in BUDGET_FIELDS:
        if not cfg.quick and key in budget:
            parts += budget[key]
    parts += ["--methods", *cfg.methods, "--batch-size", str(cfg.batch_size), "--lr", f"{cfg.learning_rate:g}",
              "--lr-schedule", cfg.lr_schedule, "--weight-decay", f"{cfg.weight_decay:g}", "--p", f"{cfg.p:g}"]
    if cfg.n_segments is not None and not cfg.quick:
        parts += ["--n-segments", *(str(n) for n in cfg.n_segments)]
    parts += ["--val-fraction", f"{cfg.val_fraction:g}", "--split-seed", str(cfg.split_seed)]
    if cfg.data_dir and not cfg.test_dir:
        parts += ["--test-fraction", f"{cfg.test_fraction:g}"]
    parts += ["--num-classes", str(cfg.num_classes), "--mask-mode", cfg.mask_mode, "--channels", str(cfg.channels)]
    if cfg.label_values is not None:
        parts += ["--label-values", *(str(v) for v in cfg.label_values)]
    if cfg.mask_suffix:
        parts += ["--mask-suffix", cfg.mask_suffix]
    return " ".join([parts[0]] + [shlex.quote(p) for p in parts[1:]])


def plot(records: Sequence[dict], path: Path, methods: Sequence[str] | None = None, title: str = "") -> Path:
    """Bar plot of the test DSC per method and fraction (mean ± sd over seeds, one dot per seed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fractions = sorted({r["fraction"] for r in records})
    present = list(dict.fromkeys(r["method"] for r in records))
    names = [m for m in (methods or present) if m in present] + [m for m in present if m not in (methods or ())]
    names = list(dict.fromkeys(names))
    fig, ax = plt.subplots(figsize=(max(6, 0.7 * len(names) * len(fractions)), 4))
    width = 0.8 / max(1, len(fractions))
    x = np.arange(len(names))
    for j, f in enumerate(fractions):
        values = [[r["test"]["dice"] for r in records if r["method"] == m and r["fraction"] == f] for m in names]
        means = [np.mean(v) if v else np.nan for v in values]
        sds = [np.std(v, ddof=1) if len(v) > 1 else 0.0 for v in values]
        ax.bar(x + j * width, means, width, yerr=sds, capsize=2, label=f"{f:.0%}")
        for i, v in enumerate(values):
            ax.plot([x[i] + j * width] * len(v), v, "k.", ms=3)
    ax.set_xticks(x + width * (len(fractions) - 1) / 2)
    ax.set_xticklabels(names, rotation=45, ha="right", fontsize=8)
    ax.set_ylabel("test DSC (mean ± sd over seeds)")
    ax.set_title(title, fontsize=9)
    ax.legend(title="training fraction", fontsize=7)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def write_report(cfg: CompareConfig, records: Sequence[dict], plan_size: int) -> Path:
    """Writes ``<report_dir>/<tag>.md`` (protocol, paired table, resume command) and ``<tag>.png``.

    Only the records of this comparison (its tag) are used.
    """
    records = [r for r in records if r.get("tag") == cfg.tag()]
    out = Path(cfg.report_dir)
    out.mkdir(parents=True, exist_ok=True)
    optimizer = "AdamW" if cfg.optimizer() == "adamw" else "Adam"
    opt_text = f"{optimizer} lr {cfg.learning_rate:g}" + (f", weight decay {cfg.weight_decay:g}"
                                                         if cfg.weight_decay else "")
    lines = [f"# Augmentation comparison on {cfg.data_name()}", "",
             f"`{cfg.tag()}`: {len(records)} of {plan_size} planned runs finished (records in `{cfg.results_dir}/`).",
             "", f"Protocol: {cfg.val_fraction:.0%} of the training images are a fixed validation split; each run "
             "keeps its best-validation-DSC epoch. Fractions take nested subsets of the rest. The test split is "
             f"used for reporting only. Every method: the same UNet ({cfg.base_filters} base filters, depth "
             f"{cfg.depth}) at {cfg.size} px, {opt_text} ({cfg.lr_schedule}), DiceCE loss, batch {cfg.batch_size}, "
             f"{cfg.epochs} epochs; for one seed all methods start from the same initial weights. DSC: foreground, "
             "per image, mean over the test images.", "",
             "Each method against its reference, paired by seed:", ""]
    lines += paired_table(records, cfg.methods)
    png = plot(records, out / f"{cfg.tag()}.png", cfg.methods, cfg.tag()) if records else None
    if png is not None:
        lines += ["", f"![test DSC per method]({png.name})"]
    lines += ["", "Resume or complete it (finished runs are skipped):", "", "```bash", resume_command(cfg), "```", ""]
    path = out / f"{cfg.tag()}.md"
    path.write_text("\n".join(lines))
    return path
