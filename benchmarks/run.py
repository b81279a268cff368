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

The second model (``--models switch``, run by default after the pain loop): the
six-state bistable switch of ``benchmarks/second_model.py``, written independently of
painsim's model, with per-patient sessions and flares (180 days, daily pain): a plain
batched NumPy Dormand–Prince (``benchmarks/plain_dopri.py``, one core),
``painsim.integrate`` (one core), ``painsim.compiled.integrate_pain`` on the model's
``LaneForm`` through the public user-model API (1 and 2 threads), and the limit
programs of ``benchmarks/limit.py`` built for this model (per patient and lanes, 1 and
2 threads); accuracy against ``solve_ivp(DOP853, rtol=1e-10)`` on the first 200
patients of each N; ratios of times within the run. ``painsim.simulate`` is not run on
it (its events are per-patient sizes and parameters, not interventions). Written to
``benchmarks/results/run_switch.json``.

Every measurement runs in a fresh process, so its peak memory (max RSS, which includes
the interpreter and imported libraries: see the ``imports only`` rows) is its own; JIT
compilation is timed separately and excluded from the rate. The peak PSS of the process
and its workers comes from a second fresh run of the same measurement that samples
/proc every 50 ms: the sampling takes CPU, so the timed run goes without it.
Accuracy is the maximum absolute daily-pain error against ``solve_ivp(DOP853,
rtol=1e-10, atol=1e-12)`` on the first 100 patients of each arm (200 patients). The
engine is also run at 90, 180 and 365 days at the largest N (cost linear in days?).

Usage::

    python benchmarks/run.py                      # both models, N = 1,000 / 10,000 / 100,000
    python benchmarks/run.py --sizes 1000 10000   # quicker
    python benchmarks/run.py --models switch --sizes 10000 100000   # the second model only

Writes ``benchmarks/results/run.json`` (rows + machine) and prints a Markdown table.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class TreeMemory:
    """Peak proportional set size (PSS) of this process (or process ``pid``) and its
    worker processes, sampled every ``every`` seconds from /proc (Linux): pages shared by
    forked workers are counted once, which summing their RSS would not do. ``peak_mb``
    stays None where /proc/*/smaps_rollup cannot be read."""

    def __init__(self, every: float = 0.05, pid: int | None = None) -> None:
        import threading

        self.every, self.peak_mb, self.pid = every, None, pid or os.getpid()
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
        total, seen = 0, False
        for p in self._pids(self.pid):
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

    follow = _run  # sample in the caller's own thread until :meth:`stop`

    def stop(self) -> None:
        self._stop.set()

    def __enter__(self) -> TreeMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        v = self.sample()
        if v is not None:
            self.peak_mb = max(v, self.peak_mb or 0.0)


def _one(method: str, n: int, days: float, acc_out: str | None,
         sample: float = 0.0) -> dict:
    """Run one measurement in this process and return its row; with ``sample`` > 0 also
    the peak PSS of this process and its workers, sampled every ``sample`` seconds
    (that sampling takes CPU from the measured processes, so :func:`_spawn` times a
    method in a run without it and takes the memory from a second run)."""
    row: dict = {"method": method, "n": n, "days": days}
    if method == "imports":
        import numba  # noqa: F401

        import painsim  # noqa: F401
        row["peak_mb"] = _peak_mb()
        return row
    switch = method.startswith("switch/")
    if switch:  # the measured process imports only the model of its row
        import second_model as wl
    else:
        import workload as wl
    acc = wl.accuracy_lanes(n)
    with TreeMemory(sample) if sample > 0 else contextlib.nullcontext() as mem:
        if switch and method.startswith("switch/engine"):
            # the study's tables are built before the clock starts, as for the pain loop
            res = _engine(method.split("/", 1)[1], *wl.study(wl.problems(n, days)), days,
                          row)
            pain_acc = res.pain["sessions"][acc]
        elif switch:
            pain, extra = _solve_switch(method.split("/", 1)[1], wl.problems(n, days))
            row.update(extra)
            pain_acc = pain[acc]
        else:
            pain_acc = _measure(method, n, days, row, acc, wl)
    solved = acc.size if method == "switch/reference" else n  # that reference: acc only
    row["patient_days_per_s"] = solved * days / row["seconds"]
    row["peak_mb"] = _peak_mb()
    row["peak_pss_tree_mb"] = mem.peak_mb if mem is not None else None
    if acc_out:
        np.save(acc_out, pain_acc)
    return row


