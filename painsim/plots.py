"""Plots of a simulation result (matplotlib, no display needed).

Every plot labels its axes with units, says what is aggregated over how many patients,
carries a caption line saying what its band or bars are, and :data:`FOOTER`, which holds
:data:`painsim.outcomes.DISCLAIMER`. Each is written twice: a PNG at :data:`DPI` (for
slides) and an SVG with its text kept as text (for editing and print).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .outcomes import DISCLAIMER, km_confidence_band
from .spool import drop_pages
from .summary import SimulationResult

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["DPI", "FOOTER", "comparison_panels", "plot_all", "save_figure"]

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


def save_figure(fig: Any, out: Path, stem: str) -> list[str]:
    """Write ``stem.png`` (at :data:`DPI`: a slide's resolution) and ``stem.svg`` (text
    kept as text) into folder ``out``, and close the figure.

    Every figure painsim writes goes through here.

    Parameters
    ----------
    fig : matplotlib.figure.Figure
    out : Path
        Folder to write into.
    stem : str
        File name without suffix.

    Returns
    -------
    list of str
        ``[stem.png, stem.svg]``.
    """
    import matplotlib.pyplot as plt

    fig.savefig(out / f"{stem}.png", dpi=DPI)
    with plt.rc_context({"svg.fonttype": "none"}):
        fig.savefig(out / f"{stem}.svg")
    plt.close(fig)
    return [f"{stem}.png", f"{stem}.svg"]


#: The finest detail the relapse plot draws, as a fraction of an axis's range: a third
#: of a pixel of the PNG's axes (about 1,300 px wide). Events closer than this are drawn
#: as one; without it a cohort of 100,000 drew a vertex and a tick per patient (a 30 MB
#: SVG) that no one could see apart.
RESOLUTION = 1 / 4000


def _thin_steps(ts: np.ndarray, res: float, *curves: np.ndarray) -> tuple[np.ndarray, ...]:
    """A step curve with its drops at sorted times ``ts`` (each of ``curves`` holding the
    values from that time on), with the drops that fall in one bin of width ``res``
    merged: a bin keeps its first time and the values after its last drop. For a
    non-increasing curve S the thinned one lies between S(t + res) and S(t) at every t."""
    if ts.size == 0 or res <= 0:
        return (ts, *curves)
    b = np.floor(ts / res)
    new = b[1:] != b[:-1]
    first, last = np.r_[True, new], np.r_[new, True]
    return (ts[first], *(c[last] for c in curves))


def _thin_points(x: np.ndarray, y: np.ndarray, xres: float,
                 yres: float) -> tuple[np.ndarray, np.ndarray]:
    """One of the points ``(x, y)`` in each cell of a grid of ``xres`` by ``yres`` (the
    first in order): markers closer than a cell would be drawn on top of each other."""
    if x.size == 0 or xres <= 0 or yres <= 0:
        return x, y
    cells = np.stack([np.floor(x / xres), np.floor(y / yres)])
    keep = np.sort(np.unique(cells, axis=1, return_index=True)[1])
    return x[keep], y[keep]


def _relapse_plot(result: SimulationResult, out: Path, confidence: float) -> list[str]:
    """Kaplan–Meier relapse-free curves after relief with their Greenwood log-log band,
    censoring ticks and the numbers at risk under the plot."""
    p = result.patient_table(["arm", "relief", "days_relief_to_relapse_or_censor", "relapse"])
    data = {}
    for arm in result.arms:  # two columns of the rows needed, not every column's rows
        rows = ((p.arm == arm) & p.relief.astype(bool)).to_numpy()
        data[arm] = (p.days_relief_to_relapse_or_censor.to_numpy(dtype=float)[rows],
                     p.relapse.to_numpy(dtype=bool)[rows])
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
        ts_all, S_all, _, lo, hi = km_confidence_band(t, e, confidence)
        ts, S, lo, hi = _thin_steps(ts_all, last * RESOLUTION, S_all, lo, hi)
        x = np.concatenate([[0.0], ts, [t.max()]])
        y = np.concatenate([[1.0], S, [S[-1] if S.size else 1.0]])
        (line,) = ax.step(x, y, where="post", label=f"{arm} (n = {t.size} with relief)")
        ax.fill_between(x, np.concatenate([[1.0], lo, [lo[-1] if lo.size else 1.0]]),
                        np.concatenate([[1.0], hi, [hi[-1] if hi.size else 1.0]]),
                        step="post", color=line.get_color(), alpha=0.15, lw=0)
        cens = np.sort(t[~e])
        k = np.searchsorted(ts_all, cens, side="right")
        on = np.where(k > 0, S_all[np.maximum(k - 1, 0)] if S_all.size else 1.0, 1.0)
        ax.plot(*_thin_points(cens, on, last * RESOLUTION, 1.05 * RESOLUTION), "|",
                color=line.get_color(), ms=6, mew=1)
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
    return save_figure(fig, out, "relapse_curves")


def comparison_panels(summary: pd.DataFrame) -> list[dict[str, Any]]:
    """What the arm-comparison figure shows: one panel per main outcome, each the
    summary's estimate per arm with the interval the summary gives it.

    Parameters
    ----------
    summary : pandas.DataFrame
        :attr:`SimulationResult.summary` (one row per arm; the first arm is the reference
        of the paired differences).

    Returns
    -------
    list of dict
        Per panel: ``title``, ``column`` (of ``summary``), ``interval`` (its method),
        ``unit``, ``arms``, ``value``, ``low``, ``high`` (arrays in arm order) and
        ``zero`` (draw a line at 0: a difference).
    """
    ref = summary.index[0]
    relapse = next(c for c in summary.columns
                   if c.startswith("relapse_within_") and c.endswith("d_km"))
    window = relapse[len("relapse_within_"):-len("d_km")]
    spec = [
        ("diff_change_vs_ref_points", "diff_change",
         f"Short-term change minus {ref!r}", "points (0–10)", "paired bootstrap", True),
        ("diff_responders_vs_ref", "diff_responders",
         f"Responders (≥30%) minus {ref!r}", "share of patients", "paired bootstrap", True),
        ("change_short_term_points", None, "Short-term change", "points (0–10)",
         "Student t", True),
        ("responders_30pct", None, "Responders (≥30% less pain)", "share of patients",
         "Wilson", False),
        ("relief", None, "Relief reached", "share of patients", "Wilson", False),
        (relapse, None, f"Relapse within {window} days of relief", "share relapsed (KM)",
         "Greenwood log-log", False),
        ("durable_response", None, "Durable response", "share of patients", "Wilson",
         False),
    ]
    panels = []
    for col, ci, title, unit, how, zero in spec:
        ci = ci or col
        rows = summary.iloc[1:] if col.startswith("diff_") else summary
        panels.append({"title": title, "column": col, "interval": how, "unit": unit,
                       "zero": zero, "arms": list(rows.index),
                       "value": rows[col].to_numpy(dtype=float),
                       "low": rows[f"{ci}_ci_low"].to_numpy(dtype=float),
                       "high": rows[f"{ci}_ci_high"].to_numpy(dtype=float)})
    return panels


def _comparison_plot(result: SimulationResult, out: Path) -> list[str]:
    """The main outcomes per arm with their intervals, and the paired differences
    against the first arm (one panel each, arms on a shared y axis)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = comparison_panels(result.summary)
    n = result.pain[result.arms[0]].shape[0]
    level = result.settings.get("confidence", 0.95)
    fig, axes = plt.subplots(2, 4, figsize=(12, 6.4), dpi=DPI)
    fig.suptitle(f"Main outcomes by arm, {n} patients per arm (the same patients in every "
                 f"arm), with {level:.0%} intervals", fontsize=10)
    arms = list(result.arms)
    for ax, pan in zip(axes.flat, panels, strict=False):
        y = np.array([arms.index(a) for a in pan["arms"]], dtype=float)
        v, lo, hi = pan["value"], pan["low"], pan["high"]
        err = np.vstack([v - lo, hi - v])
        ax.errorbar(v, y, xerr=np.nan_to_num(np.maximum(err, 0.0)), fmt="o", capsize=3,
                    ms=4)
        if pan["zero"]:
            ax.axvline(0, color="0.5", lw=0.8)
        ax.set_yticks(range(len(arms)), arms if ax.get_subplotspec().is_first_col()
                      else [""] * len(arms))
        ax.set_ylim(len(arms) - 0.5, -0.5)
        ax.set_title(f"{pan['title']}\n({pan['interval']})", fontsize=8)
        ax.set_xlabel(pan["unit"], fontsize=8)
        ax.tick_params(labelsize=7.5)
    for ax in axes.flat[len(panels):]:
        ax.axis("off")
    fig.text(0.01, 0.045,
             "Bars: intervals as summary.csv gives them: percentile bootstrap of the "
             "paired difference against the first arm; Student t for means; Wilson for "
             "shares; Greenwood (log-log) for the Kaplan–Meier relapse share.",
             fontsize=7.5)
    fig.text(0.01, 0.01, FOOTER, fontsize=7, color="0.4")
    fig.tight_layout(rect=(0, 0.07, 1, 0.96))
    return save_figure(fig, out, "arm_comparison")


