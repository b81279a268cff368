"""Results folders: written completely into a temporary folder, then renamed into place."""

from __future__ import annotations

import json
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from . import __version__
from .errors import PainsimError
from .outcomes import SimulationResult
from .scenario import Scenario

__all__ = ["estimate_memory_bytes", "read_results", "write_results"]

DISCLAIMER = "A model for research and teaching, not medical advice."


def estimate_memory_bytes(s: Scenario) -> int:
    """Rough peak memory of a run: daily pain per arm and patient, states, tables."""
    days = int(s.horizon_days) + 1
    per_patient = len(s.arms) * days * 8 * (3 if s.outputs["trajectories"] else 1)
    per_patient += 8 * 8 * 60  # states, solver stages and work arrays per lane
    return int(s.patients * per_patient)


def _versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {"painsim": __version__, "python": platform.python_version()}
    for dist in ("numpy", "scipy", "simpy", "pandas", "click", "matplotlib"):
        try:
            out[dist] = version(dist)
        except PackageNotFoundError:  # pragma: no cover
            out[dist] = "not installed"
    return out


def write_results(s: Scenario, result: SimulationResult, out: Path, *, force: bool = False,
                  command: str = "", wall_seconds: float = 0.0) -> list[str]:
    """Write ``out`` with summary, patients, events, trajectories, manifest and plots.

    The folder appears only when complete: everything is written into a temporary
    folder beside it and renamed. An existing ``out`` is replaced only with ``force``.
    """
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise PainsimError(f"{out}: exists and is not a folder; choose another --out")
    if out.exists() and not force:
        raise PainsimError(f"{out}: already exists; use --force to replace it")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    umask = os.umask(0)
    os.umask(umask)
    tmp.chmod(0o777 & ~umask)  # mkdtemp makes 0700; a results folder is an ordinary one
    try:
        files = []
        s_out = result.summary.copy()
        s_out.insert(0, "note", DISCLAIMER)
        s_out.to_csv(tmp / "summary.csv", float_format="%.6g")
        result.patients.to_csv(tmp / "patients.csv", index=False, float_format="%.6g")
        result.events.to_csv(tmp / "events.csv", index=False, float_format="%.6g")
        files += ["summary.csv", "patients.csv", "events.csv"]
        if result.patients.phenotype.nunique() > 1:
            cols = ["baseline_pain", "pain_short_term", "change_short_term",
                    "responder_pct", "relief", "relapse", "durable_response", "sessions"]
            by = result.patients.groupby(["arm", "phenotype"], sort=False)[cols].mean()
            by.insert(0, "patients", result.patients.groupby(
                ["arm", "phenotype"], sort=False).size())
            by.to_csv(tmp / "summary_by_phenotype.csv", float_format="%.6g")
            files.append("summary_by_phenotype.csv")
        if s.outputs["trajectories"]:
            result.trajectories().to_csv(tmp / "trajectories.csv", index=False,
                                         float_format="%.6g")
            files.append("trajectories.csv")
        if s.outputs["plots"]:
            from .plots import plot_all

            ev = result.events[result.events.kind == "session"]
            sessions = {a: ev[ev.arm == a].day.to_numpy() for a in result.arms}
            files += plot_all(result, tmp, sessions)
        manifest = {
            "painsim_manifest": 1, "note": DISCLAIMER, "command": command,
            "created_unix": time.time(), "scenario_file": s.path, "scenario_sha256": s.sha256,
            "scenario_text": s.text, "title": s.title, "seed": s.seed,
            "patients": s.patients, "arms": list(result.arms),
            "horizon_days": s.horizon_days, "decision_resolution_days": s.epoch_days,
            "seeds": {"scenario": s.seed, "patient_streams":
                      "SeedSequence([seed, patient, stream]); streams: cohort 1, flares 2, "
                      "visits 3, effects 4, dropout 5"},
            "solver": {"method": "Dormand-Prince 5(4), per-patient steps", "rtol": s.rtol,
                       "atol": s.atol},
            "versions": _versions(),
            "platform": {"system": platform.platform(), "machine": platform.machine(),
                         "python": sys.version.split()[0]},
            "timings_s": {**{k: round(v, 4) for k, v in result.timings.items()},
                          "total": round(wall_seconds, 4)},
            "solver_failures": {a: int(np.count_nonzero(st != 0))
                                for a, st in result.status.items()},
            "files": [*files, "manifest.json"],
        }
        (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2))
        if out.exists():
            shutil.rmtree(out)
        tmp.rename(out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return manifest["files"]


def read_results(folder: Path) -> tuple[dict[str, Any], Any]:
    """The manifest and summary table of a results folder (for ``painsim compare``)."""
    import pandas as pd

    folder = Path(folder)
    mf, sf = folder / "manifest.json", folder / "summary.csv"
    if not mf.is_file() or not sf.is_file():
        raise PainsimError(f"{folder}: not a painsim results folder (needs manifest.json "
                           "and summary.csv)")
    try:
        manifest = json.loads(mf.read_text())
    except json.JSONDecodeError as exc:
        raise PainsimError(f"{mf}: broken manifest ({exc})") from None
    return manifest, pd.read_csv(sf, index_col=0)
