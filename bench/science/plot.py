"""Plots of the science run: reads the results JSON written by bench/science/run.ts, writes PNGs.

Runs in its own small venv with matplotlib only (bench/science/setup-plot.sh); the Agg backend needs no display.
Bars are means over seeds, error bars one standard deviation, dots the individual seeds.
"""
import json
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

COLORS = ["#4c72b0", "#dd8452", "#55a868", "#c44e52", "#8172b3", "#937860", "#da8bc3"]


def mean_std(values):
    n = len(values)
    if n == 0:
        return float("nan"), float("nan")
    m = sum(values) / n
    s = (sum((v - m) ** 2 for v in values) / (n - 1)) ** 0.5 if n > 1 else 0.0
    return m, s


def grouped_bars(ax, groups, series, values, ylabel):
    """values[series][group] -> list of per-seed scores."""
    width = 0.8 / max(1, len(series))
    for si, name in enumerate(series):
        for gi, group in enumerate(groups):
            vals = values[name].get(group, [])
            m, s = mean_std(vals)
            x = gi + (si - (len(series) - 1) / 2) * width
            ax.bar(x, m, width, yerr=s, capsize=3, color=COLORS[si % len(COLORS)], label=name if gi == 0 else None)
            ax.scatter([x] * len(vals), vals, s=8, color="black", zorder=3)
    ax.set_xticks(range(len(groups)))
    ax.set_xticklabels(groups)
    ax.set_ylim(0, 1.05)
    ax.set_ylabel(ylabel)
    ax.grid(axis="y", alpha=0.3)


def main(results_path, out_dir):
    results = json.loads(Path(results_path).read_text())
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)

    c1 = results["claim1"]
    fig, ax = plt.subplots(figsize=(7, 3.6))
    grouped_bars(ax, c1["tasks"], c1["methods"], c1["scores"], "exact match (eval)")
    ax.set_title(f"Claim 1: target-task exact match at {results['config']['steps']} steps")
    ax.legend(fontsize=8, ncol=4, loc="upper center", bbox_to_anchor=(0.5, -0.12))
    fig.tight_layout()
    fig.savefig(out / "claim1-target-task.png", dpi=110)
    plt.close(fig)

    c2 = results["claim2"]
    fig, ax = plt.subplots(figsize=(7, 3.6))
    groups = [f"{c2['taskA']} after A", f"{c2['taskA']} after A→B", f"{c2['taskB']} after A→B"]
    values = {m: {groups[0]: v["aBefore"], groups[1]: v["aAfter"], groups[2]: v["bAfter"]} for m, v in c2["scores"].items()}
    grouped_bars(ax, groups, c2["methods"], values, "exact match (eval)")
    ax.set_title(f"Claim 2: sequential {c2['taskA']} → {c2['taskB']}")
    ax.legend(fontsize=8, ncol=4, loc="upper center", bbox_to_anchor=(0.5, -0.12))
    fig.tight_layout()
    fig.savefig(out / "claim2-sequential.png", dpi=110)
    plt.close(fig)

    c3 = results["claim3"]
    for merge in c3["merges"]:
        fig, ax = plt.subplots(figsize=(7, 3.6))
        grouped_bars(ax, merge["tasks"], merge["methods"], merge["scores"], "exact match (eval)")
        ax.set_title(f"Claim 3: merged {' + '.join(merge['tasks'])}")
        ax.legend(fontsize=8, ncol=3, loc="upper center", bbox_to_anchor=(0.5, -0.12))
        fig.tight_layout()
        fig.savefig(out / f"claim3-merge-{len(merge['tasks'])}.png", dpi=110)
        plt.close(fig)


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: plot.py RESULTS.json OUT_DIR")
    main(sys.argv[1], sys.argv[2])
