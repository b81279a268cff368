"""Benchmark: a Sobol analysis of 8 parameters on a 200-patient study (issue 15).

The issue's target is N = 512 base samples with second-order design (512 x 18 = 9,216
parameter sets) on a 200-patient, two-arm study in <= 5 minutes with the compiled
backend on 2 cores. ``--n`` scales it down (the cost is linear in the number of sets:
every set is the same number of solver lanes), and the script reports both the
measured time and the linear extrapolation to N = 512, labelled as such. Results go to
``benchmarks/results/sensitivity.json``.

Usage::

    python benchmarks/bench_sensitivity.py --n 8            # 144 sets, then extrapolates
    python benchmarks/bench_sensitivity.py --n 512          # the full target
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from workload import machine

STUDY = """
seed = 11
horizon = "6 months"
[cohort]
patients = {patients}
mix = {{ chronic_sensitized = 0.5, recurrent = 0.5 }}
[[arms]]
name = "sham"
treatment = [{{ kind = "sham" }}]
schedule = {{ kind = "fixed", start = "1 day", every = "1 week", sessions = 6 }}
[[arms]]
name = "acupuncture"
treatment = [{{ kind = "acupuncture" }}]
schedule = {{ kind = "fixed", start = "1 day", every = "1 week", sessions = 6 }}
[outcomes]
bootstrap = 0
[sensitivity]
parameters = {{ model.k_R = [0.5, 2.0], model.tau_R = [60, 730], model.tau_S = [14, 60],
  model.g_T = [0.3, 0.7], model.g_S = [2.0, 4.0], model.k_RA = [0.5, 2.0],
  model.tau_C = [7, 90], acupuncture.dose = [0.02, 0.3] }}
outcomes = ["change_short_term", "relapse_km"]
arm = "acupuncture"
reference = "sham"
method = "sobol"
second_order = true
n = {n}
"""


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=8)
    ap.add_argument("--patients", type=int, default=200)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--backend", default="numba", choices=["numpy", "numba"])
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" /
                                         "sensitivity.json"))
    a = ap.parse_args(argv)
    from painsim.scenario import load_scenario
    from painsim.sensitivity import format_indices, run_sensitivity

    with tempfile.TemporaryDirectory() as d:
        f = Path(d) / "bench.toml"
        f.write_text(STUDY.format(patients=a.patients, n=a.n).replace(",\n  ", ", "))
        s = load_scenario(f)
    compile_s = 0.0
    if a.backend == "numba":
        from painsim.compiled import warm_up

        compile_s = warm_up(s.cohort.model)
    tic = time.perf_counter()
    res = run_sensitivity(s, workers=a.workers, backend=a.backend)
    wall = time.perf_counter() - tic
    sets = len(res.X)
    full_sets = 512 * (2 * 8 + 2)
    record = {
        "machine": machine(), "backend": a.backend, "workers": a.workers,
        "patients": a.patients, "parameters": 8, "n": a.n, "sets": sets,
        "lanes_per_arm": sets * a.patients, "arms": 2, "horizon_days": 180,
        "compile_s": round(compile_s, 2), "wall_s": round(wall, 2),
        "s_per_set": round(wall / sets, 5),
        "extrapolated_s_at_n512_200_patients": round(
            wall / sets * full_sets * 200 / a.patients, 1),
        "extrapolation": "linear in parameter sets and patients (lanes) (measured at n = "
                         f"{a.n}, {a.patients} patients; not a measurement at n = 512)"
                         if (a.n, a.patients) != (512, 200) else None,
        "target_s": 300,
    }
    print(format_indices(res))
    print(json.dumps(record, indent=2))
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text(json.dumps(record, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