def _measure(method: str, n: int, days: float, row: dict, acc: np.ndarray, wl) -> np.ndarray:
    """Run ``method``; fill ``row``; return daily pain of the accuracy lanes."""
    if method.startswith("engine"):
        arms, cohort = wl.study(n, days)
        res = _engine(method, arms, cohort, days, row)
        k = acc.size // 2
        return np.concatenate([res.pain[a.name][:k] for a in arms])
    pr = wl.problems(n, days)
    pain, extra = _solve(method, pr, wl)
    row.update(extra)
    return pain[acc]


def _engine(method: str, arms: list, cohort, days: float, row: dict):
    """``painsim.simulate`` end to end (``method``: ``engine:<backend>:<workers>`` or
    ``engine:<backend>:<workers>:<threads>``, either with ``:spool`` added: daily pain
    kept in files, ``simulate(spool=...)``, in a temporary folder beside this script, on
    disk); fills ``row``, returns the result. JIT (``timings["compile_s"]``) is reported
    apart from the wall time."""
    import painsim as ps

    _, backend, workers, *rest = method.split(":")
    spool = rest[-1:] == ["spool"]
    threads = rest[:-1] if spool else rest
    with tempfile.TemporaryDirectory(dir=HERE) if spool else contextlib.nullcontext() as sp:
        tic = time.perf_counter()
        res = ps.simulate(arms, cohort, horizon_days=days, backend=backend,
                          workers=int(workers), threads=int(threads[0]) if threads else 1,
                          spool=sp)
        wall = time.perf_counter() - tic
    compile_s = res.timings.get("compile_s", 0.0)
    row.update(seconds=wall - compile_s, jit_s=compile_s,
               phases={k: round(v, 3) for k, v in res.timings.items()},
               events=res.n_events)
    row["solver_failures"] = int(sum((s != 0).sum() for s in res.status.values()))
    return res


PAIN_LOOP_BATCH = 10_000  # lanes per chunk of painsim.integrate and the plain NumPy program


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
    if method == "plain":
        import plain_dopri

        tic = time.perf_counter()
        P = pr["P"]
        pain = plain_dopri.solve(
            PAIN_LOOP.lane_rhs, days, pr["y0"], P, pr["times"],
            lambda y, lanes, k: wl.apply_events(y, P[:, lanes], pr["kinds"][lanes, k], pr),
            T, PAIN_LOOP.pain_of, 1e-6, 1e-8, PAIN_LOOP_BATCH)
        return pain, {"seconds": time.perf_counter() - tic, "chunk": PAIN_LOOP_BATCH}
    if method == "integrate":
        import painsim

        tic = time.perf_counter()
        pain = np.empty((n, T.size))
        steps = 0
        chunk = PAIN_LOOP_BATCH
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
        P = pr["P"].copy()

        def on_stop(t, y, lanes, k):
            return wl.apply_events(y, P[:, lanes], pr["kinds"][lanes, k], pr)

        return _compiled(method, PAIN_LOOP, {**pr, "P": P}, on_stop)
    if method.startswith("limit"):
        import limit

        return _limit(method, pr, limit.pain_loop(), wl.limit_args, wl.subset)
    raise ValueError(f"unknown method {method!r}")


def _limit(method: str, pr: dict, lim, leading, subset) -> tuple[np.ndarray, dict]:
    """A limit program of ``benchmarks/limit.py`` (``lim``, as ``limit.build`` gives it)
    on the problems ``pr``; ``method`` is ``limit:<patient|lanes>:<threads>``,
    ``leading(q)`` the program's leading arguments for problems ``q``, ``subset`` the
    workload's own. JIT (a 2-patient call) is timed apart."""
    import limit
    import numba

    _, form, threads = method.split(":")
    numba.set_num_threads(int(threads))
    fn = lim.per_patient if form == "patient" else lim.lanes
    n, T = pr["y0"].shape[1], pr["t_eval"]

    def call(q, out):
        args = (*leading(q), q["t_eval"], out, 1e-6, 1e-8, q["days"])
        if form == "lanes":
            args = (*args, max(1, min(4 * int(threads), q["y0"].shape[1])))
        return fn(*args)

    tic = time.perf_counter()
    call(subset(pr, np.arange(2)), np.empty((2, T.size)))
    jit = time.perf_counter() - tic
    out = np.empty((n, T.size))
    tic = time.perf_counter()
    steps = call(pr, out)
    extra = {"seconds": time.perf_counter() - tic, "jit_s": jit,
             "steps_per_patient": steps / n, "threads": int(threads)}
    if form == "lanes":
        extra["lanes"] = limit.LANES
    return out, extra


