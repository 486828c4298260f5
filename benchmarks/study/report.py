"""What the runs say, computed from the results alone (no run is started here): the per-arm summary,
the Markdown table, the accuracy-vs-bytes plot, the gate's figures and the spectral rankings."""
from __future__ import annotations

import os
import shutil
import statistics

from .running import read_json


def summarize(results: dict) -> dict:
    """Per arm: mean ± std (sample std; 0 for one seed) of the per-seed metric."""
    out = {}
    for arm, r in results["arms"].items():
        values = [v["metric"] for v in r["seeds"].values() if v["metric"] is not None]
        out[arm] = {"n": len(values), "mean": statistics.mean(values) if values else None,
                    "std": statistics.stdev(values) if len(values) > 1 else 0.0,
                    "s_per_iter": statistics.median([v["s_per_iter"] for v in r["seeds"].values()
                                                     if v["s_per_iter"] is not None] or [float("nan")])}
    return out


def paired(results: dict, pairs: list) -> dict:
    """``"arm − reference"`` -> per-seed differences of the metric on the seeds both ran, and their mean
    (pairs with no common seed are left out)."""
    out = {}
    for arm, ref in pairs:
        a, b = (results["arms"].get(x, {}).get("seeds", {}) for x in (arm, ref))
        diffs = {s: a[s]["metric"] - b[s]["metric"] for s in sorted(a, key=int)
                 if s in b and a[s]["metric"] is not None and b[s]["metric"] is not None}
        if diffs:
            out[f"{arm} − {ref}"] = {"seeds": diffs, "mean": statistics.mean(diffs.values())}
    return out


def table(results: dict) -> str:
    """The summary as a Markdown table, one row per arm."""
    rows = ["| arm | metric | per seed | mean ± std | GFLOPs | input bytes | train s/iter |", "|---|---|---|---|---|---|---|"]
    for arm, s in results["summary"].items():
        r = results["arms"][arm]
        seeds = ", ".join(f"{k}: {v['metric']:.1f}" for k, v in r["seeds"].items() if v["metric"] is not None)
        mean = "–" if s["mean"] is None else f"{s['mean']:.1f} ± {s['std']:.1f}"
        c = r["cost"]
        rows.append(f"| {arm} | {r['metric_name']} | {seeds} | {mean} | {c['gflops']:.3f} | {c['input_bytes'] / 1e3:.0f} kB "
                    f"| {s['s_per_iter']:.2f} |")
    if results.get("paired"):
        rows += ["", "| paired by seed | per seed | mean |", "|---|---|---|"]
        rows += [f"| {name} | " + ", ".join(f"{k}: {v:+.1f}" for k, v in p["seeds"].items()) + f" | {p['mean']:+.1f} |"
                 for name, p in results["paired"].items()]
    return "\n".join(rows)


def plot(results: dict, path: str) -> str:
    """Accuracy vs bytes to the model, one point per arm with ±std error bars; one panel per task.

    Arms with equal bytes (most DCT-24 arms and RGB) are spread sideways around their x, each label sits to
    the right of its own point (moved down the panel only as far as needed to clear the label above), and
    the x ticks are the bytes themselves, in plain numbers."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import NullFormatter, NullLocator

    tasks = sorted({r["metric_name"] for r in results["arms"].values()})
    fig, axes = plt.subplots(1, len(tasks), figsize=(7.5 * len(tasks), 4.8), constrained_layout=True, squeeze=False)
    for ax, task in zip(axes[0], tasks):
        groups = {}  # bytes -> [(mean, std, arm)]
        for arm, r in results["arms"].items():
            s = results["summary"][arm]
            if r["metric_name"] == task and s["mean"] is not None:
                groups.setdefault(r["cost"]["input_bytes"] / 1e3, []).append((s["mean"], s["std"], arm))
        means = [m for g in groups.values() for m, _, _ in g]
        gap = 0.045 * ((max(means) - min(means)) if len(means) > 1 else 1.0) or 1.0
        for x, group in groups.items():
            group.sort(reverse=True)  # top label first, the others below it
            label_y = float("inf")
            for i, (mean, std, arm) in enumerate(group):
                xi = x * 1.05 ** (i - (len(group) - 1) / 2)  # side by side on the log axis
                rgb = "rgb" in arm
                ax.errorbar(xi, mean, yerr=std, fmt="o" if rgb else "s", capsize=3, markersize=4,
                            color="tab:red" if rgb else "tab:blue")
                label_y = min(mean, label_y - gap)
                ax.annotate(arm, (xi, mean), xytext=(x * 1.05 ** (len(group) / 2 + 0.5), label_y), fontsize=7,
                            va="center", arrowprops=dict(arrowstyle="-", color="0.6", lw=0.5))
        ax.set_xscale("log")
        xs = sorted(groups)
        ax.set_xlim(min(xs) / 1.6, max(xs) * 4.0)  # room for the labels on the right
        ax.xaxis.set_minor_locator(NullLocator())
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_xticks(xs)
        ax.set_xticklabels([f"{x:.0f}" if x >= 10 else f"{x:.1f}" for x in xs])
        ax.set_xlabel("input kB per image handed to the model (log scale)")
        ax.set_ylabel(task)
        ax.set_title(f"{task}: mean ± std over seeds")
        ax.grid(alpha=0.3)
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def gate_figures(rates_file: str, out_dir: str) -> None:
    """The gated twin's selection rates (JSON and heat map, copied as study_gate_selection_rates.*) and a
    heat map of its training-time on-probabilities, beside the sensitivity maps in ``out_dir``."""
    from freqdet.core.plots import plot_channel_grids
    from freqdet.core.selection import per_channel_values

    for ext in (".json", ".png"):
        shutil.copyfile(os.path.splitext(rates_file)[0] + ext,
                        os.path.join(out_dir, "study_gate_selection_rates" + ext))
    data = read_json(rates_file)
    p_on = per_channel_values(data, "on_probability")
    plot_channel_grids(p_on, os.path.join(out_dir, "study_gate_on_probability.png"), colorbar_label="P(on)",
                       vmin=0.0, vmax=float(p_on.max()), cmap="magma",
                       title=f"gate: training-time P(on) per channel ({data['num_images']} val images, "
                             f"{p_on.sum():.1f} channels expected on)")


def rankings(sensitivity_files: list, rates_file: str) -> dict:
    """Per sensitivity unit: its ranking against the square-24 subset and the gate, both by the gate's
    inference selection rates and by its training-time on-probabilities (which rank even when the
    inference mask keeps nothing)."""
    from freqdet.analysis.sensitivity import compare_rankings
    from freqdet.core.selection import per_channel_values

    gate = read_json(rates_file)
    out = {}
    for path in sensitivity_files:
        data = read_json(path)
        out[data["unit"]] = {key: compare_rankings(data["units"], data["metric"], per_channel_values(gate, key))
                             for key in ("rates", "on_probability")}
    return out
