"""Daily pain kept on disk (painsim.spool, simulate(spool=...)): the same numbers as in
memory, the files ordinary NumPy arrays, the pages given back without losing data."""

import errno
import importlib.util
import os
import re
import sys
from pathlib import Path

import numpy as np
import pytest

import painsim as ps
from painsim.errors import PainsimError, ParameterError
from painsim.spool import drop_pages, pain_file

linux = pytest.mark.skipif(not sys.platform.startswith("linux"),
                           reason="pages are given back with Linux's madvise")


def _resident_kib(path: Path) -> int:
    """Resident KiB of this process's maps of ``path`` (/proc/self/smaps)."""
    total, ours = 0, False
    for line in Path("/proc/self/smaps").read_text().splitlines():
        head = line.split()
        if head and "-" in head[0] and len(head) >= 5 and not head[0].endswith(":"):
            ours = line.rstrip().endswith(str(path))
        elif ours and line.startswith("Rss:"):
            total += int(head[1])
    return total


def test_pain_file_is_an_ordinary_npy_file(tmp_path):
    a = pain_file(tmp_path / "p.npy", (37, 11))
    assert a.shape == (37, 11) and a.dtype == np.float64 and a.flags.c_contiguous
    rng = np.random.default_rng(3)
    a[:] = rng.random((37, 11))
    a.flush()
    np.testing.assert_array_equal(np.load(tmp_path / "p.npy"), a)
    np.testing.assert_array_equal(np.load(tmp_path / "p.npy", mmap_mode="r"), a)


@linux
def test_dropped_pages_leave_the_process_and_keep_their_values(tmp_path):
    path = tmp_path / "p.npy"
    a = pain_file(path, (2000, 100))  # 1.6 MB: hundreds of pages
    a[:] = np.arange(a.size, dtype=float).reshape(a.shape)
    assert _resident_kib(path) >= 1500  # written: resident
    drop_pages(a[:1000])  # half the rows
    # the other half (781 KiB) but for the page it shares with the first, which goes too
    assert 781 - 4 <= _resident_kib(path) <= 781
    drop_pages(a)
    assert _resident_kib(path) == 0
    # nothing is lost: the values come back from the file's pages, in this map and others
    np.testing.assert_array_equal(a, np.arange(a.size, dtype=float).reshape(a.shape))
    a.flush()
    np.testing.assert_array_equal(np.load(path), a)


@linux
def test_drop_pages_leaves_copies_in_memory_and_copy_on_write_maps_alone(tmp_path):
    path = tmp_path / "p.npy"
    pain_file(path, (100, 100))
    cow = np.load(path, mmap_mode="c")
    cow[5, 5] = 7.0  # a private change: dropping its page would lose it
    drop_pages(cow)
    assert cow[5, 5] == 7.0
    plain = np.ones((100, 100))
    drop_pages(plain[3:7])
    assert (plain == 1).all()
    drop_pages(np.load(path, mmap_mode="r")[:0])  # empty: nothing to do


def test_a_full_disk_is_a_clear_error_and_leaves_no_file(tmp_path, monkeypatch):
    if not hasattr(os, "posix_fallocate"):
        pytest.skip("no posix_fallocate here")

    def full(fd, offset, length):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "posix_fallocate", full)
    with pytest.raises(PainsimError, match=r"p\.npy: cannot keep daily pain there "
                       r"\(\d+ MiB\): no space left on the disk"):
        pain_file(tmp_path / "p.npy", (100_000, 184))
    assert list(tmp_path.iterdir()) == []


def _study():
    weekly = ps.Fixed(start_day=2, every_days=7, sessions=3)
    return ([ps.Arm(name="none"),
             ps.Arm(name="dn", protocol=ps.Protocol(intervention=ps.dry_needling(),
                                                    schedule=weekly, p_miss=0.2)),
             ps.Arm(name="as needed", protocol=ps.Protocol(
                 intervention=ps.acupuncture(), schedule=ps.AsNeeded(threshold=4.0)))],
            ps.Cohort(n=23, seed=5))


@pytest.fixture(scope="module")
def in_memory():
    arms, cohort = _study()
    return ps.simulate(arms, cohort, horizon_days=50)