def _compiled(method: str, model, pr: dict, on_stop) -> tuple[np.ndarray, dict]:
    """``painsim.compiled.integrate_pain`` on the problems ``pr`` (``method``:
    ``compiled`` or ``compiled:<threads>``); JIT (``warm_up``) timed apart."""
    from painsim.compiled import integrate_pain, warm_up

    threads = int(method.split(":")[1]) if ":" in method else 1
    jit = warm_up(model)
    tic = time.perf_counter()
    sol = integrate_pain(model, (0.0, pr["days"]), pr["y0"], pr["P"], t_eval=pr["t_eval"],
                         stops=pr["times"], on_stop=on_stop, throw=True, threads=threads)
    return sol.y[0], {"seconds": time.perf_counter() - tic, "jit_s": jit,
                      "steps_per_patient": float(sol.n_steps.mean()), "threads": threads}


# --------------------------------------------------------------- the second model
SWITCH_METHODS = ["switch/plain", "switch/integrate", "switch/compiled", "switch/compiled:2",
                  "switch/limit:patient:1", "switch/limit:patient:2", "switch/limit:lanes:1",
                  "switch/limit:lanes:2", "switch/engine:numpy:2", "switch/engine:numba:2",
                  "switch/engine:numba:1:2"]
SWITCH_BATCH = 8192  # lanes per batch of the NumPy programs (as bench_kernel.py)


def _solve_switch(method: str, pr: dict) -> tuple[np.ndarray, dict]:
    """Daily pain of every lane of the switch problems ``pr`` by ``method``."""
    import second_model as sm

    n = pr["y0"].shape[1]
    T, days, P = pr["t_eval"], pr["days"], pr["P"]

    def on_stop(t, y, lanes, k):
        return sm.event(y, P[:, lanes], pr["kinds"][lanes, k], pr["sizes"][lanes, k])

    if method == "reference":  # the accuracy lanes of these n patients only
        acc = sm.accuracy_lanes(n)
        tic = time.perf_counter()
        pain = np.full((n, T.size), np.nan)
        pain[acc] = sm.run_scipy(sm.subset(pr, acc), "DOP853", rtol=1e-10, atol=1e-12)
        return pain, {"seconds": time.perf_counter() - tic}
    if method == "plain":
        import plain_dopri

        tic = time.perf_counter()
        pain = plain_dopri.solve(sm.packed_rhs, days, pr["y0"], P, pr["times"],
                                 lambda y, lanes, k: on_stop(None, y, lanes, k), T,
                                 lambda y, P: sm.pain(y), 1e-6, 1e-8, SWITCH_BATCH)
        return pain, {"seconds": time.perf_counter() - tic, "chunk": SWITCH_BATCH}
    if method == "integrate":
        import painsim

        tic = time.perf_counter()
        pain = np.empty((n, T.size))
        steps = 0
        for lo in range(0, n, SWITCH_BATCH):
            sl = slice(lo, min(n, lo + SWITCH_BATCH))
            Pc = np.ascontiguousarray(P[:, sl])

            def stop(t, y, lanes, k, Pc=Pc, lo=lo):
                return sm.event(y, Pc[:, lanes], pr["kinds"][lo + lanes, k],
                                pr["sizes"][lo + lanes, k])

            sol = painsim.integrate(sm.packed_rhs, (0.0, days), pr["y0"][:, sl], args=(Pc,),
                                    t_eval=T, stops=pr["times"][sl], on_stop=stop,
                                    save=lambda t, y, P: sm.pain(y)[None, :], throw=True)
            pain[sl] = sol.y[0]
            steps += int(sol.n_steps.sum())
        return pain, {"seconds": time.perf_counter() - tic, "steps_per_patient": steps / n,
                      "chunk": SWITCH_BATCH}
    if method.startswith("compiled"):
        return _compiled(method, sm.painsim_model(), pr, on_stop)
    if method.startswith("limit"):
        import limit

        return _limit(method, pr, limit.build(sm.lane_rhs, sm.lane_pain, sm.lane_event),
                      sm.limit_args, sm.subset)
    raise ValueError(f"unknown method {method!r}")


