"""Plots of a simulation result (matplotlib, no display needed).

Every plot labels its axes with units, says what is aggregated over how many patients,
carries a caption line saying what its band or bars are, and :data:`FOOTER`, which holds
:data:`painsim.outcomes.DISCLAIMER`. Each is written twice: a PNG at :data:`DPI` (for
slides) and an SVG with its text kept as text (for editing and print).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .outcomes import DISCLAIMER, SimulationResult, km_confidence_band

__all__ = ["DPI", "FOOTER", "plot_all"]

#: The line at the foot of every figure painsim draws: the disclaimer, signed.
FOOTER = f"painsim model output. {DISCLAIMER}"
#: Resolution of the PNG figures (dots per inch): 8 x 4.8 in is 1600 x 960 px, sharp on
#: a projector or a full-width slide.
DPI = 200


def _figure(title: str, caption: str, table_rows: int = 0):
    """A figure with its title, a caption line and the footer; with ``table_rows`` an
    axes below the plot for a table (numbers at risk) sharing its x axis."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if table_rows:
        fig, (ax, tab) = plt.subplots(
            2, 1, figsize=(8, 4.8 + 0.18 * table_rows), dpi=DPI,
            gridspec_kw={"height_ratios": [4.2, 0.45 + 0.22 * table_rows]})
        tab.axis("off")
    else:
        fig, ax = plt.subplots(figsize=(8, 4.8), dpi=DPI)
        tab = None
    ax.set_title(title, fontsize=10)
    fig.text(0.01, 0.045 if not table_rows else 0.035, caption, fontsize=7.5)
    fig.text(0.01, 0.01, FOOTER, fontsize=7, color="0.4")
    return (fig, ax, tab) if table_rows else (fig, ax)


def _save(fig, out: Path, stem: str) -> list[str]:
    """Write ``stem.png`` (at :data:`DPI`) and ``stem.svg`` (text as text); close."""
    import matplotlib.pyplot as plt

    fig.savefig(out / f"{stem}.png", dpi=DPI)
    with plt.rc_context({"svg.fonttype": "none"}):
        fig.savefig(out / f"{stem}.svg")
    plt.close(fig)
    return [f"{stem}.png", f"{stem}.svg"]


def _relapse_plot(result: SimulationResult, out: Path, confidence: float) -> list[str]:
    """Kaplan–Meier relapse-free curves after relief with their Greenwood log-log band,
    censoring ticks and the numbers at risk under the plot."""
    p = result.patients
    data = {}
    for arm in result.arms:
        a = p[(p.arm == arm) & p.relief.astype(bool)]
        data[arm] = (a.days_relief_to_relapse_or_censor.to_numpy(dtype=float),
                     a.relapse.to_numpy(dtype=bool))
    fig, ax, tab = _figure(
        "Relapse-free fraction after relief (Kaplan–Meier)",
        f"Band: pointwise {confidence:.0%} confidence interval (Greenwood, log-log). "
        "Ticks: censored without relapse (dropout or end of follow-up).",
        table_rows=len(result.arms))
    last = max([float(t.max()) for t, _ in data.values() if t.size] or [1.0])
    for arm, (t, e) in data.items():
        if not t.size:
            ax.plot([], [], label=f"{arm} (no patient reached relief)")
            continue
        ts, S, _, lo, hi = km_confidence_band(t, e, confidence)
        x = np.concatenate([[0.0], ts, [t.max()]])
        y = np.concatenate([[1.0], S, [S[-1] if S.size else 1.0]])
        (line,) = ax.step(x, y, where="post", label=f"{arm} (n = {t.size} with relief)")
        ax.fill_between(x, np.concatenate([[1.0], lo, [lo[-1] if lo.size else 1.0]]),
                        np.concatenate([[1.0], hi, [hi[-1] if hi.size else 1.0]]),
                        step="post", color=line.get_color(), alpha=0.15, lw=0)
        cens = np.sort(t[~e])
        k = np.searchsorted(ts, cens, side="right")
        ax.plot(cens, np.where(k > 0, S[np.maximum(k - 1, 0)] if S.size else 1.0, 1.0),
                "|", color=line.get_color(), ms=6, mew=1)
    ax.set(xlabel="time since relief (days)", ylabel="relapse-free fraction",
           ylim=(0, 1.05), xlim=(0, last * 1.02))
    ax.legend(fontsize=8)
    ticks = [x for x in ax.get_xticks() if 0 <= x <= last * 1.02]
    ax.set_xticks(ticks)
    tab.set_xlim(ax.get_xlim())
    tab.set_ylim(0, 1)
    tab.text(-0.05, 1.0, "Number at risk", transform=tab.transAxes, fontsize=8,
             va="center", ha="right", weight="bold")
    for j, (arm, (t, _)) in enumerate(data.items()):
        y = 1.0 - (j + 1) / (len(data) + 0.5)
        tab.text(-0.05, y, arm, transform=tab.get_yaxis_transform(), ha="right",
                 va="center", fontsize=7.5)
        for x in ticks:
            tab.text(x, y, str(int(np.count_nonzero(t >= x))), ha="center", va="center",
                     fontsize=7.5, transform=tab.get_xaxis_transform())
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    # room on the left for the table's row labels (about 0.0075 of the width a letter)
    label = 0.012 + 0.0075 * max(len("Number at risk"), *map(len, data))
    left = fig.subplotpars.left
    if label + 0.05 * (fig.subplotpars.right - left) > left:
        fig.subplots_adjust(left=min(0.45, label + 0.05 * (fig.subplotpars.right - label)))
    return _save(fig, out, "relapse_curves")