@pytest.mark.parametrize("workers, chunk_size", [(1, None), (1, 6), (2, None)])
def test_simulate_with_a_spool_gives_the_same_numbers(in_memory, tmp_path, workers,
                                                      chunk_size):
    arms, cohort = _study()
    res = ps.simulate(arms, cohort, horizon_days=50, workers=workers, chunk_size=chunk_size,
                      spool=tmp_path)
    names = sorted(p.name for p in tmp_path.iterdir())
    assert [n for n in names if n.startswith("pain_")] == ["pain_0.npy", "pain_1.npy",
                                                           "pain_2.npy"]
    # the event log's columns (but for the small piece of outcome rows each arm adds)
    # are kept there too, as maps of their files; the drawn parameters and phenotypes
    # in one file each, every chunk's written into its columns
    rest = [n for n in names if not n.startswith("pain_")]
    assert {"params.npy", "phenotype.npy"} <= set(rest)
    assert all(re.fullmatch(r"part_\d+\.npy", n) for n in rest
               if n not in ("params.npy", "phenotype.npy"))
    for k in ("patient", "day", "kind", "detail"):
        assert all(isinstance(lg[k], np.memmap) for lg in res.event_log
                   if lg[k].size and lg["kinds"][0] != "relief")
    phenotype, params = res.patient_columns._src[2:4]
    assert Path(phenotype.filename) == (tmp_path / "phenotype.npy").resolve()
    assert Path(params.filename) == (tmp_path / "params.npy").resolve()
    drawn = cohort.sample(50)
    assert phenotype.dtype == drawn.phenotype.dtype == cohort.phenotype_dtype
    np.testing.assert_array_equal(phenotype, drawn.phenotype)
    np.testing.assert_array_equal(params, drawn.params)
    for i, arm in enumerate(res.arms):
        assert isinstance(res.pain[arm], np.memmap)
        assert Path(res.pain[arm].filename) == (tmp_path / f"pain_{i}.npy").resolve()
        np.testing.assert_array_equal(res.pain[arm], in_memory.pain[arm])  # bit for bit
        np.testing.assert_array_equal(np.load(tmp_path / f"pain_{i}.npy"),
                                      in_memory.pain[arm])
    assert res.patients.equals(in_memory.patients)
    assert res.summary.equals(in_memory.summary)
    assert res.events.equals(in_memory.events)
    assert res.trajectories().equals(in_memory.trajectories())


@pytest.mark.parametrize("spool", ["no/such/folder", 3])
def test_spool_must_be_an_existing_folder(tmp_path, spool):
    arms, cohort = _study()
    if isinstance(spool, str):
        spool = str(tmp_path / spool)
    with pytest.raises(ParameterError, match=r"spool.*an existing folder"):
        ps.simulate(arms, cohort, horizon_days=50, spool=spool)


@linux
@pytest.mark.parametrize("backend", ["numpy", pytest.param("numba", marks=pytest.mark.skipif(
    importlib.util.find_spec("numba") is None, reason="needs painsim[fast] (numba)"))])
def test_a_spooled_run_holds_no_page_of_daily_pain(tmp_path, backend):
    # each chunk's pages are given back once its outcomes are computed, and no outcome
    # column is left a view of them (reading it would page the chunk in again)
    arms, _ = _study()
    res = ps.simulate(arms, ps.Cohort(n=400, seed=2), horizon_days=50, chunk_size=64,
                      backend=backend, spool=tmp_path)
    files = [(tmp_path / f"pain_{i}.npy").resolve() for i in range(len(arms))]
    assert [_resident_kib(f) for f in files] == [0, 0, 0]
    assert res.patients.pain_short_term.notna().all()  # outcomes there, pages still out
    assert [_resident_kib(f) for f in files] == [0, 0, 0]
    np.asarray(res.pain["dn"]).sum()  # reading pages them in, as a map does
    assert _resident_kib(files[1]) > 0
    # the event log, the parameters and the phenotypes kept there are given back too
    # once a reader has taken its block of them
    parts = [p.resolve() for p in tmp_path.glob("part_*.npy")]
    assert len(parts) > 10
    for read in (lambda: res.summary, lambda: list(res.event_blocks(500)),
                 lambda: list(res.patient_blocks(100)), lambda: res.event_days("dn", "session"),
                 lambda: res.patient_table(["phenotype", "param_tau_D"])):
        read()
        assert sum(_resident_kib(p) for p in parts) == 0


def test_painsim_runs_spool_lives_as_long_as_its_result(tmp_path):
    import gc

    (tmp_path / "s.toml").write_text('horizon = "20 days"\n[cohort]\npatients = 5\n'
                                     '[[arms]]\nname = "none"\n[outputs]\nplots = false\n')
    res, _ = ps.run_scenario(tmp_path / "s.toml", tmp_path / "results")

    def spools():
        return sorted(tmp_path.glob(".results.painsim-spool-*"))

    assert len(spools()) == 1 and isinstance(res.pain["none"], np.memmap)
    assert Path(res.pain["none"].filename).parent == spools()[0].resolve()
    del res
    gc.collect()
    assert spools() == []
