"""What the shipped defaults say about dry needling vs acupuncture (issue 12, part 5).

Chronic, sensitized patients (the chronic_sensitized preset, as in GERAC); arms: no
treatment, sham, dry needling and acupuncture with their *default* keyword values, six
weekly sessions from day 1 (noon), follow-up 6 months, the same patients in every arm.
Mean pain (0-10), mean change from baseline and the share with >= 30% less pain than at
baseline, at 1 week after the first session (day 8), at the end of the course (day 37,
the morning after the sixth session) and at 6 months (day 182). Also dry needling with
acupuncture's local release (0.1) instead of its own assumed 0.7, to show what the
difference rests on. Writes ``benchmarks/results/dn_vs_acupuncture.json``.

Usage::

    python benchmarks/dn_vs_acupuncture.py [--patients 2000] [--workers 2]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

import painsim as ps

DAYS = {"1 week": 8, "end of course": 37, "6 months": 182}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--patients", type=int, default=2000)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--seed", type=int, default=12)
    ap.add_argument("--out", default=str(Path(__file__).parent / "results"
                                         / "dn_vs_acupuncture.json"))
    a = ap.parse_args(argv)
    weekly = ps.Fixed(start_day=1, every_days=7, sessions=6)
    arms = [ps.Arm(name="no treatment")] + [
        ps.Arm(name=name, protocol=ps.Protocol(intervention=iv, schedule=weekly))
        for name, iv in [("sham", ps.sham()), ("dry needling", ps.dry_needling()),
                         ("acupuncture", ps.acupuncture()),
                         ("dry needling, release 0.1", ps.dry_needling(release=0.1))]]
    cohort = ps.Cohort(n=a.patients, seed=a.seed, mix={"chronic_sensitized": 1.0})
    res = ps.simulate(arms, cohort, 183, workers=a.workers, backend="numba")
    rows = {}
    for arm in res.arms:
        p = res.pain[arm]
        base = p[:, 0]
        rows[arm] = {}
        for label, d in DAYS.items():
            j = int(np.searchsorted(res.days, d))
            v = p[:, j]
            rows[arm][label] = {"day": d, "mean_pain": round(float(v.mean()), 3),
                                "mean_change": round(float((v - base).mean()), 3),
                                "responders_30pct": round(float(np.mean(v <= 0.7 * base)),
                                                          3)}
    hdr = f"{'arm':<28}" + "".join(f"{k:>28}" for k in DAYS)
    print(hdr)
    print(f"{'':<28}" + "".join(f"{'pain  change  >=30%':>28}" for _ in DAYS))
    for arm, r in rows.items():
        print(f"{arm:<28}" + "".join(
            f"{r[k]['mean_pain']:>12.2f}{r[k]['mean_change']:>+8.2f}"
            f"{r[k]['responders_30pct']:>8.0%}" for k in DAYS))
    Path(a.out).write_text(json.dumps({
        "command": "python benchmarks/dn_vs_acupuncture.py " + " ".join(sys.argv[1:]),
        "patients": a.patients, "seed": a.seed, "preset": "chronic_sensitized",
        "schedule": "6 weekly sessions from day 1", "rows": rows}, indent=2) + "\n")
    print(f"wrote {a.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
