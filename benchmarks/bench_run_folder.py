"""Benchmark: ``painsim run`` writing a whole results folder, its peak memory.

The command a user runs, ``painsim run scenarios/chronic_needling.toml --patients N
--backend B --workers W``, in a fresh process (3 arms, 180 days, every table as CSV,
the trajectories table and the plots), once per backend. Two figures per run:

* ``max_rss_main_kib``: the largest resident set of any one process of the run (the
  ``ru_maxrss`` that ``wait4`` reports for the child and the workers it waited for: what
  ``/usr/bin/time -v`` prints as "Maximum resident set size"), KiB;
* ``peak_pss_tree_mb``: the peak proportional set size of the run's process and its
  worker processes together, sampled every ``--sample`` seconds from /proc (Linux;
  pages shared by forked workers counted once), MB.

The sampling takes CPU from the run, so ``wall_s`` is the wall time of a sampled run,
not a timing benchmark (``benchmarks/run.py`` times ``simulate``). The Numba backend
runs twice with an empty Numba cache of the benchmark's own: the first run compiles the
loop (``numba_loop``: ``compiled``), the second loads it from the cache, as every later
run of a user does.

Usage::

    python benchmarks/bench_run_folder.py                    # 100,000 patients, both backends
    python benchmarks/bench_run_folder.py --patients 20000 --backends numpy

Writes ``benchmarks/results/run_folder.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from run import TreeMemory, own_numba_cache  # noqa: E402
from workload import machine  # noqa: E402

SCENARIO = HERE.parent / "scenarios" / "chronic_needling.toml"


def measure(backend: str, patients: int, workers: int, sample: float) -> dict:
    """One ``painsim run`` in a fresh process: its row."""
    with tempfile.TemporaryDirectory(dir=HERE) as tmp:
        out = Path(tmp) / "results"
        cmd = [sys.executable, "-c", "from painsim.cli import main; main()", "run",
               str(SCENARIO), "--out", str(out), "--patients", str(patients),
               "--backend", backend, "--workers", str(workers), "-q"]
        tic = time.perf_counter()
        proc = subprocess.Popen(cmd)
        mem = TreeMemory(sample, pid=proc.pid)
        sampler = threading.Thread(target=mem.follow, daemon=True)
        sampler.start()
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - tic
        proc.returncode = os.waitstatus_to_exitcode(status)
        mem.stop()
        sampler.join()
        if proc.returncode != 0:
            raise SystemExit(f"painsim run failed ({proc.returncode}): {' '.join(cmd)}")
        size = sum(f.stat().st_size for f in out.iterdir())
        files = sorted(f.name for f in out.iterdir())
        shutil.rmtree(out)
    return {"command": "painsim run scenarios/chronic_needling.toml --out DIR "
                       f"--patients {patients} --backend {backend} --workers {workers} -q",
            "backend": backend, "patients": patients, "workers": workers,
            "max_rss_main_kib": usage.ru_maxrss, "peak_pss_tree_mb": mem.peak_mb,
            "wall_s": round(wall, 1), "folder_mb": round(size / 1e6, 1), "files": files}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--patients", type=int, default=100_000)
    ap.add_argument("--backends", nargs="+", default=["numba", "numpy"],
                    choices=["numba", "numpy"])
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--sample", type=float, default=0.1, help="seconds between samples")
    ap.add_argument("--out", default=str(HERE / "results" / "run_folder.json"))
    a = ap.parse_args(argv)
    rows = []
    # the first Numba run compiles the loop and keeps it in the cache, the second loads
    # it (what every later run of a user does)
    with own_numba_cache():
        for b in a.backends:
            for loop in ("compiled", "loaded from the cache") if b == "numba" else (None,):
                rows.append(measure(b, a.patients, a.workers, a.sample))
                r = rows[-1]
                if loop:
                    r["numba_loop"] = loop
                print(f"{b}{f' ({loop})' if loop else ''}: max RSS of one process "
                      f"{r['max_rss_main_kib']:,} KiB, peak PSS of all processes "
                      f"{r['peak_pss_tree_mb']:.0f} MB, {r['wall_s']} s (sampled run), "
                      f"folder {r['folder_mb']} MB", flush=True)
    report = {"benchmark": "run_folder", "machine": machine(), "sample_s": a.sample,
              "date": time.strftime("%Y-%m-%d"), "rows": rows}
    Path(a.out).write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