def _daily_percentiles(p: np.ndarray, q: list[float], days: int = 16,
                       rows: int = 2048) -> np.ndarray:
    """``np.nanpercentile(p, q, axis=0)``, a block of ``days`` columns at a time (each
    column's percentiles are computed alone, so the blocks change no value). Pain kept
    in a file (:mod:`painsim.spool`) is read ``rows`` patients at a time, their pages
    given back after each: a column block touches every page of the file (2,048 rows of
    183 days: 3 MB of pages at a time)."""
    n, m = p.shape
    out = np.empty((len(q), m))
    for d0 in range(0, m, days):
        block = np.empty((n, min(days, m - d0)))
        for r0 in range(0, n, rows):
            block[r0:r0 + rows] = p[r0:r0 + rows, d0:d0 + days]
            drop_pages(p[r0:r0 + rows])
        out[:, d0:d0 + days] = np.nanpercentile(block, q, axis=0)
    return out


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
        lo, med, hi = _daily_percentiles(result.pain[arm], [10, 50, 90])
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
    files += save_figure(fig, out, "pain_over_time")
    # 2. relapse curves (Kaplan-Meier), time since relief: band, censoring, at risk
    files += _relapse_plot(result, out, confidence)
    # 3. arm comparison: the main outcomes per arm and the paired differences, intervals
    files += _comparison_plot(result, out)
    return files
