"""Benchmark: stop effects applied inside the compiled loop, against Python between
compiled segments.

``painsim.simulate(backend="numba")`` builds each pass's stops as data
(:func:`painsim.effects.stop_program`, a :class:`painsim.compiled.StopEffects`) that
the compiled loop applies itself where a lane lands on a stop. The alternative, still
used when a pulse has no lane form, returns every lane to Python at each stop, where
the driver applies ``on_stop`` (:func:`painsim.effects.stop_effects`) and restarts it.
This script runs both on the same study in one process, alternating, on both
benchmark models: the pain loop (``workload.study``: weekly dry needling and
acupuncture, strains) and the independent switch model (``second_model.study``: weekly
sessions as a pulse, flares). One worker and one thread, so the two differ only in
where the effects are applied; the compiled loop is compiled (or loaded) before the
clock starts. It also reports how far apart the two results are (pain, points).

Usage::

    python benchmarks/bench_effects.py                       # 10,000 and 100,000 patients
    python benchmarks/bench_effects.py --sizes 10000 --repeats 3

Writes ``benchmarks/results/effects.json``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import second_model  # noqa: E402
import workload  # noqa: E402

import painsim as ps  # noqa: E402
from painsim import compiled, engine  # noqa: E402


def _studies(n: int) -> dict[str, tuple[list, ps.Cohort]]:
    return {"pain loop": workload.study(n),
            "switch": second_model.study(second_model.problems(n))}


def _run(arms: list, cohort: ps.Cohort, inline: bool) -> tuple[float, dict, ps.SimulationResult]:
    real = engine.stop_program
    if not inline:
        engine.stop_program = lambda *args: None  # the Python path (stop_effects)
    try:
        tic = time.perf_counter()
        res = ps.simulate(arms, cohort, horizon_days=180.0, backend="numba")
        return time.perf_counter() - tic, res.timings, res
    finally:
        engine.stop_program = real


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000],
                    help="patients (even; the pain loop's two arms share half each)")
    ap.add_argument("--repeats", type=int, default=3, help="runs of each way, alternating")
    ap.add_argument("--out", default=str(HERE / "results" / "effects.json"))
    a = ap.parse_args(argv)
    if a.repeats < 1 or any(n < 2 or n % 2 or n > 1_000_000 for n in a.sizes):
        ap.error("--repeats must be >= 1 and --sizes even numbers in 2..1,000,000")
    rows = []
    for n in a.sizes:
        for name, (arms, cohort) in _studies(n).items():
            compiled.warm_up(cohort.model)
            times = {True: [], False: []}
            integrate = {True: [], False: []}
            results = {}
            for _ in range(a.repeats):
                for inline in (True, False):
                    wall, timings, res = _run(arms, cohort, inline)
                    times[inline].append(wall - timings.get("compile_s", 0.0))
                    integrate[inline].append(timings["integrate_s"])
                    results[inline] = res
            diff = max(float(np.nanmax(np.abs(results[True].pain[k] - results[False].pain[k])))
                       for k in results[True].pain)
            row = {"model": name, "patients": n, "repeats": a.repeats,
                   "in_loop_s": min(times[True]), "python_s": min(times[False]),
                   "in_loop_integrate_s": min(integrate[True]),
                   "python_integrate_s": min(integrate[False]),
                   "all_in_loop_s": times[True], "all_python_s": times[False],
                   "max_pain_difference": diff}
            row["ratio"] = row["in_loop_s"] / row["python_s"]
            row["integrate_ratio"] = row["in_loop_integrate_s"] / row["python_integrate_s"]
            rows.append(row)
            print(f"{name:9s} {n:>7,d}: in the loop {row['in_loop_s']:7.2f} s "
                  f"(integration {row['in_loop_integrate_s']:.2f} s), in Python "
                  f"{row['python_s']:7.2f} s ({row['python_integrate_s']:.2f} s); "
                  f"ratio {row['ratio']:.3f} ({row['integrate_ratio']:.3f}); "
                  f"max |pain difference| {diff:.2g}", flush=True)
    command = (f"python benchmarks/bench_effects.py --sizes {' '.join(map(str, a.sizes))} "
               f"--repeats {a.repeats}")  # not --out: no path of this machine in results
    report = {"command": command,
              "machine": workload.machine(), "date": time.strftime("%Y-%m-%d"),
              "rows": rows}
    out = Path(a.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(report, indent=2))
    tmp.replace(out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