def plot_all(result: SimulationResult, out: Path, sessions: dict[str, np.ndarray], *,
             confidence: float = 0.95) -> list[str]:
    """Write the three plots into ``out``, each as PNG and SVG; returns their file names.

    Parameters
    ----------
    result : SimulationResult
    out : Path
        Folder to write into.
    sessions : dict of str to ndarray
        Session days per arm (for markers).
    confidence : float
        Level of the relapse curves' band (the summary's intervals use
        ``Outcomes.confidence``; the arm comparison shows the summary's).
    """
    n = result.pain[result.arms[0]].shape[0]
    files = []
    # 1. pain over time: median and 10-90% band per arm, session markers
    fig, ax = _figure(f"Pain over time: median and 10–90% band across {n} patients per arm",
                      "Band: 10th to 90th percentile of patients' pain on each day (the "
                      "spread between patients, not an interval of the median). Ticks: "
                      "session days.")
    for k, arm in enumerate(result.arms):
        p = result.pain[arm]
        lo, med, hi = np.nanpercentile(p, [10, 50, 90], axis=0)
        (line,) = ax.plot(result.days, med, label=arm, lw=1.6)
        ax.fill_between(result.days, lo, hi, color=line.get_color(), alpha=0.15, lw=0)
        s = sessions.get(arm, np.zeros(0))
        if s.size:
            ax.plot(np.unique(s), np.full(np.unique(s).size, 10.2 - 0.25 * k), "|",
                    color=line.get_color(), ms=6)
    ax.set(xlabel="time (days)", ylabel="pain (0–10)", ylim=(0, 10.5))
    ax.legend(fontsize=8, loc="lower left", title="arm (ticks: session days)",
              title_fontsize=7)
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    files += _save(fig, out, "pain_over_time")
    # 2. relapse curves (Kaplan-Meier), time since relief: band, censoring, at risk
    files += _relapse_plot(result, out, confidence)
    # 3. arm comparison: paired difference in short-term change, with intervals
    s = result.summary
    fig, ax = _figure(f"Short-term change vs {result.arms[0]!r}: paired mean difference "
                      f"over {n} patients, bootstrap interval",
                      "Bars: percentile bootstrap interval of the paired mean difference "
                      "(the same patients in every arm; level as in summary.csv).")
    y = np.arange(len(s))
    d = s["diff_change_vs_ref_points"].to_numpy()
    err = np.vstack([d - s["diff_change_ci_low"].to_numpy(),
                     s["diff_change_ci_high"].to_numpy() - d])
    ax.errorbar(d, y, xerr=np.nan_to_num(err), fmt="o", capsize=4)
    ax.axvline(0, color="0.5", lw=0.8)
    ax.set_yticks(y, list(s.index))
    ax.set(xlabel="difference in pain change (points on 0–10; negative = less pain)",
           ylabel="arm")
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    files += _save(fig, out, "arm_comparison")
    return files
