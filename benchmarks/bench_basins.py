"""Benchmark: the basin map of a cohort (issue 15's target: 1,000 patients in <= 30 s
with the compiled backend on 2 cores).

Runs :func:`painsim.basin_map` on a chronic-sensitized/recurrent cohort (minimal release
by bisection over all patients as lanes, courses of 1-12 weekly dry-needling sessions as
arms of one run, the minimal-kick curve against R) and records the phase timings in
``benchmarks/results/basins.json``. ``--patients`` scales it down; the record then holds
a linear extrapolation to 1,000 patients, labelled as such.

Usage::

    python benchmarks/bench_basins.py --patients 200
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from workload import machine


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--patients", type=int, default=1000)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--backend", default="numba", choices=["numpy", "numba"])
    ap.add_argument("--no-equilibria", action="store_true",
                    help="skip the per-patient equilibria (painsim.equilibria)")
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "basins.json"))
    a = ap.parse_args(argv)
    import painsim as ps
    from painsim.basins import basin_map, format_basins

    cohort = ps.Cohort(n=a.patients, seed=1, mix={"chronic_sensitized": 0.5,
                                                  "recurrent": 0.5})
    compile_s = 0.0
    if a.backend == "numba":
        from painsim.compiled import warm_up

        compile_s = warm_up(cohort.model)
    tic = time.perf_counter()
    bm = basin_map(cohort, backend=a.backend, workers=a.workers,
                   with_equilibria=not a.no_equilibria)
    wall = time.perf_counter() - tic
    t = bm.info["timings_s"]
    record = {"machine": machine(), "backend": a.backend, "workers": a.workers,
              "patients": a.patients, "equilibria": not a.no_equilibria,
              "compile_s": round(compile_s, 2),
              "wall_s": round(wall, 2), "timings_s": {k: round(v, 2) for k, v in t.items()},
              "extrapolated_s_at_1000": round(t.get("driver_s", 0.0) + (
                  wall - t.get("driver_s", 0.0)) * 1000 / a.patients, 1),
              "extrapolation": None if a.patients == 1000 else
              f"the one-patient driver curve as measured, the rest linear in patients "
              f"(measured at {a.patients}; not a measurement at 1,000)",
              "target_s": 30}
    print(format_basins(bm))
    print(json.dumps(record, indent=2))
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text(json.dumps(record, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
