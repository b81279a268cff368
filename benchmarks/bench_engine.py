"""Benchmark: painsim.simulate end to end, and what the SimPy layer costs.

Scenario: a mixed cohort (half chronic sensitized, half recurrent: strains about one
per 45 days) over 180 days, three arms: dry needling and acupuncture weekly × 6 from
day 14 (fixed schedules: one integration pass), and dry needling as needed (pain >= 5
on 3 daily checks; decisions every day, so SimPy runs a daily process per patient).
Reports patient-days per second and the time of each phase, with 1 and 2 worker
processes and the NumPy and Numba backends in the same run (phase times are summed over
workers; the Numba backend's one-off compilation is excluded from the wall time and
reported apart).

Usage::

    python benchmarks/bench_engine.py                  # N = 1,000 and 10,000
    python benchmarks/bench_engine.py --sizes 1000
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import painsim as ps

sys.path.insert(0, str(Path(__file__).parent))
from workload import machine

DAYS = 180.0


def arms():
    weekly = ps.Fixed(start_day=14, every_days=7, sessions=6)
    return [
        ps.Arm(name="dry needling", protocol=ps.Protocol(intervention=ps.dry_needling(),
                                                         schedule=weekly)),
        ps.Arm(name="acupuncture", protocol=ps.Protocol(intervention=ps.acupuncture(),
                                                        schedule=weekly)),
        ps.Arm(name="as needed", protocol=ps.Protocol(
            intervention=ps.dry_needling(), schedule=ps.AsNeeded(threshold=5.0))),
    ]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000])
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--backends", nargs="+", default=["numpy", "numba"])
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "engine.json"))
    a = ap.parse_args(argv)
    rows = []
    for n in a.sizes:
        cohort = ps.Cohort(n=n, seed=1, mix={"chronic_sensitized": 0.5, "recurrent": 0.5})
        for arm in arms():
            for b in a.backends:
                for w in a.workers:
                    t = time.perf_counter()
                    res = ps.simulate([arm], cohort, horizon_days=DAYS, workers=w, backend=b)
                    tm = res.timings
                    dt = time.perf_counter() - t - tm["compile_s"]
                    rows.append({"arm": arm.name, "n": n, "backend": b, "workers": w,
                                 "seconds": dt, "patient_days_per_s": n * DAYS / dt,
                                 "events": res.n_events, "compile_s": tm["compile_s"],
                                 **{k: tm[k] for k in ("cohort_s", "decide_s",
                                                       "integrate_s", "outcomes_s")}})
    out = Path(a.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    report = {"benchmark": "engine", "days": DAYS, "machine": machine(),
              "command": "python benchmarks/bench_engine.py " + " ".join(sys.argv[1:]),
              "rows": rows}
    tmp = out.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(report, indent=2))
    tmp.replace(out)
    m = report["machine"]
    print(f"machine: {m['cpu']}, {m['cores']} cores, Python {m['python']}, "
          f"NumPy {m['numpy']}")
    print("| arm | patients | backend | workers | wall (s) | patient-days/s | cohort+run-in | "
          "decide | integrate | outcomes |")
    print("|---|---:|---|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['arm']} | {r['n']:,} | {r['backend']} | {r['workers']} | "
              f"{r['seconds']:.1f} | "
              f"{r['patient_days_per_s']:.3g} | {r['cohort_s']:.1f} s | "
              f"{r['decide_s']:.1f} s | {r['integrate_s']:.1f} s | {r['outcomes_s']:.1f} s |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
