"""Benchmark: per-patient inputs and Dask scale-out against painsim's own paths.

1. **Event tables vs the built-in path.** The same study two ways: the built-in path
   (phenotype flares drawn by painsim, a Fixed schedule planned for all patients at
   once) and the researcher's way (the same flares given as an event table with
   ``random_flares=False``, the same visit days as a ``Given`` schedule, the model passed
   as a user model). The two give bit-identical numbers (``tests/test_user_models.py``);
   this measures what the tables cost.
2. **Dask vs forked workers.** ``simulate(executor=client)`` on a ``LocalCluster`` of 2
   worker processes against ``simulate(workers=2)``, same chunks, same numbers; reports
   the ratio and the overhead per chunk.

Each row is timed in this process after one warm-up call (Numba compilation and the
cluster's start are reported apart). Compare ratios within one run: the machine is shared.

Usage::

    python benchmarks/bench_scaleout.py                      # 10,000 and 100,000 patients
    python benchmarks/bench_scaleout.py --sizes 2000 --backend numpy
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import sys
import time
from pathlib import Path

import painsim as ps

sys.path.insert(0, str(Path(__file__).parent))
from workload import machine

DAYS = 180.0
FIXED = ps.Fixed(start_day=14, every_days=7, sessions=6)
VISIT_HOUR = 12.0


def _arm(schedule) -> list[ps.Arm]:
    return [ps.Arm(name="dry needling", protocol=ps.Protocol(
        intervention=ps.dry_needling(), schedule=schedule, visit_hour=VISIT_HOUR))]


def _tables(cohort: ps.Cohort) -> tuple[dict, ps.Given]:
    sample = cohort.sample(DAYS)
    rows = [(i, t, "flare" if kind == "strain" else "stress", size)
            for i, fl in enumerate(sample.flares) for t, kind, _, size in fl]
    events = {"patient": [r[0] for r in rows], "day": [r[1] for r in rows],
              "kind": [r[2] for r in rows], "size": [r[3] for r in rows]}
    days = tuple(FIXED.start_day + k * FIXED.every_days + VISIT_HOUR / 24
                 for k in range(FIXED.sessions))
    return events, ps.Given(days={i: days for i in range(cohort.n)})


def _time(f) -> tuple[float, object]:
    t = time.perf_counter()
    out = f()
    return time.perf_counter() - t, out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    ap.add_argument("--backend", default="numba", choices=["numpy", "numba"])
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "scaleout.json"))
    a = ap.parse_args(argv)
    rows = []
    user = dataclasses.replace(ps.PAIN_LOOP, name="pain-loop (as a user model)")
    warm = ps.Cohort(n=8, seed=1, mix={"recurrent": 1.0})
    ps.simulate(_arm(FIXED), warm, horizon_days=20, backend=a.backend)  # compile
    for n in a.sizes:
        mix = {"chronic_sensitized": 0.5, "recurrent": 0.5}
        cohort = ps.Cohort(n=n, seed=1, mix=mix)
        t_built, r1 = _time(lambda c=cohort: ps.simulate(
            _arm(FIXED), c, horizon_days=DAYS, backend=a.backend))
        t_tables_build, (events, given) = _time(lambda c=cohort: _tables(c))
        own = ps.Cohort(n=n, seed=1, mix=mix, model=user, events=events,
                        random_flares=False)
        t_tab, r2 = _time(lambda c=own, g=given: ps.simulate(
            _arm(g), c, horizon_days=DAYS, backend=a.backend))
        same = bool((r1.pain["dry needling"] == r2.pain["dry needling"]).all())
        rows.append({"what": "event table + Given vs built-in", "patients": n,
                     "built_in_s": t_built, "tables_s": t_tab, "ratio": t_tab / t_built,
                     "making_tables_s": t_tables_build, "identical": same,
                     "events": len(events["day"])})
        print(f"N={n:>7,}: built-in {t_built:7.2f} s, event table + Given {t_tab:7.2f} s "
              f"(x{t_tab / t_built:.2f}; identical: {same})", flush=True)

        chunks = math.ceil(n / min(math.ceil(n / 2), 4096))
        t_fork, r3 = _time(lambda c=cohort: ps.simulate(
            _arm(FIXED), c, horizon_days=DAYS, backend=a.backend, workers=2))
        tic = time.perf_counter()
        with ps.dask_client("local", workers=2) as client:
            t_start = time.perf_counter() - tic
            ps.simulate(_arm(FIXED), warm, horizon_days=20, backend=a.backend,
                        executor=client)  # workers compile once
            t_dask, r4 = _time(lambda c=cohort, x=client: ps.simulate(
                _arm(FIXED), c, horizon_days=DAYS, backend=a.backend, executor=x))
        same = bool((r3.pain["dry needling"] == r4.pain["dry needling"]).all())
        rows.append({"what": "LocalCluster(2) vs workers=2", "patients": n,
                     "workers2_s": t_fork, "dask_s": t_dask, "ratio": t_dask / t_fork,
                     "chunks": chunks, "overhead_per_chunk_s": (t_dask - t_fork) / chunks,
                     "cluster_start_s": t_start, "identical": same})
        print(f"N={n:>7,}: workers=2 {t_fork:7.2f} s, LocalCluster(2) {t_dask:7.2f} s "
              f"(x{t_dask / t_fork:.2f}; {chunks} chunks, "
              f"{(t_dask - t_fork) / chunks:+.3f} s per chunk; cluster start "
              f"{t_start:.1f} s; identical: {same})", flush=True)
    out = {"machine": machine(), "backend": a.backend, "days": DAYS, "rows": rows,
           "command": "python benchmarks/bench_scaleout.py " + " ".join(argv or sys.argv[1:])}
    Path(a.out).write_text(json.dumps(out, indent=1))
    print(f"wrote {a.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
