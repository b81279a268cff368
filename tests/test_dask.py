"""Dask scale-out: the same numbers as a serial run, chunk by chunk, even when a worker
is lost mid-run."""

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

import painsim as ps
from painsim.errors import ParameterError

distributed = pytest.importorskip("distributed")


def _study():
    weekly = ps.Fixed(start_day=3, every_days=7, sessions=4)
    arms = [ps.Arm(name="dn", protocol=ps.Protocol(intervention=ps.dry_needling(),
                                                   schedule=weekly)),
            ps.Arm(name="acu", protocol=ps.Protocol(intervention=ps.acupuncture(),
                                                    schedule=weekly, p_miss=0.2)),
            ps.Arm(name="as needed", protocol=ps.Protocol(
                intervention=ps.dry_needling(), schedule=ps.AsNeeded(threshold=4.0)))]
    return arms, ps.Cohort(n=30, seed=11)


def _same(a, b):
    assert a.arms == b.arms
    for arm in a.arms:
        np.testing.assert_array_equal(a.pain[arm], b.pain[arm])  # bit for bit
        np.testing.assert_array_equal(a.status[arm], b.status[arm])
    assert a.patients.equals(b.patients)
    assert a.summary.equals(b.summary)
    assert a.events.equals(b.events)


@pytest.fixture(scope="module")
def client():
    with ps.dask_client("local", workers=2) as c:
        yield c


@pytest.fixture(scope="module")
def serial():
    arms, cohort = _study()
    return ps.simulate(arms, cohort, horizon_days=60)


@pytest.mark.parametrize("chunk_size", [None, 4, 13])
def test_dask_run_is_bit_identical_to_serial_for_any_chunking(client, serial, chunk_size):
    arms, cohort = _study()
    res = ps.simulate(arms, cohort, horizon_days=60, executor=client, chunk_size=chunk_size)
    _same(serial, res)


def test_dask_run_keeps_daily_pain_on_disk_bit_identical(client, serial, tmp_path):
    arms, cohort = _study()
    res = ps.simulate(arms, cohort, horizon_days=60, executor=client, chunk_size=7,
                      spool=tmp_path)
    _same(serial, res)
    for i, arm in enumerate(res.arms):  # the rows arrived chunk by chunk into the files
        np.testing.assert_array_equal(np.load(tmp_path / f"pain_{i}.npy"), serial.pain[arm])


def test_a_clinic_arm_runs_whole_on_dask_and_matches(client):
    arms = [ps.Arm(name="clinic", protocol=ps.Protocol(
        intervention=ps.dry_needling(), schedule=ps.Fixed(sessions=3)),
        clinic=ps.Clinic(slots_per_day=2))]
    cohort = ps.Cohort(n=6, seed=2)
    _same(ps.simulate(arms, cohort, horizon_days=30),
          ps.simulate(arms, cohort, horizon_days=30, executor=client))


def test_a_worker_killed_mid_run_has_its_chunk_rerun_and_the_result_is_unchanged(serial):
    arms, cohort = _study()
    with ps.dask_client("local", workers=2) as c:
        pids = c.run(os.getpid)  # worker address -> its process id
        killed = []

        def kill_a_busy_worker():
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and not killed:
                busy = [w for w, tasks in c.processing().items() if tasks]
                if busy:
                    os.kill(pids[busy[0]], signal.SIGKILL)
                    killed.append(busy[0])
                time.sleep(0.01)

        t = threading.Thread(target=kill_a_busy_worker)
        t.start()
        res = ps.simulate(arms, cohort, horizon_days=60, executor=c, chunk_size=3)
        t.join()
    assert killed, "no worker was busy to be killed"
    _same(serial, res)


def test_unreachable_scheduler_and_bad_workers_are_clear_errors():
    with pytest.raises(ParameterError, match="scheduler"), \
            ps.dask_client("tcp://127.0.0.1:9", timeout_s=2):
        pass
    with pytest.raises(ParameterError, match="workers"), ps.dask_client("local", workers=0):
        pass
    with pytest.raises(ParameterError, match="workers"), \
            ps.dask_client("local", workers=(os.cpu_count() or 1) + 1):
        pass
    with pytest.raises(ParameterError, match="executor"):
        arms, cohort = _study()
        ps.simulate(arms, cohort, horizon_days=10, executor="local")


