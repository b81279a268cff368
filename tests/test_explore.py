"""``painsim explore``: the grid behind the page, and the page itself in a real browser.

The browser test drives the page in headless Chromium (Debian: ``apt-get install -y
chromium chromium-driver``) through Selenium and the distribution's chromedriver. Without
a browser it fails with the install command; outside CI (``CI`` unset) it may be skipped
with ``PAINSIM_SKIP_BROWSER=1``. ``PAINSIM_CHROMIUM`` and ``PAINSIM_CHROMEDRIVER`` point
at other executables; the 1280x720 screenshot goes to ``PAINSIM_TEST_RESULTS`` (a folder)
or the test's temporary folder.
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import struct
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from painsim import Cohort, simulate
from painsim.claims import METRICS, SHORT_TERM_DAY, claim_verdict
from painsim.cohort import PHENOTYPE_PRESETS, with_parameters
from painsim.explore import (
    ARMS,
    GRIDS,
    HORIZON_DAYS,
    KM_SCALE,
    PAIN_SCALE,
    PHENOTYPES,
    _arm_data,
    _relapse,
    _relief,
    compute_grid,
    explorer_arms,
    mix_counts,
    render_page,
)
from painsim.outcomes import Outcomes
from painsim.results import DISCLAIMER

CLAIMS_DIR = Path(__file__).resolve().parent.parent / "scenarios" / "claims"
VERDICT = {"h": "holds", "f": "fails", "u": "undecided"}
SEED = 2026


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    """The small grid, computed once, and its page."""
    data = compute_grid(CLAIMS_DIR, GRIDS["small"], seed=SEED, workers=2, backend="numba")
    data["build_s"] = data["sim_s"] + data["read_s"]
    path = tmp_path_factory.mktemp("explore") / "explore.html"
    path.write_text(render_page(data), encoding="utf-8")
    return path, data


def _claim(data: dict[str, Any], cid: str) -> dict[str, Any]:
    return next(c for c in data["claims"] if c["id"] == cid)


def _obs_at(o: dict[str, Any], key: list[int]) -> tuple[np.ndarray, str]:
    ix = tuple(k if d else 0 for k, d in zip(key, o["dims"], strict=True))
    return np.asarray(o["values"])[ix], VERDICT[str(np.asarray(o["verdicts"])[ix])]


def _claim_at(data: dict[str, Any], cid: str, key: list[int]) -> str:
    return claim_verdict([_obs_at(o, key)[1] for o in _claim(data, cid)["observables"]])


# ------------------------------------------------------------------- the grid, no browser


def test_page_is_self_contained_and_carries_the_warnings(built):
    path, data = built
    doc = path.read_text(encoding="utf-8")
    assert DISCLAIMER in doc
    # the markup loads nothing: scripts are inline (Plotly's bundle, the data, the logic)
    markup = re.sub(r"<script[^>]*>.*?</script>", "<script></script>", doc, flags=re.S)
    assert not re.search(r"""(src|href)\s*=""", markup)
    assert markup.count("<script></script>") == 3
    assert "nothing between them is interpolated" in doc
    ids = [c["id"] for c in data["claims"]]
    assert "003-1" in ids and "000-2" in ids
    assert _claim(data, "003-1")["warning"].startswith("No published 2022 meta-analysis")
    assert {x["id"] for x in data["not_offered"]} >= {"000-9", "003-6"}
    assert all(x["a"] and x["b"] for x in data["contradictions"])


def test_a_grid_point_is_a_fresh_paired_simulation(built):
    """A grid point's pain band and a verdict value equal those of a direct simulation of
    the same cohort: the stratified subset of one paired run, not an interpolation."""
    _, data = built
    si, (pi, proto) = 1, next((i, p) for i, p in enumerate(data["protocols"])
                              if p["sessions"] == 3)
    s = data["sets"][si]["name"]
    from painsim.claims import load_assumptions

    aset = next(x for x in load_assumptions(CLAIMS_DIR / "assumptions.toml") if x.name == s)
    cohort = Cohort(n=GRIDS["small"].patients, seed=SEED,
                    mix={p: 1 / len(PHENOTYPES) for p in PHENOTYPES},
                    phenotypes=with_parameters(PHENOTYPE_PRESETS, aset.parameters))
    res = simulate(explorer_arms(aset.treatments, proto["sessions"], proto["every_days"]),
                   cohort, HORIZON_DAYS, outcomes=Outcomes(short_term_day=SHORT_TERM_DAY),
                   backend="numba")
    phen = res.patients[res.patients.arm == "none"].sort_values("patient").phenotype
    pools = [np.flatnonzero(phen.to_numpy() == k) for k in PHENOTYPES]
    n = min(len(p) for p in pools)
    assert n == data["cohort_n"]
    mi = len(data["mixes"]) // 2
    shares = [u / data["units"] for u in data["mixes"][mi]]
    rows = np.concatenate([p[:k] for p, k in zip(pools, mix_counts(shares, n), strict=True)])
    a = ARMS.index("acupuncture")
    days = np.asarray(data["pain_days"])
    mean = res.pain["acupuncture"][rows][:, days].mean(axis=0)
    np.testing.assert_allclose(data["pain"][si, pi, mi, a, :, 0], mean, rtol=0, atol=1e-12)
    # 003-1's first observable: reduction_short_term(dry needling), by claims.METRICS
    o = _claim(data, "003-1")["observables"][0]
    assert o["metric"] == "reduction_short_term"
    p = res.patients[(res.patients.arm == "dry needling")].sort_values("patient")
    expected = METRICS["reduction_short_term"].fn(p.iloc[rows], None)
    value, _ = _obs_at(o, [si, pi, mi, 0, 0, 0])
    assert value[0] == pytest.approx(expected, abs=1e-12)
    assert value[1] <= value[0] <= value[2]


def test_relief_and_relapse_on_daily_readings():
    """Relief: >= min days at or below the level; relapse: back above after relief."""
    class Res:
        pass

    pain = np.array([[6.0, 6, 4, 4, 4, 6, 6, 6, 6, 6, 6, 6, 6],
                     [6.0, 6, 4, 6, 4, 4, 6, 6, 4, 6, 6, 6, 6],
                     [6.0, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6]])
    import pandas as pd

    r = Res()
    r.pain = {"x": pain}
    r.patients = pd.DataFrame({"patient": [0, 1, 2], "arm": "x"})
    r.events = pd.DataFrame({"arm": ["x"] * 2, "patient": [0, 0], "day": [1.5, 3.5],
                             "kind": ["session"] * 2, "detail": ["", ""]})
    a = _arm_data(r, "x")
    np.testing.assert_array_equal(_relief(a, 0.3, 1.0), [2, 4, np.nan])
    np.testing.assert_array_equal(_relief(a, 0.3, 2.0), [2, np.nan, np.nan])
    hit, t = _relapse(a, (0.3, 1.0), (0.15, 7.0))
    np.testing.assert_array_equal(hit, [True, False, False])  # 1: up 2 days, then 4
    np.testing.assert_array_equal(t[:2], [3, 8])  # relief to relapse, or to the end
    hit, _ = _relapse(a, (0.3, 1.0), (0.15, 8.0))  # patient 0 is up for 7 days only
    np.testing.assert_array_equal(hit, [False, False, False])


# ------------------------------------------------------------------------- the browser

INSTALL = ("headless Chromium and its driver are needed for the explorer's browser test. "
           "On Debian/Ubuntu: sudo apt-get update && sudo apt-get install -y chromium "
           "chromium-driver (then /usr/bin/chromium and /usr/bin/chromedriver exist; "
           "elsewhere set PAINSIM_CHROMIUM and PAINSIM_CHROMEDRIVER), and the Python "
           "driver: python -m pip install '.[test]'. Outside CI you may skip this test "
           "with PAINSIM_SKIP_BROWSER=1.")


def _executables() -> tuple[str, str]:
    chrome = os.environ.get("PAINSIM_CHROMIUM") or shutil.which("chromium") or shutil.which(
        "chromium-browser") or "/usr/bin/chromium"
    driver = os.environ.get("PAINSIM_CHROMEDRIVER") or shutil.which(
        "chromedriver") or "/usr/bin/chromedriver"
    return chrome, driver


@pytest.fixture
def browser(tmp_path: Path):
    skip = os.environ.get("PAINSIM_SKIP_BROWSER") == "1" and not os.environ.get("CI")
    chrome, driver_path = _executables()
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        if skip:
            pytest.skip("PAINSIM_SKIP_BROWSER=1: Selenium is not installed")
        pytest.fail("Selenium is not installed. " + INSTALL, pytrace=False)
    if not (Path(chrome).is_file() and Path(driver_path).is_file()):
        if skip:
            pytest.skip("PAINSIM_SKIP_BROWSER=1: no Chromium/chromedriver")
        pytest.fail(f"no Chromium at {chrome} or no chromedriver at {driver_path}. "
                    + INSTALL, pytrace=False)
    opts = webdriver.ChromeOptions()
    opts.binary_location = chrome
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic",
                "--no-first-run", "--disable-background-networking",
                "--disable-component-update", "--disable-sync",
                "--disable-dev-shm-usage", f"--user-data-dir={tmp_path / 'profile'}",
                "--window-size=1280,720"):
        opts.add_argument(arg)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    d = webdriver.Chrome(service=Service(executable_path=driver_path), options=opts)
    try:
        d.execute_cdp_cmd("Network.enable", {})
        d.execute_cdp_cmd("Network.emulateNetworkConditions", {
            "offline": True, "latency": 0, "downloadThroughput": 0, "uploadThroughput": 0})
        d.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
            "width": 1280, "height": 720, "deviceScaleFactor": 1, "mobile": False})
        yield d
    finally:
        d.quit()


def _results_dir(tmp_path: Path) -> Path:
    out = Path(os.environ.get("PAINSIM_TEST_RESULTS") or tmp_path / "results")
    out.mkdir(parents=True, exist_ok=True)
    return out


def _shown(d: Any) -> dict[str, Any]:
    """What the page shows: the grid point, both verdicts, and the plotted data."""
    return d.execute_script("""
      function trace(id, name) {
        var t = document.getElementById(id).data.filter(function (x) {
          return x.name && x.name.indexOf(name) === 0; })[0];
        return t ? Array.from(t.y) : null; }
      var a = document.getElementById('cardA'), b = document.getElementById('cardB');
      return {key: document.body.getAttribute('data-key').split(',').map(Number),
        a: a.getAttribute('data-claim'), b: b.getAttribute('data-claim'),
        va: a.getAttribute('data-verdict'), vb: b.getAttribute('data-verdict'),
        badge: a.querySelector('.badge').textContent, text: a.textContent,
        pain: trace('plot-pain', 'acupuncture'), pain0: trace('plot-pain', 'none'),
        km: trace('plot-relapse', 'acupuncture'),
        resources: performance.getEntriesByType('resource').map(function (e) {
          return e.name; })};""")


def _check_against_grid(shown: dict[str, Any], data: dict[str, Any]) -> None:
    """The page shows exactly the precomputed values of its grid point."""
    si, pi, mi, ri, qi, _ = key = shown["key"]
    a = ARMS.index("acupuncture")
    # stored to 1/6000 point of pain and 1/60000 of a fraction (PAIN_SCALE, KM_SCALE)
    np.testing.assert_allclose(shown["pain"], data["pain"][si, pi, mi, a, :, 0], rtol=0,
                               atol=0.5 / PAIN_SCALE + 1e-12)
    km = np.array([math.nan if v is None else v for v in shown["km"]])
    np.testing.assert_allclose(km, data["km"][si, pi, mi, ri, qi, a], rtol=0,
                               atol=0.5 / KM_SCALE + 1e-12)
    for cid, v in ((shown["a"], shown["va"]), (shown["b"], shown["vb"])):
        assert v == _claim_at(data, cid, key), (cid, key)
    assert shown["badge"] == shown["va"]
    first, _ = _obs_at(_claim(data, shown["a"])["observables"][0], key)
    if np.isfinite(first[0]):
        assert f"{first[0]:.2f}" in shown["text"]


def _png_size(path: Path) -> tuple[int, int]:
    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", head[16:24])


def test_page_in_a_real_browser(built, browser, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import Select, WebDriverWait

    path, data = built
    d = browser
    tic = time.perf_counter()
    d.get(path.as_uri())
    WebDriverWait(d, 30).until(
        lambda x: x.execute_script("return !!document.body.getAttribute('data-key') && "
                                   "document.getElementById('plot-pain').data !== undefined"))
    before = _shown(d)
    _check_against_grid(before, data)
    # keyboard: one step more chronic sensitized patients
    slider = d.find_element(By.ID, "share-chronic_sensitized")
    label = d.find_element(By.CSS_SELECTOR, "label[for='share-chronic_sensitized']")
    assert "chronic sensitized" in label.text
    slider.send_keys(Keys.ARROW_RIGHT)
    moved = _shown(d)
    assert moved["key"][2] != before["key"][2]
    c = data["phenotypes"].index("chronic_sensitized")
    assert data["mixes"][moved["key"][2]][c] == data["mixes"][before["key"][2]][c] + 1
    assert moved["pain0"] != before["pain0"]  # the untreated mean moved with the mix
    _check_against_grid(moved, data)
    # another assumption set
    Select(d.find_element(By.ID, "set")).select_by_visible_text("strong systemic")
    changed = _shown(d)
    assert data["sets"][changed["key"][0]]["name"] == "strong systemic"
    assert changed["key"][1:] == moved["key"][1:]
    assert changed["pain"] != moved["pain"]  # acupuncture's systemic dose is larger
    _check_against_grid(changed, data)
    # the page's lookup and verdict rule agree with claims.claim_verdict at every point
    table = d.execute_script("""
      var D = painsim.data, out = {}, n = [D.sets.length, D.protocols.length,
        D.mixes.length, D.relief.length, D.relapse.length, D.windows.length];
      function rec(key, i) {
        if (i === n.length) {
          D.claims.forEach(function (c) {
            out[c.id + '|' + key.join(',')] = painsim.claimAt(c, key).verdict; });
          return; }
        for (var j = 0; j < n[i]; j++) rec(key.concat([j]), i + 1); }
      rec([], 0); return out;""")
    shape = [len(data[k]) for k in ("sets", "protocols", "mixes", "relief", "relapse",
                                    "windows")]
    assert len(table) == len(data["claims"]) * int(np.prod(shape))
    for k, v in table.items():
        cid, key = k.split("|")
        assert v == _claim_at(data, cid, [int(x) for x in key.split(",")]), k
    # no console errors, nothing fetched
    logs = d.get_log("browser")
    assert not [e for e in logs if e["level"] == "SEVERE"], logs
    assert all(r.startswith(("data:", "blob:", "file:")) for r in changed["resources"]), \
        changed["resources"]
    shot = _results_dir(tmp_path) / "explore_1280x720.png"
    d.save_screenshot(str(shot))
    assert _png_size(shot) == (1280, 720)
    print(f"screenshot: {shot}; browser part {time.perf_counter() - tic:.1f} s")
    (shot.parent / "explore_check.json").write_text(json.dumps(
        {"before": before["key"], "moved": moved["key"], "changed": changed["key"],
         "verdicts": [changed["va"], changed["vb"]]}), encoding="utf-8")


def test_cli_writes_the_page(built, tmp_path):
    """``painsim explore --grid small`` writes the page and reports the grid's size."""
    from click.testing import CliRunner

    from painsim.cli import main

    out = tmp_path / "page"
    r = CliRunner().invoke(main, ["explore", "--out", str(out), "--grid", "small",
                                  "--patients", "40", "--claims-dir", str(CLAIMS_DIR),
                                  "--workers", "1"])
    assert r.exit_code == 0, r.output
    assert (out / "explore.html").is_file()
    info = json.loads((out / "explore_grid.json").read_text(encoding="utf-8"))
    assert info["simulations"] == 4 and info["grid"]["patients"] == 40
    assert "grid: 2 sets x 2 protocols x 10 mixes" in r.output
    assert DISCLAIMER in r.output
