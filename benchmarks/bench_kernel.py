"""painsim's NumPy solver against a plain batched NumPy Dormand–Prince, on two models.

Where does the NumPy path's time go? Both programs run the same method with the same
error norm and step-size control on the same lanes, tolerance and right-hand side
(``benchmarks/plain_dopri.py`` is the plain one), so the ratio of their times is
painsim's own per-step cost: bookkeeping, allocations, stops, dense output. Tables:

* ``pain-loop`` — painsim's default model on the workload of ``benchmarks/workload.py``
  (weekly sessions, random strains, daily pain);
* ``switch`` — the six-state bistable model of ``benchmarks/second_model.py``, written
  independently of painsim's model, with per-patient sessions and flares; run both with
  :func:`painsim.integrate` and through the public user-model API (``Model.solve``);
* ``hill`` (with ``--before``) — the pain-loop workload with the Hill exponents every
  preset keeps (``n_T`` = 2, ``m`` = 4), the model as it is now against the model at
  ``REV``, on the NumPy and the compiled (Numba) path: what computing integer powers
  as products instead of ``exp``/``log`` saves.

Each table also has rows with crossings located (two per-patient pain levels, as the
engine asks), which the plain program does not do.

Every method runs in one process, in turns (plain, painsim, ..., plain, painsim, ...),
``--repeat`` times, on one core (one BLAS thread); the fastest time of each is kept, so
a method is not favoured by a moment when the machine was less loaded. Both wall time
and the process's CPU time are recorded; on a shared machine the CPU time is the steadier
measure of the work, and the ratios (``x``) are of CPU times measured in the same run,
relative to the table's first row.

``--before REV`` adds painsim's solver (and, for ``hill``, its pain-loop model) as it was
at git revision ``REV`` (loaded from ``git show``), for a before/after comparison in the
same run.

Usage::

    python benchmarks/bench_kernel.py                   # 10,000 patients, 180 days
    python benchmarks/bench_kernel.py --n 2000 --before HEAD --repeat 3

Prints Markdown tables and writes ``benchmarks/results/kernel.json`` (rows, the command,
the machine and its load, package versions).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
import types
from collections.abc import Callable
from pathlib import Path

# one core against one core: the plain program's matrix products must not use a second
# BLAS thread (set before NumPy loads its BLAS)
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import plain_dopri  # noqa: E402
import second_model  # noqa: E402
import workload  # noqa: E402

import painsim  # noqa: E402
from painsim.painloop import PAIN_LOOP  # noqa: E402

RTOL, ATOL = 1e-6, 1e-8


def module_at(rev: str, name: str) -> types.ModuleType:
    """painsim's module ``name`` as it was at git revision ``rev`` (for before/after);
    its relative imports resolve to the current package."""
    src = subprocess.run(["git", "show", f"{rev}:painsim/{name}.py"], cwd=HERE.parent,
                         check=True, capture_output=True, text=True).stdout
    full = f"painsim.{name}_at_{''.join(c if c.isalnum() else '_' for c in rev)}"
    mod = types.ModuleType(full)
    mod.__package__ = "painsim"
    sys.modules[full] = mod  # dataclasses look their module up
    exec(compile(src, f"painsim/{name}.py@{rev}", "exec"), mod.__dict__)
    return mod


def pain_loop_case(n: int, days: float, model: painsim.Model = PAIN_LOOP,
                   hill_exponents: bool = False) -> dict:
    """The reference workload as arrays and callables (lanes ordered arm by arm).

    ``hill_exponents``: every patient gets the Hill exponents the presets keep
    (``n_T`` = 2, ``m`` = 4) instead of a uniform draw; ``model``: another version of the
    pain-loop model (same states and parameters).
    """
    pr = workload.problems(n, days)
    if hill_exponents:
        pr["P"][PAIN_LOOP.parameter_index["n_T"]] = 2.0
        pr["P"][PAIN_LOOP.parameter_index["m"]] = 4.0

    def event(y, P, lanes, k):  # P: the lanes' parameters; lanes index pr's rows
        return workload.apply_events(y, P, pr["kinds"][lanes, k], pr)

    return {"model": "pain-loop", "rhs": model.lane_rhs, "read": model.pain_of,
            "event": event, "P": pr["P"], "y0": pr["y0"], "stops": pr["times"],
            "t_eval": pr["t_eval"], "days": pr["days"], "painsim_model": model}


def switch_case(n: int, days: float) -> dict:
    """The bistable switch of ``second_model.py`` as arrays and callables."""
    pr = second_model.problems(n, days)

    def event(y, P, lanes, k):
        return second_model.event(y, P, pr["kinds"][lanes, k], pr["sizes"][lanes, k])

    return {"model": "switch", "rhs": second_model.packed_rhs,
            "read": lambda y, P: second_model.pain(y), "event": event, "P": pr["P"],
            "y0": pr["y0"], "stops": pr["times"], "t_eval": pr["t_eval"],
            "days": pr["days"], "painsim_model": second_model.painsim_model()}


def run_plain(case: dict, batch: int) -> tuple[np.ndarray, dict]:
    P = case["P"]
    pain = plain_dopri.solve(case["rhs"], case["days"], case["y0"], P, case["stops"],
                             lambda y, lanes, k: case["event"](y, P[:, lanes], lanes, k),
                             case["t_eval"], case["read"], RTOL, ATOL, batch)
    return pain, {}


def run_integrate(case: dict, batch: int, integrate: Callable = painsim.integrate,
                  crossings: bool = False) -> tuple[np.ndarray, dict]:
    """``integrate`` on chunks of ``batch`` lanes, keeping the model's pain only;
    with ``crossings``, also locating crossings of two per-patient pain levels."""
    n = case["y0"].shape[1]
    pain = np.empty((n, case["t_eval"].size))
    rhs, read = case["rhs"], case["read"]
    steps = n_cross = 0
    for lo in range(0, n, batch):
        sl = np.arange(lo, min(n, lo + batch))
        Pc = np.ascontiguousarray(case["P"][:, sl])

        def on_stop(t, y, lanes, k, Pc=Pc, sl=sl):
            return case["event"](y, Pc[:, lanes], sl[lanes], k)

        kw = {}
        if crossings:
            p0 = read(case["y0"][:, sl], Pc)
            levels = np.stack([0.7 * p0, np.full(sl.size, 5.0)])
            args = (Pc, levels)
            kw["crossings"] = lambda t, y, P, L: read(y, P)[None] - L
            kw["save"] = lambda t, y, P, L: read(y, P)[None]
            f = lambda t, y, P, L: rhs(t, y, P)  # noqa: E731
        else:
            args, f = (Pc,), rhs
            kw["save"] = lambda t, y, P: read(y, P)[None]
        sol = integrate(f, (0.0, case["days"]), case["y0"][:, sl], args=args,
                        t_eval=case["t_eval"], stops=case["stops"][sl], on_stop=on_stop,
                        rtol=RTOL, atol=ATOL, throw=True, **kw)
        pain[sl] = sol.y[0]
        steps += int(sol.n_steps.sum())
        n_cross += int(sol.crossings["t"].size)
    extra = {"steps_per_patient": steps / n}
    if crossings:
        extra["crossings"] = n_cross
    return pain, extra


def run_model_solve(case: dict, batch: int) -> tuple[np.ndarray, dict]:
    """The user-model API: ``Model.solve`` on chunks, every state kept, pain read off."""
    model = case["painsim_model"]
    n = case["y0"].shape[1]
    pain = np.empty((n, case["t_eval"].size))
    for lo in range(0, n, batch):
        sl = np.arange(lo, min(n, lo + batch))
        Pc = np.ascontiguousarray(case["P"][:, sl])
        params = model.params(**dict(zip(model.parameter_names, Pc, strict=True)))

        def on_stop(t, y, lanes, k, Pc=Pc, sl=sl):
            return case["event"](y, Pc[:, lanes], sl[lanes], k)

        sol = model.solve((0.0, case["days"]), params, case["y0"][:, sl],
                          t_eval=case["t_eval"], stops=case["stops"][sl], on_stop=on_stop,
                          rtol=RTOL, atol=ATOL, throw=True)
        pain[sl] = sol.pain
    return pain, {"kept": "every state"}


def run_compiled(case: dict, batch: int) -> tuple[np.ndarray, dict]:
    """:func:`painsim.compiled.integrate_pain` on all lanes at once (its own loop runs
    lane by lane), keeping pain; compiled beforehand, JIT time not included."""
    from painsim.compiled import integrate_pain, warm_up

    model = case["painsim_model"]
    warm_up(model)
    P = case["P"].copy()  # on_stop may change it in place (this workload does not)

    def on_stop(t, y, lanes, k):
        return case["event"](y, P[:, lanes], lanes, k)

    sol = integrate_pain(model, (0.0, case["days"]), case["y0"], P, t_eval=case["t_eval"],
                         stops=case["stops"], on_stop=on_stop, rtol=RTOL, atol=ATOL,
                         throw=True)
    return sol.y[0], {"steps_per_patient": float(sol.n_steps.mean())}


def measure(name: str, case: dict, methods: list[tuple[str, Callable]], n: int,
            days: float, batch: int, repeat: int) -> list[dict]:
    """Rows of one table: every method in turns, ``repeat`` times, fastest kept; ratios
    and pain differences relative to the first method."""
    wall: dict[str, float] = {}
    cpu: dict[str, float] = {}
    out: dict[str, tuple[np.ndarray, dict]] = {}
    for _ in range(repeat):
        for label, fn in methods:
            tic, cpu_tic = time.perf_counter(), time.process_time()
            pain, extra = fn(case, batch)
            cpu[label] = min(cpu.get(label, np.inf), time.process_time() - cpu_tic)
            wall[label] = min(wall.get(label, np.inf), time.perf_counter() - tic)
            out[label] = (pain, extra)
    ref = methods[0][0]
    rows = []
    for label, _ in methods:
        pain, extra = out[label]
        rows.append({"model": name, "method": label, "reference": ref, "n": n, "days": days,
                     "cpu_s": cpu[label], "wall_s": wall[label],
                     "patient_days_per_cpu_s": n * days / cpu[label],
                     "ratio": cpu[label] / cpu[ref], "wall_ratio": wall[label] / wall[ref],
                     "max_abs_pain_diff": float(np.nanmax(np.abs(pain - out[ref][0]))),
                     "nan": int(np.isnan(pain).sum()), **extra})
    return rows


def machine(load_before: tuple[float, ...]) -> dict:
    info = workload.machine()
    info["load_average_1_5_15_min_before"] = list(load_before)
    info["load_average_1_5_15_min_after"] = list(os.getloadavg())
    info["load_note"] = ("shared machine: other users' jobs ran during the measurement; "
                         "compare ratios measured in one run only")
    info["blas_threads"] = os.environ.get("OPENBLAS_NUM_THREADS")
    info["note"] = ("every method on one core, in one process; the plain program's stage "
                    "sums use BLAS (one thread), painsim's do not (bit-identical results "
                    "for any chunking)")
    return info


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=10_000, help="patients per model (even)")
    ap.add_argument("--days", type=float, default=180.0)
    ap.add_argument("--batch", type=int, default=8192, help="lanes per chunk, both programs")
    ap.add_argument("--repeat", type=int, default=2, help="turns; the fastest is kept")
    ap.add_argument("--before", default=None, help="git revision of a 'before' solver")
    ap.add_argument("--models", nargs="+", default=["pain-loop", "switch", "hill"],
                    help="tables: pain-loop, switch, hill (needs --before)")
    ap.add_argument("--out", default=str(HERE / "results" / "kernel.json"))
    a = ap.parse_args(argv)
    load_before = os.getloadavg()
    before = module_at(a.before, "solver") if a.before else None
    rows = []
    for name in a.models:
        if name == "hill":  # Hill terms with the presets' integer exponents, before/after
            if before is None:
                continue
            old = module_at(a.before, "painloop").PAIN_LOOP
            now_c = pain_loop_case(a.n, a.days, hill_exponents=True)
            old_c = pain_loop_case(a.n, a.days, model=old, hill_exponents=True)
            ms = [(f"painsim.integrate, painloop @ {a.before}",
                   lambda c, b, old_c=old_c: run_integrate(old_c, b)),
                  ("painsim.integrate, painloop now", run_integrate),
                  (f"integrate_pain (Numba), painloop @ {a.before}",
                   lambda c, b, old_c=old_c: run_compiled(old_c, b)),
                  ("integrate_pain (Numba), painloop now", run_compiled)]
            from painsim.compiled import warm_up

            jit = {"now": warm_up(PAIN_LOOP), a.before: warm_up(old)}  # JIT: not timed
            got = measure(name, now_c, ms, a.n, a.days, a.batch, a.repeat)
            for r in got:
                r["jit_s"] = jit[a.before if a.before in r["method"] else "now"]
            rows += got
            continue
        case = (pain_loop_case if name == "pain-loop" else switch_case)(a.n, a.days)
        ms = [("plain NumPy DP5", run_plain), ("painsim.integrate", run_integrate)]
        if before is not None:
            ms.append((f"painsim.integrate @ {a.before}",
                       lambda c, b: run_integrate(c, b, before.integrate)))
        ms.append(("painsim.integrate + crossings",
                   lambda c, b: run_integrate(c, b, crossings=True)))
        if before is not None:
            ms.append((f"painsim.integrate + crossings @ {a.before}",
                       lambda c, b: run_integrate(c, b, before.integrate, crossings=True)))
        if name == "switch":
            ms.append(("Model.solve (user-model API)", run_model_solve))
        rows += measure(name, case, ms, a.n, a.days, a.batch, a.repeat)
    given = list(sys.argv[1:] if argv is None else argv)
    if "--out" in given:  # where the report went is not part of the measurement
        del given[given.index("--out"):given.index("--out") + 2]
    report = {"benchmark": "kernel", "command": " ".join(["python benchmarks/bench_kernel.py",
                                                          *given]),
              "rtol": RTOL, "atol": ATOL, "batch": a.batch, "repeat": a.repeat,
              "machine": machine(load_before), "rows": rows}
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text(json.dumps(report, indent=2) + "\n")
    print(table(report))
    return 0


def table(report: dict) -> str:
    """The rows as Markdown tables, one per model; ratios are to each table's first row."""
    r0 = report["rows"][0]
    lines = [f"{r0['n']:,} patients x {r0['days']:g} days, rtol {report['rtol']:g}, atol "
             f"{report['atol']:g}, chunks of {report['batch']:,} lanes, fastest of "
             f"{report['repeat']} turns, one process, one core ({report['machine']['cores']} "
             f"cores, {report['machine']['cpu']}; shared machine: compare ratios only). "
             "x = CPU time over the table's first row's, both measured in this run."]
    for name in dict.fromkeys(r["model"] for r in report["rows"]):
        lines += ["", f"**{name}**", "",
                  "| method | CPU s | patient-days per CPU s | x (CPU) | wall s | x (wall) "
                  "| max abs pain diff to row 1 |", "|---|---:|---:|---:|---:|---:|---:|"]
        for r in (r for r in report["rows"] if r["model"] == name):
            lines.append(f"| {r['method']} | {r['cpu_s']:.2f} | "
                         f"{r['patient_days_per_cpu_s']:.3g} | {r['ratio']:.2f} | "
                         f"{r['wall_s']:.2f} | {r['wall_ratio']:.2f} | "
                         f"{r['max_abs_pain_diff']:.1e} |")
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
