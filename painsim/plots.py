"""PNG plots of a simulation result (matplotlib, no display needed).

Every plot labels its axes with units, says what is aggregated over how many patients,
and carries the footer that this is a model, not medical advice.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .outcomes import SimulationResult

__all__ = ["FOOTER", "plot_all"]

FOOTER = "painsim model output for research and teaching, not medical advice."


def _figure(title: str):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 4.8), dpi=100)
    ax.set_title(title, fontsize=10)
    fig.text(0.01, 0.01, FOOTER, fontsize=7, color="0.4")
    return fig, ax


def plot_all(result: SimulationResult, out: Path, sessions: dict[str, np.ndarray]) -> list[str]:
    """Write the three plots into ``out``; returns their file names.

    Parameters
    ----------
    result : SimulationResult
    out : Path
        Folder to write into.
    sessions : dict of str to ndarray
        Session days per arm (for markers).
    """
    import matplotlib.pyplot as plt

    n = result.pain[result.arms[0]].shape[0]
    files = []
    # 1. pain over time: median and 10-90% band per arm, session markers
    fig, ax = _figure(f"Pain over time: median and 10–90% band across {n} patients per arm")
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
    fig.tight_layout(rect=(0, 0.03, 1, 1))
    fig.savefig(out / "pain_over_time.png")
    plt.close(fig)
    files.append("pain_over_time.png")
    # 2. relapse curves (Kaplan-Meier), time since relief
    fig, ax = _figure("Relapse-free fraction after relief (Kaplan–Meier; censored at "
                      "dropout or end of follow-up)")
    for arm in result.arms:
        t, S = result.relapse_curves[arm]
        n_rel = int(result.patients[(result.patients.arm == arm)].relief.sum())
        if n_rel:
            ax.step(np.concatenate([[0.0], t]), np.concatenate([[1.0], S]), where="post",
                    label=f"{arm} (n = {n_rel} with relief)")
        else:
            ax.plot([], [], label=f"{arm} (no patient reached relief)")
    ax.set(xlabel="time since relief (days)", ylabel="relapse-free fraction",
           ylim=(0, 1.05))
    ax.legend(fontsize=8)
    fig.tight_layout(rect=(0, 0.03, 1, 1))
    fig.savefig(out / "relapse_curves.png")
    plt.close(fig)
    files.append("relapse_curves.png")
    # 3. arm comparison: paired difference in short-term change, with intervals
    s = result.summary
    fig, ax = _figure(f"Short-term change vs {result.arms[0]!r}: paired mean difference "
                      f"over {n} patients, bootstrap interval")
    y = np.arange(len(s))
    d = s["diff_change_vs_ref_points"].to_numpy()
    err = np.vstack([d - s["diff_change_ci_low"].to_numpy(),
                     s["diff_change_ci_high"].to_numpy() - d])
    ax.errorbar(d, y, xerr=np.nan_to_num(err), fmt="o", capsize=4)
    ax.axvline(0, color="0.5", lw=0.8)
    ax.set_yticks(y, list(s.index))
    ax.set(xlabel="difference in pain change (points on 0–10; negative = less pain)",
           ylabel="arm")
    fig.tight_layout(rect=(0, 0.03, 1, 1))
    fig.savefig(out / "arm_comparison.png")
    plt.close(fig)
    files.append("arm_comparison.png")
    return files