def _run_switch(sizes: list[int], days: float, timeout: float) -> dict:
    """Every switch measurement, back to back; ratios within this run."""
    started = time.time()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        def acc_path(tag: str) -> str:
            return str(Path(tmp) / f"{tag.replace(':', '_').replace('/', '_')}.npy")

        print("second model (bistable switch)", flush=True)
        refs = []
        for n in sizes:
            # the problems' draws depend on n: a reference for each n's first patients
            refs.append(_spawn("switch/reference", n, days, acc_path(f"ref_{n}"), timeout))
            ref = np.load(acc_path(f"ref_{n}"))
            for m in SWITCH_METHODS:
                row = _spawn(m, n, days, acc_path(f"{m}_{n}"), timeout)
                if "error" not in row:
                    got = np.load(acc_path(f"{m}_{n}"))
                    k = min(got.shape[0], ref.shape[0])
                    row["max_pain_error"] = float(np.max(np.abs(got[:k] - ref[:k])))
                rows.append(row)
    by = {(r["method"], r["n"]): r for r in rows if "error" not in r}
    for r in rows:
        if "error" in r:
            continue
        lanes = by.get(("switch/limit:lanes:2", r["n"]))
        plain = by.get(("switch/plain", r["n"]))
        best = [by[(f"switch/limit:{f}:2", r["n"])]["seconds"] for f in ("patient", "lanes")
                if (f"switch/limit:{f}:2", r["n"]) in by]
        if best:  # the limit: the faster 2-thread compiled form at this n, as for the loop
            r["x_limit_time"] = r["seconds"] / min(best)
        if lanes:
            r["x_lanes_limit_time"] = r["seconds"] / lanes["seconds"]
        if plain:
            r["x_plain_numpy_time"] = r["seconds"] / plain["seconds"]
    from workload import machine

    return {"benchmark": "run, second model", "workload": "benchmarks/second_model.py",
            "days": days, "machine": machine(), "minutes": (time.time() - started) / 60,
            "command": "python benchmarks/run.py " + " ".join(sys.argv[1:]),
            "references": refs, "rows": rows}


def switch_table(report: dict) -> str:
    """The README table of the second model's report."""
    m = report["machine"]
    lines = [f"Second model (bistable switch, `benchmarks/second_model.py`). Machine: "
             f"{m['cpu']}, {m['cores']} cores; Python {m['python']}, NumPy {m['numpy']}, "
             f"Numba {m['numba']}. Run took {report['minutes']:.0f} min.", "",
             "| method | patients | wall (s) | JIT (s) | patient-days/s | time / limit | "
             "time / lanes limit | time / plain NumPy DP5 | peak RSS (MB) | "
             "max pain error |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in report["rows"]:
        label = LABELS.get(r["method"], r["method"])
        if "error" in r:
            lines.append(f"| {label} | {r['n']:,} | {r['error']} | | | | | | | |")
            continue
        lines.append(
            f"| {label} | {r['n']:,} | {r['seconds']:.2f} | {r.get('jit_s', 0.0):.1f} | "
            f"{r['patient_days_per_s']:.3g} | {r.get('x_limit_time', float('nan')):.2f} | "
            f"{r.get('x_lanes_limit_time', float('nan')):.2f}"
            f" | {r.get('x_plain_numpy_time', float('nan')):.2f} | {r['peak_mb']:.0f} | "
            f"{r.get('max_pain_error', float('nan')):.1e} |")
    return "\n".join(lines)


MEMORY_SAMPLE_S = 0.05  # seconds between samples of the peak PSS (its own run)


def _spawn(method: str, n: int, days: float, acc_out: str | None, timeout: float) -> dict:
    """Measure ``method`` in two fresh processes: a timed run (time, JIT, accuracy, max
    RSS) without the memory sampler, then a run with it for the peak PSS of the process
    tree. Sampling /proc every 50 ms from the measured process took enough CPU on 2
    cores to lengthen ``simulate`` with 2 workers at 10,000 patients by 0.13-0.24 s of
    about 1.45 s (3 pairs of runs, 2026-12-05; a sampler in a separate process: 0.08-0.26
    s), far more than it lengthens a single-process row, so one run for both would bias
    the ratios."""
    row = _spawn_one(method, n, days, acc_out, timeout, 0.0)
    if "error" in row or method == "imports" or method.endswith("reference"):
        return row
    mem = _spawn_one(method, n, days, None, timeout, MEMORY_SAMPLE_S)
    if "error" in mem:
        row["memory_error"] = mem["error"]
    else:
        row["peak_pss_tree_mb"] = mem["peak_pss_tree_mb"]
        row["seconds_memory_run"] = mem["seconds"]
    return row


def _spawn_one(method: str, n: int, days: float, acc_out: str | None, timeout: float,
               sample: float) -> dict:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--one", method, "--n", str(n),
           "--days", str(days), "--sample", str(sample)]
    if acc_out:
        cmd += ["--acc-out", acc_out]
    env = None
    if method in ("plain", "integrate", "switch/plain", "switch/integrate"):
        # one core each, BLAS included
        env = {**os.environ, **{v: "1" for v in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS",
                                                 "MKL_NUM_THREADS")}}
    tic = time.perf_counter()
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
    except subprocess.TimeoutExpired:
        return {"method": method, "n": n, "days": days, "error": f"timed out ({timeout} s)"}
    if r.returncode != 0:
        return {"method": method, "n": n, "days": days,
                "error": r.stderr.strip().splitlines()[-1] if r.stderr else "failed"}
    row = json.loads(r.stdout.strip().splitlines()[-1])
    print(f"  {method:<22} n={n:>7,} {days:>4.0f} d  "
          f"{row.get('patient_days_per_s', float('nan')):10.3g} patient-days/s  "
          f"peak {row['peak_mb']:.0f} MB{' (memory run)' if sample else ''}  "
          f"({time.perf_counter() - tic:.0f} s)", flush=True)
    return row