def test_without_dask_the_message_says_how_to_install_it():
    code = ("import sys; sys.modules['distributed'] = None\n"
            "import painsim\n"
            "try:\n"
            "    with painsim.dask_client('local'):\n"
            "        pass\n"
            "except painsim.ParameterError as e:\n"
            "    print(e)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert 'pip install "painsim[dask]"' in out.stdout


def test_painsim_run_with_a_local_scheduler_writes_the_same_tables(tmp_path):
    from click.testing import CliRunner

    from painsim.cli import main

    scenario = Path(__file__).resolve().parent.parent / "scenarios" / "own_patients.toml"
    plain, dask = tmp_path / "plain", tmp_path / "dask"
    r1 = CliRunner().invoke(main, ["run", str(scenario), "--out", str(plain), "--quiet"])
    r2 = CliRunner().invoke(main, ["run", str(scenario), "--out", str(dask), "--quiet",
                                   "--scheduler", "local", "--workers", "1"])
    assert r1.exit_code == 0 and r2.exit_code == 0, r1.output + r2.output
    for name in ("patients.csv", "summary.csv", "events.csv", "trajectories.csv"):
        assert (plain / name).read_bytes() == (dask / name).read_bytes(), name


@pytest.mark.parametrize("workers", [1, 2])
def test_progress_reports_every_task_once_up_to_the_total(workers):
    arms, cohort = _study()
    seen = []
    ps.simulate(arms, cohort, horizon_days=20, chunk_size=7, workers=workers,
                progress=lambda done, total: seen.append((done, total)))
    total = 5  # ceil(30 / 7) chunks, no clinic arm
    assert seen == [(k, total) for k in range(1, total + 1)]


def test_claims_on_a_cluster_give_the_local_numbers(client):
    from painsim.claims import AssumptionSet, evaluate_claims, load_claims

    claims = load_claims([Path(__file__).resolve().parent.parent / "scenarios" / "claims"
                          / "003-4.toml"])
    sets = [AssumptionSet(name="default", description="d", mix={"stress_driven": 1.0})]
    kw = {"patients": 8, "horizon_days": 45, "n_boot": 20}
    local = evaluate_claims(claims, sets, **kw)
    remote = evaluate_claims(claims, sets, executor=client, **kw)
    assert local.equals(remote)  # every value, interval and verdict, bit for bit


def test_analysis_commands_take_a_scheduler_and_print_the_same_numbers():
    from click.testing import CliRunner

    from painsim.cli import main

    evidence = (Path(__file__).resolve().parent.parent / "scenarios" / "evidence"
                / "brady2014_dry_needling_ae.toml")
    args = ["validate", str(evidence), "--patients", "40"]
    r1 = CliRunner().invoke(main, args)
    r2 = CliRunner().invoke(main, [*args, "--scheduler", "local", "--workers", "1"])
    assert r1.exit_code == r2.exit_code and r1.exit_code in (0, 3), r1.output + r2.output

    def numbers(text: str) -> list[str]:  # every line but the timings
        return [ln for ln in text.splitlines() if " s" not in ln and "seconds" not in ln]

    assert numbers(r1.output) == numbers(r2.output) and len(numbers(r1.output)) > 3
    for cmd in ("claims", "calibrate", "sensitivity", "basins", "explain"):
        assert "--scheduler" in CliRunner().invoke(main, [cmd, "--help"]).output, cmd


def test_sensitivity_basins_and_attribution_on_a_cluster_give_the_local_numbers(
        client, tmp_path):
    from painsim.attribute import attribute
    from painsim.scenario import load_scenario

    from .test_sensitivity import _study

    s = load_scenario(_study(tmp_path))
    local = ps.run_sensitivity(s, block_lanes=12)
    remote = ps.run_sensitivity(s, block_lanes=12, executor=client)
    for k in local.indices:
        np.testing.assert_array_equal(local.Y[k], remote.Y[k])  # bit for bit
        assert local.indices[k].equals(remote.indices[k])

    cohort = ps.Cohort(n=4, seed=5, mix={"chronic_sensitized": 1.0})
    kw = dict(max_sessions=2, horizon=60.0, settle_days=10.0, driver=None)
    one, two = ps.basin_map(cohort, **kw), ps.basin_map(cohort, executor=client, **kw)
    assert one.patients.equals(two.patients) and one.tipped.equals(two.tipped)

    weekly = ps.Fixed(start_day=1, every_days=7, sessions=3)
    arms = [ps.Arm(name="sham", protocol=ps.Protocol(intervention=ps.sham(),
                                                     schedule=weekly)),
            ps.Arm(name="acupuncture", protocol=ps.Protocol(intervention=ps.acupuncture(),
                                                            schedule=weekly))]
    kw = dict(reference="sham", days=[21], bootstrap=20)
    one = attribute(arms, cohort, 30.0, **kw)
    two = attribute(arms, cohort, 30.0, executor=client, **kw)
    assert one.patients.equals(two.patients) and one.summary.equals(two.summary)
