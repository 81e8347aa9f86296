"""The study's figures: test DSC per method and fraction, and the validation curves of the first fraction."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from study.methods import order


def plots(by_fraction: dict[float, dict[tuple[str, int], dict]], docs: Path, suffix: str) -> tuple[str, str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fractions = sorted(by_fraction)
    methods = order(m for t in by_fraction.values() for m, _ in t)
    fig, ax = plt.subplots(figsize=(max(8, 0.6 * len(methods) * len(fractions)), 4.5))
    width = 0.8 / max(1, len(fractions))
    x = np.arange(len(methods))
    for j, f in enumerate(fractions):
        table = by_fraction[f]
        values = [[r["test"]["dice"] for k, r in table.items() if k[0] == m] for m in methods]
        means = [np.mean(v) if v else np.nan for v in values]
        stds = [np.std(v, ddof=1) if len(v) > 1 else 0.0 for v in values]
        ax.bar(x + j * width, means, width, yerr=stds, capsize=2, label=f"{f:.0%}")
        for i, v in enumerate(values):  # one dot per seed
            ax.plot([x[i] + j * width] * len(v), v, "k.", ms=3)
    ax.set_xticks(x + width * (len(fractions) - 1) / 2)
    ax.set_xticklabels(methods, rotation=60, ha="right", fontsize=8)
    finite = [r["test"]["dice"] for t in by_fraction.values() for r in t.values()]
    ax.set_ylim(max(0.0, min(finite) - 0.05), min(1.0, max(finite) + 0.03))
    ax.set_ylabel("test DSC (mean ± std over seeds)")
    ax.legend(title="training fraction")
    fig.tight_layout()
    bar = f"results_dsc{suffix}.png"
    fig.savefig(docs / bar, dpi=110)
    plt.close(fig)

    f0 = fractions[0]
    table = by_fraction[f0]
    fig, ax = plt.subplots(figsize=(9, 5))
    for m in order(m for m, _ in table):
        curves = [r["history"].get("val_dice", []) for k, r in table.items() if k[0] == m]
        n = min(len(c) for c in curves) if curves else 0
        if n == 0:
            continue
        mean = np.mean([c[:n] for c in curves], axis=0)
        k = max(1, n // 40)
        smooth = np.convolve(mean, np.ones(k) / k, mode="valid")
        ax.plot(np.arange(len(smooth)) + k, smooth, label=f"{m} ({len(curves)})", lw=1.2)
    ax.set_xlabel("epoch")
    ax.set_ylabel("validation DSC (mean over seeds, moving average)")
    ax.set_title(f"validation curves at {f0:.0%}")
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    curves_png = f"results_curves{suffix}.png"
    fig.savefig(docs / curves_png, dpi=110)
    plt.close(fig)
    return bar, curves_png
