"""Benchmark: painsim against the tools a user would otherwise pick, and the compiled limit.

One script, every measurement back to back on the same machine, on the reference
workload of ``benchmarks/workload.py`` (default model, N patients, 180 days, weekly
sessions ×6 from day 14 — half dry needling, half acupuncture — random strains about
one per 60 days, daily pain saved):

1. ``painsim.simulate`` end to end (cohort draw, SimPy decisions, integration,
   outcome tables), NumPy and Numba backends, 1 and 2 worker processes, and Numba with
   1 worker and 2 threads;
2. ``painsim.integrate`` alone (the NumPy solver) and ``painsim.compiled.integrate_pain``
   alone (1 and 2 threads), with the same per-lane stops;
3. ``scipy.integrate.solve_ivp`` per patient and per inter-event segment (RK45, LSODA)
   on ``--baseline`` patients; its rate per patient-day does not depend on N, so larger
   N are *scaled* from it (labelled so);
4. the hand-written compiled Dormand–Prince loops of ``benchmarks/limit.py`` (Numba),
   per patient and in lanes, 1 and 2 threads: the practical limit of this machine.

Every measurement runs in a fresh process, so its peak memory (max RSS, which includes
the interpreter and imported libraries: see the ``imports only`` rows) is its own; JIT
compilation is timed separately and excluded from the rate. Accuracy is the maximum
absolute daily-pain error against ``solve_ivp(DOP853, rtol=1e-10, atol=1e-12)`` on the
first 100 patients of each arm (200 patients). The engine is also run at 90, 180 and
365 days at the largest N (cost linear in days?).

Usage::

    python benchmarks/run.py                      # N = 1,000 / 10,000 / 100,000 (~15 min)
    python benchmarks/run.py --sizes 1000 10000   # quicker

Writes ``benchmarks/results/run.json`` (rows + machine) and prints a Markdown table.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class TreeMemory:
    """Peak proportional set size (PSS) of this process and its worker processes,
    sampled every ``every`` seconds from /proc (Linux): pages shared by forked workers
    are counted once, which summing their RSS would not do. ``peak_mb`` stays None where
    /proc/*/smaps_rollup cannot be read."""

    def __init__(self, every: float = 0.05) -> None:
        import threading

        self.every, self.peak_mb = every, None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    @staticmethod
    def _pids(pid: int) -> list[int]:
        out, todo = [], [pid]
        while todo:
            p = todo.pop()
            out.append(p)
            try:
                for task in Path(f"/proc/{p}/task").iterdir():
                    todo += [int(c) for c in (task / "children").read_text().split()]
            except OSError:
                pass
        return out

    def sample(self) -> float | None:
        import os

        total, seen = 0, False
        for p in self._pids(os.getpid()):
            try:
                for line in Path(f"/proc/{p}/smaps_rollup").read_text().splitlines():
                    if line.startswith("Pss:"):
                        total += int(line.split()[1])
                        seen = True
                        break
            except OSError:
                pass
        return total / 1024 if seen else None

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            v = self.sample()
            if v is not None:
                self.peak_mb = max(v, self.peak_mb or 0.0)

    def __enter__(self) -> TreeMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        v = self.sample()
        if v is not None:
            self.peak_mb = max(v, self.peak_mb or 0.0)


def _one(method: str, n: int, days: float, acc_out: str | None) -> dict:
    """Run one measurement in this process and return its row."""
    import workload as wl

    row: dict = {"method": method, "n": n, "days": days}
    if method == "imports":
        import numba  # noqa: F401

        import painsim  # noqa: F401
        row["peak_mb"] = _peak_mb()
        return row
    acc = wl.accuracy_lanes(n)
    with TreeMemory() as mem:
        pain_acc = _measure(method, n, days, row, acc, wl)
    row["patient_days_per_s"] = n * days / row["seconds"]
    row["peak_mb"] = _peak_mb()
    row["peak_pss_tree_mb"] = mem.peak_mb
    if acc_out:
        np.save(acc_out, pain_acc)
    return row


def _measure(method: str, n: int, days: float, row: dict, acc: np.ndarray, wl) -> np.ndarray:
    """Run ``method``; fill ``row``; return daily pain of the accuracy lanes."""
    if method.startswith("engine"):
        import painsim as ps

        _, backend, workers, *threads = method.split(":")
        arms, cohort = wl.study(n, days)
        tic = time.perf_counter()
        res = ps.simulate(arms, cohort, horizon_days=days, backend=backend,
                          workers=int(workers), threads=int(threads[0]) if threads else 1)
        wall = time.perf_counter() - tic
        compile_s = res.timings.get("compile_s", 0.0)
        row.update(seconds=wall - compile_s, jit_s=compile_s,
                   phases={k: round(v, 3) for k, v in res.timings.items()},
                   events=res.n_events)
        row["solver_failures"] = int(sum((s != 0).sum() for s in res.status.values()))
        k = acc.size // 2
        return np.concatenate([res.pain[a.name][:k] for a in arms])
    pr = wl.problems(n, days)
    pain, extra = _solve(method, pr, wl)
    row.update(extra)
    return pain[acc]


def _solve(method: str, pr: dict, wl) -> tuple[np.ndarray, dict]:
    """Daily pain of every lane of ``pr`` by ``method``; extra fields for the row."""
    from painsim.painloop import PAIN_LOOP

    n = pr["y0"].shape[1]
    T, days = pr["t_eval"], pr["days"]
    if method.startswith("scipy") or method == "reference":
        tic = time.perf_counter()
        pain = (wl.run_scipy(pr, "DOP853", rtol=1e-10, atol=1e-12) if method == "reference"
                else wl.run_scipy(pr, method.split(":")[1]))
        return pain, {"seconds": time.perf_counter() - tic}
    if method == "integrate":
        import painsim

        tic = time.perf_counter()
        pain = np.empty((n, T.size))
        steps = 0
        chunk = 10_000
        for lo in range(0, n, chunk):
            sl = slice(lo, min(n, lo + chunk))
            Pc, kc = np.ascontiguousarray(pr["P"][:, sl]), pr["kinds"][sl]

            def on_stop(t, y, lanes, k, Pc=Pc, kc=kc):
                return wl.apply_events(y, Pc[:, lanes], kc[lanes, k], pr)

            sol = painsim.integrate(PAIN_LOOP.lane_rhs, (0.0, days), pr["y0"][:, sl],
                                    args=(Pc,), t_eval=T, stops=pr["times"][sl],
                                    on_stop=on_stop,
                                    save=lambda t, y, P: PAIN_LOOP.pain_of(y, P)[None, :],
                                    throw=True)
            pain[sl] = sol.y[0]
            steps += int(sol.n_steps.sum())
        return pain, {"seconds": time.perf_counter() - tic, "steps_per_patient": steps / n,
                      "chunk": chunk}
    if method.startswith("compiled"):
        from painsim.compiled import integrate_pain, warm_up

        threads = int(method.split(":")[1]) if ":" in method else 1
        jit = warm_up(PAIN_LOOP)
        P = pr["P"].copy()

        def on_stop(t, y, lanes, k):
            return wl.apply_events(y, P[:, lanes], pr["kinds"][lanes, k], pr)

        tic = time.perf_counter()
        sol = integrate_pain(PAIN_LOOP, (0.0, days), pr["y0"], P, t_eval=T,
                             stops=pr["times"], on_stop=on_stop, throw=True, threads=threads)
        return sol.y[0], {"seconds": time.perf_counter() - tic, "jit_s": jit,
                          "steps_per_patient": float(sol.n_steps.mean()), "threads": threads}
    if method.startswith("limit"):
        import limit
        import numba

        _, form, threads = method.split(":")
        numba.set_num_threads(int(threads))
        fn = limit.per_patient if form == "patient" else limit.lanes

        def call(q, out):
            args = (q["y0"], q["P"], q["times"], q["kinds"], q["scale"], q["add"],
                    q["dose"], q["t_eval"], out, 1e-6, 1e-8, q["days"])
            if form == "lanes":
                args = (*args, max(1, min(4 * int(threads), q["y0"].shape[1])))
            return fn(*args)

        tic = time.perf_counter()
        small = wl.subset(pr, np.arange(2))
        call(small, np.empty((2, T.size)))
        jit = time.perf_counter() - tic
        out = np.empty((n, T.size))
        tic = time.perf_counter()
        steps = call(pr, out)
        extra = {"seconds": time.perf_counter() - tic, "jit_s": jit,
                 "steps_per_patient": steps / n, "threads": int(threads)}
        if form == "lanes":
            extra["lanes"] = limit.LANES
        return out, extra
    raise ValueError(f"unknown method {method!r}")


def _spawn(method: str, n: int, days: float, acc_out: str | None, timeout: float) -> dict:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--one", method, "--n", str(n),
           "--days", str(days)]
    if acc_out:
        cmd += ["--acc-out", acc_out]
    tic = time.perf_counter()
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"method": method, "n": n, "days": days, "error": f"timed out ({timeout} s)"}
    if r.returncode != 0:
        return {"method": method, "n": n, "days": days,
                "error": r.stderr.strip().splitlines()[-1] if r.stderr else "failed"}
    row = json.loads(r.stdout.strip().splitlines()[-1])
    print(f"  {method:<22} n={n:>7,} {days:>4.0f} d  "
          f"{row.get('patient_days_per_s', float('nan')):10.3g} patient-days/s  "
          f"peak {row['peak_mb']:.0f} MB  ({time.perf_counter() - tic:.0f} s)", flush=True)
    return row


LABELS = {
    "imports": "imports only (Python, NumPy, SciPy, pandas, Numba, painsim)",
    "engine:numpy:1": "painsim.simulate end to end, NumPy, 1 worker",
    "engine:numpy:2": "painsim.simulate end to end, NumPy, 2 workers",
    "engine:numba:1": "painsim.simulate end to end, Numba, 1 worker",
    "engine:numba:2": "painsim.simulate end to end, Numba, 2 workers",
    "engine:numba:1:2": "painsim.simulate end to end, Numba, 1 worker, 2 threads",
    "integrate": "painsim.integrate alone (NumPy)",
    "compiled": "painsim.compiled.integrate_pain alone (Numba)",
    "compiled:2": "painsim.compiled.integrate_pain alone (Numba), 2 threads",
    "scipy:RK45": "solve_ivp RK45, per patient and segment",
    "scipy:LSODA": "solve_ivp LSODA, per patient and segment",
    "limit:patient:1": "compiled limit, per patient, 1 thread",
    "limit:patient:2": "compiled limit, per patient, 2 threads",
    "limit:lanes:1": "compiled limit, lanes, 1 thread",
    "limit:lanes:2": "compiled limit, lanes, 2 threads",
}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000, 100000])
    ap.add_argument("--baseline", type=int, default=1000,
                    help="patients for the SciPy loops (rate scaled to larger N)")
    ap.add_argument("--scaling-days", type=float, nargs="+", default=[90.0, 180.0, 365.0])
    ap.add_argument("--engine", nargs="+", default=["engine:numpy:1", "engine:numpy:2",
                                                    "engine:numba:1", "engine:numba:2",
                                                    "engine:numba:1:2"])
    ap.add_argument("--timeout", type=float, default=900.0, help="seconds per measurement")
    ap.add_argument("--out", default=str(HERE / "results" / "run.json"))
    ap.add_argument("--table", action="store_true",
                    help="print the table of an existing --out file and exit")
    ap.add_argument("--one", help=argparse.SUPPRESS)
    ap.add_argument("--n", type=int, default=1000, help=argparse.SUPPRESS)
    ap.add_argument("--days", type=float, default=180.0, help=argparse.SUPPRESS)
    ap.add_argument("--acc-out", help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a.one:
        print(json.dumps(_one(a.one, a.n, a.days, a.acc_out)))
        return 0
    if a.table:
        print(table(json.loads(Path(a.out).read_text())))
        return 0


    days = 180.0
    rows: list[dict] = []
    started = time.time()
    with tempfile.TemporaryDirectory() as tmp:
        def acc_path(tag: str) -> str:
            return str(Path(tmp) / f"{tag.replace(':', '_')}.npy")

        print("reference (DOP853, rtol 1e-10) and accuracy runs:", flush=True)
        n_acc = 200
        ref_row = _spawn("reference", n_acc, days, acc_path("ref"), a.timeout)
        ref = np.load(acc_path("ref"))
        errors: dict[str, float] = {}
        rows.append(_spawn("imports", 0, days, None, a.timeout))
        for n in a.sizes:
            methods = [*a.engine, "integrate", "compiled", "compiled:2", "limit:patient:1",
                       "limit:patient:2", "limit:lanes:1", "limit:lanes:2"]
            for m in methods:
                tag = f"{m}_{n}"
                row = _spawn(m, n, days, acc_path(tag), a.timeout)
                if "error" not in row:
                    got = np.load(acc_path(tag))
                    k = min(got.shape[0], ref.shape[0]) // 2
                    # first k patients of each arm in both (accuracy_lanes order)
                    sel_ref = np.r_[0:k, ref.shape[0] // 2: ref.shape[0] // 2 + k]
                    sel_got = np.r_[0:k, got.shape[0] // 2: got.shape[0] // 2 + k]
                    row["max_pain_error"] = float(np.max(np.abs(got[sel_got]
                                                                - ref[sel_ref])))
                    errors.setdefault(m, row["max_pain_error"])
                rows.append(row)
        base = {}
        for m in ("scipy:RK45", "scipy:LSODA"):
            row = _spawn(m, a.baseline, days, acc_path(m), a.timeout)
            if "error" not in row:
                got = np.load(acc_path(m))
                k = min(got.shape[0], ref.shape[0]) // 2
                sel_ref = np.r_[0:k, ref.shape[0] // 2: ref.shape[0] // 2 + k]
                sel_got = np.r_[0:k, got.shape[0] // 2: got.shape[0] // 2 + k]
                row["max_pain_error"] = float(np.max(np.abs(got[sel_got] - ref[sel_ref])))
                base[m] = row["patient_days_per_s"]
            rows.append(row)
        scaling = []
        n_big = max(a.sizes)
        for d in a.scaling_days:
            if d == days:
                continue
            scaling.append(_spawn("engine:numba:2", n_big, d, None, a.timeout))
    # ratios within this run
    # the limit at each N: the faster of the two 2-thread compiled forms in this run
    lim_by_n: dict[int, float] = {}
    lanes_by_n: dict[int, float] = {}
    for r in rows:
        if r["method"] in ("limit:lanes:2", "limit:patient:2") and "error" not in r:
            lim_by_n[r["n"]] = max(lim_by_n.get(r["n"], 0.0), r["patient_days_per_s"])
            if r["method"] == "limit:lanes:2":
                lanes_by_n[r["n"]] = r["patient_days_per_s"]
    lim = max(lim_by_n.values(), default=None)
    for r in rows:
        if "patient_days_per_s" not in r:
            continue
        if "scipy:RK45" in base:
            r["x_rk45_loop"] = r["patient_days_per_s"] / base["scipy:RK45"]
        if r["n"] in lim_by_n:
            r["pct_of_best_2_threads"] = 100 * r["patient_days_per_s"] / lim_by_n[r["n"]]
        if r["n"] in lanes_by_n:
            r["pct_of_lanes_2_threads"] = 100 * r["patient_days_per_s"] / lanes_by_n[r["n"]]
    from workload import machine

    report = {"benchmark": "run", "workload": "benchmarks/workload.py", "days": days,
              "machine": machine(), "command": "python benchmarks/run.py "
              + " ".join(sys.argv[1:]), "minutes": (time.time() - started) / 60,
              "reference": ref_row, "rows": rows, "days_scaling": scaling,
              "best_2_thread_limit": lim}
    out = Path(a.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp_out = out.with_suffix(".json.tmp")
    tmp_out.write_text(json.dumps(report, indent=2))
    tmp_out.replace(out)
    print(table(report))
    return 0


def table(report: dict) -> str:
    """The README table of a report."""
    m = report["machine"]
    lines = [f"Machine: {m['cpu']}, {m['cores']} cores; Python {m['python']}, NumPy "
             f"{m['numpy']}, SciPy {m['scipy']}, Numba {m['numba']}. "
             f"Run took {report['minutes']:.0f} min.", "",
             "| method | patients | wall (s) | JIT (s) | patient-days/s | × RK45 loop | "
             "% of limit | % of lanes limit | peak RSS (MB) | peak PSS, all processes "
             "(MB) | max pain error |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in report["rows"]:
        label = LABELS.get(r["method"], r["method"])
        if "error" in r:
            lines.append(f"| {label} | {r['n']:,} | {r['error']} | | | | | | | | |")
            continue
        if r["method"] == "imports":
            lines.append(f"| {label} | | | | | | | | {r['peak_mb']:.0f} | | |")
            continue
        pss = r.get("peak_pss_tree_mb")
        lines.append(
            f"| {label} | {r['n']:,} | {r['seconds']:.2f} | "
            f"{r.get('jit_s', 0.0):.1f} | {r['patient_days_per_s']:.3g} | "
            f"{r.get('x_rk45_loop', float('nan')):.0f}× | "
            f"{r.get('pct_of_best_2_threads', float('nan')):.0f}% | "
            f"{r.get('pct_of_lanes_2_threads', float('nan')):.0f}% | {r['peak_mb']:.0f} | "
            f"{'' if pss is None else f'{pss:.0f}'} | "
            f"{r.get('max_pain_error', float('nan')):.1e} |")
    base = [r for r in report["rows"] if r["method"].startswith("scipy") and "error" not in r]
    sizes = sorted({r["n"] for r in report["rows"] if r["method"] == "integrate"})
    for r in base:
        for n in sizes:
            if n > r["n"]:
                lines.append(f"| {LABELS[r['method']]} (scaled from {r['n']:,}) | {n:,} | "
                             f"{n * report['days'] / r['patient_days_per_s']:.0f} (scaled) "
                             "| | | | | | | | |")
    if report.get("days_scaling"):
        lines += ["", "Cost in days (painsim.simulate, Numba, 2 workers):", "",
                  "| days | patients | wall (s) | patient-days/s | s per simulated day | "
                  "peak PSS, all processes (MB) |",
                  "|---:|---:|---:|---:|---:|---:|"]
        big = max(r["n"] for r in report["rows"] if r["method"] == "engine:numba:2")
        same = [r for r in report["rows"] if r["method"] == "engine:numba:2"
                and r["n"] == big]
        for r in sorted([*report["days_scaling"], *same], key=lambda r: r["days"]):
            if "error" in r:
                lines.append(f"| {r['days']:.0f} | {r['n']:,} | {r['error']} | | | |")
            else:
                pss = r.get("peak_pss_tree_mb")
                lines.append(f"| {r['days']:.0f} | {r['n']:,} | {r['seconds']:.1f} | "
                             f"{r['patient_days_per_s']:.3g} | "
                             f"{r['seconds'] / r['days']:.3f} | "
                             f"{'' if pss is None else f'{pss:.0f}'} |")
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