LABELS = {
    "imports": "imports only (Python, NumPy, SciPy, Numba, painsim)",
    "engine:numpy:1": "painsim.simulate end to end, NumPy, 1 worker",
    "engine:numpy:2": "painsim.simulate end to end, NumPy, 2 workers",
    "engine:numba:1": "painsim.simulate end to end, Numba, 1 worker",
    "engine:numba:2": "painsim.simulate end to end, Numba, 2 workers",
    "engine:numba:1:2": "painsim.simulate end to end, Numba, 1 worker, 2 threads",
    "plain": "plain batched NumPy Dormand–Prince (1 core, batches of 10,000)",
    "integrate": "painsim.integrate alone (NumPy, 1 core)",
    "compiled": "painsim.compiled.integrate_pain alone (Numba)",
    "compiled:2": "painsim.compiled.integrate_pain alone (Numba), 2 threads",
    "scipy:RK45": "solve_ivp RK45, per patient and segment",
    "scipy:LSODA": "solve_ivp LSODA, per patient and segment",
    "limit:patient:1": "compiled limit, per patient, 1 thread",
    "limit:patient:2": "compiled limit, per patient, 2 threads",
    "limit:lanes:1": "compiled limit, lanes, 1 thread",
    "limit:lanes:2": "compiled limit, lanes, 2 threads",
    "switch/plain": "plain batched NumPy Dormand–Prince (1 core, batches of 8,192)",
    "switch/integrate": "painsim.integrate (NumPy, chunks of 8,192)",
    "switch/compiled": "painsim.compiled.integrate_pain (user model's LaneForm)",
    "switch/compiled:2": "painsim.compiled.integrate_pain, 2 threads",
    "switch/limit:patient:1": "compiled limit, per patient, 1 thread",
    "switch/limit:patient:2": "compiled limit, per patient, 2 threads",
    "switch/limit:lanes:1": "compiled limit, lanes, 1 thread",
    "switch/limit:lanes:2": "compiled limit, lanes, 2 threads",
    "switch/engine:numpy:2": "painsim.simulate end to end, NumPy, 2 workers",
    "switch/engine:numba:2": "painsim.simulate end to end, Numba, 2 workers",
    "switch/engine:numba:1:2": "painsim.simulate end to end, Numba, 1 worker, 2 threads",
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
    ap.add_argument("--sample", type=float, default=MEMORY_SAMPLE_S, help=argparse.SUPPRESS)
    ap.add_argument("--models", nargs="+", default=["pain_loop", "switch"],
                    choices=["pain_loop", "switch"],
                    help="the pain loop (workload.py) and/or the second model "
                    "(second_model.py, written to <out>_switch.json)")
    a = ap.parse_args(argv)
    switch_out = Path(a.out).with_name(Path(a.out).stem + "_switch.json")
    if a.one:
        print(json.dumps(_one(a.one, a.n, a.days, a.acc_out, a.sample)))
        return 0
    if a.table:
        print(table(json.loads(Path(a.out).read_text())))
        if switch_out.exists():
            print("\n" + switch_table(json.loads(switch_out.read_text())))
        return 0
    # the run's first compiled row of each model compiles (its JIT column), the later
    # rows load the loop, whatever the machine's cache holds
    with own_numba_cache():
        if "pain_loop" in a.models:
            _pain_loop(a)
        if "switch" in a.models:
            report = _run_switch(a.sizes, 180.0, a.timeout)
            _write(switch_out, report)
            print(switch_table(report))
    return 0


@contextlib.contextmanager
def own_numba_cache() -> Iterator[str]:
    """An empty Numba cache folder (``NUMBA_CACHE_DIR``) for the processes started
    inside the block, removed after it. painsim keeps its compiled loop in Numba's cache
    on disk, so a benchmark that should see it compiled once, then loaded, must not
    find one that earlier runs left."""
    before = os.environ.get("NUMBA_CACHE_DIR")
    with tempfile.TemporaryDirectory(prefix="painsim-bench-numba-cache-") as cache:
        os.environ["NUMBA_CACHE_DIR"] = cache
        try:
            yield cache
        finally:
            if before is None:
                del os.environ["NUMBA_CACHE_DIR"]
            else:
                os.environ["NUMBA_CACHE_DIR"] = before


def _write(out: Path, report: dict) -> None:
    """Write ``report`` as JSON, atomically."""
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp_out = out.with_suffix(".json.tmp")
    tmp_out.write_text(json.dumps(report, indent=2))
    tmp_out.replace(out)


def _pain_loop(a: argparse.Namespace) -> None:
    """Every measurement of the pain loop, back to back; ratios within this run."""

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
            methods = [*a.engine, "plain", "integrate", "compiled", "compiled:2",
                       "limit:patient:1", "limit:patient:2", "limit:lanes:1", "limit:lanes:2"]
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
    plain_s = {r["n"]: r["seconds"] for r in rows if r["method"] == "plain" and "error" not in r}
    for r in rows:
        if "patient_days_per_s" not in r:
            continue
        if r["n"] in plain_s:
            r["x_plain_numpy_time"] = r["seconds"] / plain_s[r["n"]]
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
    _write(Path(a.out), report)
    print(table(report))


def _ratio(x: float | None) -> str:
    return "" if x is None else f"{x:.2f}"


def table(report: dict) -> str:
    """The README table of a report."""
    m = report["machine"]
    lines = [f"Machine: {m['cpu']}, {m['cores']} cores; Python {m['python']}, NumPy "
             f"{m['numpy']}, SciPy {m['scipy']}, Numba {m['numba']}. "
             f"Run took {report['minutes']:.0f} min.", "",
             "| method | patients | wall (s) | JIT (s) | patient-days/s | × RK45 loop | "
             "% of limit | % of lanes limit | time / plain NumPy DP5 | peak RSS (MB) | "
             "peak PSS, all processes (MB) | max pain error |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in report["rows"]:
        label = LABELS.get(r["method"], r["method"])
        if "error" in r:
            lines.append(f"| {label} | {r['n']:,} | {r['error']} | | | | | | | | | |")
            continue
        if r["method"] == "imports":
            lines.append(f"| {label} | | | | | | | | | {r['peak_mb']:.0f} | | |")
            continue
        pss = r.get("peak_pss_tree_mb")
        lines.append(
            f"| {label} | {r['n']:,} | {r['seconds']:.2f} | "
            f"{r.get('jit_s', 0.0):.1f} | {r['patient_days_per_s']:.3g} | "
            f"{r.get('x_rk45_loop', float('nan')):.0f}× | "
            f"{r.get('pct_of_best_2_threads', float('nan')):.0f}% | "
            f"{r.get('pct_of_lanes_2_threads', float('nan')):.0f}% | "
            f"{_ratio(r.get('x_plain_numpy_time'))} | {r['peak_mb']:.0f} | "
            f"{'' if pss is None else f'{pss:.0f}'} | "
            f"{r.get('max_pain_error', float('nan')):.1e} |")
    base = [r for r in report["rows"] if r["method"].startswith("scipy") and "error" not in r]
    sizes = sorted({r["n"] for r in report["rows"] if r["method"] == "integrate"})
    for r in base:
        for n in sizes:
            if n > r["n"]:
                lines.append(f"| {LABELS[r['method']]} (scaled from {r['n']:,}) | {n:,} | "
                             f"{n * report['days'] / r['patient_days_per_s']:.0f} (scaled) "
                             "| | | | | | | | | |")
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
