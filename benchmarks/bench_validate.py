"""Benchmark and record: the evidence suite (`painsim validate`) on the shipped defaults.

Runs every file in ``scenarios/evidence/`` at the cohort sizes its bands call for (the
``[cohort] patients`` of each file), with the compiled backend, and writes
a JSON record: the machine, the settings, the wall time (the
simulation and measurement of all files; Numba's one-off compilation is done first and
reported apart) and, per target, the published figure, band, simulated value with its
95% interval and the verdict. By default it writes ``validate_fitted.json`` (the current
defaults); ``validate.json`` keeps the "before the refit" record of issue 12.

Usage::

    python benchmarks/bench_validate.py                 # numba, 2 workers
    python benchmarks/bench_validate.py --workers 1 --backend numpy
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import painsim as ps
from painsim.validate import format_report, validate

sys.path.insert(0, str(Path(__file__).parent))
from workload import machine

ROOT = Path(__file__).resolve().parents[1]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--backend", default="numba", choices=["numpy", "numba"])
    ap.add_argument("--out", default=str(Path(__file__).parent / "results"
                                          / "validate_fitted.json"))
    a = ap.parse_args(argv)
    compile_s = 0.0
    if a.backend == "numba":  # compile once, outside the timed run
        t = time.perf_counter()
        ps.simulate([ps.Arm(name="x")], ps.Cohort(n=2, seed=0), 2.0, backend="numba")
        compile_s = time.perf_counter() - t
    t = time.perf_counter()
    report = validate([ROOT / "scenarios" / "evidence"], workers=a.workers,
                      backend=a.backend)
    wall = time.perf_counter() - t

    def num(x: float) -> float | None:
        return round(x, 4) if math.isfinite(x) else None

    rows = [{"file": Path(r.file).name, "target": r.target.name,
             "measure": r.target.measure, "published": r.target.published,
             "reported": r.target.reported, "band": list(r.target.band),
             "simulated": num(r.value), "low": num(r.low), "high": num(r.high),
             "interval": r.interval, "verdict": r.verdict, "patients": r.patients,
             "note": r.note} for r in report.rows]
    out = {"benchmark": "validate", "machine": machine(),
           "command": "python benchmarks/bench_validate.py " + " ".join(sys.argv[1:]),
           "settings": {"backend": a.backend, "workers": a.workers,
                        "patients": "as in each file"},
           "compile_s": round(compile_s, 2), "wall_s": round(wall, 2),
           "per_file_s": {Path(k).name: round(v, 2) for k, v in report.seconds.items()},
           "counts": report.counts, "rows": rows,
           "note": "A model for research and teaching, not medical advice."}
    path = Path(a.out)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(out, indent=2) + "\n")
    tmp.replace(path)
    print(format_report(report))
    m = out["machine"]
    print(f"\nmachine: {m['cpu']}, {m['cores']} cores; compile {compile_s:.1f} s; "
          f"wall {wall:.1f} s; wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
