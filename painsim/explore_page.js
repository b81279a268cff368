/* painsim explore: the page's logic. Every number is looked up in the embedded grid
   (window.painsim.data); nothing is interpolated. Plotly draws the plots. */
(function () {
  "use strict";
  var D = JSON.parse(document.getElementById("painsim-data").textContent);
  var VERDICT = { h: "holds", f: "fails", u: "undecided" };
  var PHENO = { acute_strain: "acute strain", recurrent: "recurrent",
    chronic_sensitized: "chronic sensitized", stress_driven: "stress-driven" };
  var COLORS = [[85, 85, 85], [192, 57, 43], [31, 111, 178], [200, 110, 20], [39, 150, 80]];

  function decode(o) {
    var bin = atob(o.b64), n = bin.length, bytes = new Uint8Array(n);
    for (var i = 0; i < n; i++) bytes[i] = bin.charCodeAt(i);
    if (o.dtype === "int32") return new Int32Array(bytes.buffer);
    if (o.dtype === "float32") return new Float32Array(bytes.buffer);
    var q = new Uint16Array(bytes.buffer), out = new Float64Array(q.length);
    for (var k = 0; k < q.length; k++) out[k] = q[k] === 65535 ? NaN : q[k] / o.scale;
    return out;
  }
  function strides(shape) {
    var s = [], acc = 1;
    for (var i = shape.length - 1; i >= 0; i--) { s[i] = acc; acc *= shape[i]; }
    return s;
  }
  D.claims.forEach(function (c) {
    c.observables.forEach(function (o) {
      o.vals = decode(o.values); o.vstride = strides(o.values.shape);
      o.cstride = strides(o.shape);
    });
  });
  var PAIN = decode(D.pain), PAIN_S = strides(D.pain.shape);
  var KM = decode(D.km), KM_S = strides(D.km.shape);
  var KMN = decode(D.km_n), KMN_S = strides(D.km_n.shape);
  var MIXKEY = {};
  D.mixes.forEach(function (m, i) { MIXKEY[m.join(",")] = i; });
  var BYID = {};
  D.claims.forEach(function (c) { BYID[c.id] = c; });

  function $(id) { return document.getElementById(id); }
  function opt(sel, value, text) {
    var o = document.createElement("option"); o.value = value; o.textContent = text;
    sel.appendChild(o);
  }
  function pct(x) { return Math.round(100 * x) + "%"; }
  function days(x) { return (x === Math.round(x) ? x : x.toFixed(1)) + " days"; }
  function fmt(x) {
    if (x === null || x === undefined || isNaN(x)) return "undefined";
    if (!isFinite(x) || Math.abs(x) > 1e30) return x > 0 ? "never (inf)" : "-inf";
    return x.toFixed(2);
  }
  function band(b) { return "[" + b[0] + ", " + b[1] + "]"; }
  function reliefLabel(r) { return ">= " + pct(r[0]) + " below baseline for >= " + days(r[1]); }
  function relapseLabel(r) {
    return "pain back to >= " + pct(1 - r[0]) + " of baseline for >= " + days(r[1]);
  }
  function windowLabel(w) { return w === 0 ? "each claim's own window" : days(w) + " after relief"; }

  /* ---- controls ---- */
  var units = D.units;
  var state = { set: 0, mix: D.mixes[0].slice(), relief: 0, relapse: 0, window: 0,
    sessions: 0, every: 0 };
  (function init() {
    D.sets.forEach(function (s, i) { opt($("set"), i, s.name); });
    D.relief.forEach(function (r, i) { opt($("relief"), i, reliefLabel(r) + (i ? "" : " (default)")); });
    D.relapse.forEach(function (r, i) { opt($("relapse"), i, relapseLabel(r) + (i ? "" : " (default)")); });
    D.windows.forEach(function (w, i) { opt($("window"), i, windowLabel(w)); });
    var sess = [], every = [];
    D.protocols.forEach(function (p) {
      if (sess.indexOf(p.sessions) < 0) sess.push(p.sessions);
      if (every.indexOf(p.every_days) < 0) every.push(p.every_days);
    });
    state.sessList = sess; state.everyList = every;
    sess.forEach(function (n, i) { opt($("sessions"), i, n + " sessions"); });
    every.forEach(function (e, i) { opt($("every"), i, "every " + days(e)); });
    var six = sess.indexOf(6), seven = every.indexOf(7);
    state.sessions = six >= 0 ? six : 0; state.every = seven >= 0 ? seven : 0;
    $("sessions").value = state.sessions; $("every").value = state.every;
    opt($("contradiction"), "", "(none: pick two claims)");
    D.contradictions.forEach(function (x, i) {
      if (x.a.length && x.b.length) opt($("contradiction"), i, x.title);
    });
    D.claims.forEach(function (c) {
      var t = c.id + " (" + c.source + "): " + (c.quote.length > 60 ? c.quote.slice(0, 57) + "..." : c.quote);
      opt($("claimA"), c.id, t); opt($("claimB"), c.id, t);
    });
    // an even mix when the grid has one, else the first
    var even = [], q = Math.floor(units / D.phenotypes.length), r = units - q * D.phenotypes.length;
    D.phenotypes.forEach(function (p, i) { even.push(q + (i < r ? 1 : 0)); });
    state.mix = even;
    var box = $("mix");
    D.phenotypes.forEach(function (p, i) {
      var row = document.createElement("div"); row.className = "slider";
      var lab = document.createElement("label"); lab.htmlFor = "share-" + p;
      lab.textContent = PHENO[p];
      var inp = document.createElement("input");
      inp.setAttribute("aria-label", "Share of " + PHENO[p] + " patients");
      inp.type = "range"; inp.id = "share-" + p; inp.min = 0; inp.max = units; inp.step = 1;
      inp.value = state.mix[i];
      var out = document.createElement("output"); out.id = "share-" + p + "-out";
      out.htmlFor = inp.id;
      inp.addEventListener("input", function () { setShare(i, +inp.value); });
      inp.addEventListener("change", function () { setShare(i, +inp.value); });
      row.appendChild(lab); row.appendChild(inp); row.appendChild(out); box.appendChild(row);
    });
    var c0 = D.contradictions.findIndex(function (x) { return x.a.length && x.b.length; });
    if (c0 >= 0) { $("contradiction").value = c0; pickContradiction(); }
    else { $("claimA").value = D.claims[0].id; $("claimB").value = D.claims[Math.min(1, D.claims.length - 1)].id; }
    ["set", "relief", "relapse", "window", "sessions", "every"].forEach(function (k) {
      $(k).addEventListener("change", function () { state[k] = +$(k).value; update(); });
    });
    $("contradiction").addEventListener("change", function () { pickContradiction(); update(); });
    ["claimA", "claimB"].forEach(function (k) {
      $(k).addEventListener("change", function () { $("contradiction").value = ""; update(); });
    });
  })();

  /* Move share i to v (grid units) and rescale the others so the shares sum to 1, by
     largest remainders; the result is always a grid point. */
  function rebalance(mix, i, v) {
    var rest = units - v, others = [], tot = 0;
    mix.forEach(function (x, j) { if (j !== i) { others.push(j); tot += x; } });
    var raw = others.map(function (j) { return tot > 0 ? mix[j] * rest / tot : rest / others.length; });
    var fl = raw.map(Math.floor), left = rest - fl.reduce(function (a, b) { return a + b; }, 0);
    var order = raw.map(function (x, k) { return k; }).sort(function (a, b) {
      return (raw[b] - fl[b]) - (raw[a] - fl[a]) || a - b; });
    for (var k = 0; k < left; k++) fl[order[k]] += 1;
    var out = mix.slice(); out[i] = v;
    others.forEach(function (j, k) { out[j] = fl[k]; });
    return out;
  }
  function setShare(i, v) { state.mix = rebalance(state.mix, i, v); update(); }
  function pickContradiction() {
    var v = $("contradiction").value;
    if (v === "") return;
    var x = D.contradictions[+v];
    $("claimA").value = x.a[0]; $("claimB").value = x.b[0];
  }

  /* ---- lookups ---- */
  function protoIndex(s) {
    var n = s.sessList[s.sessions], e = s.everyList[s.every];
    return D.protocols.findIndex(function (p) { return p.sessions === n && p.every_days === e; });
  }
  function keyOf(s) {
    return [s.set, protoIndex(s), MIXKEY[s.mix.join(",")], s.relief, s.relapse, s.window];
  }
  function obsAt(o, key) {
    var k = 0, v = 0;
    for (var d = 0; d < 6; d++) {
      var x = o.dims[d] ? key[d] : 0;
      k += x * o.cstride[d]; v += x * o.vstride[d];
    }
    return { value: o.vals[v], lo: o.vals[v + 1], hi: o.vals[v + 2],
      verdict: VERDICT[o.verdicts.charAt(k)] };
  }
  function claimAt(c, key) {
    var rows = c.observables.map(function (o) { return obsAt(o, key); });
    var vs = rows.map(function (r) { return r.verdict; }), v;
    if (!vs.length) v = "undecided";
    else if (vs.indexOf("fails") >= 0) v = "fails";
    else v = vs.every(function (x) { return x === "holds"; }) ? "holds" : "undecided";
    return { verdict: v, rows: rows };
  }

  /* ---- why it flips: the nearest grid points, along each control, with another verdict ---- */
  function mixText(m) {
    return D.phenotypes.map(function (p, i) { return pct(m[i] / units) + " " + PHENO[p]; }).join(", ");
  }
  function alternatives(s) {
    var out = [];
    function along(key, n, label) {
      for (var j = 0; j < n; j++) {
        if (j === s[key]) continue;
        var t = Object.assign({}, s); t[key] = j;
        out.push({ s: t, what: label(j), dist: Math.abs(j - s[key]) });
      }
    }
    along("set", D.sets.length, function (j) { return "under the set '" + D.sets[j].name + "'"; });
    along("relief", D.relief.length, function (j) { return "with relief = " + reliefLabel(D.relief[j]); });
    along("relapse", D.relapse.length, function (j) { return "with relapse = " + relapseLabel(D.relapse[j]); });
    along("window", D.windows.length, function (j) { return "with the follow-up window " + windowLabel(D.windows[j]); });
    along("sessions", s.sessList.length, function (j) { return "with " + s.sessList[j] + " sessions"; });
    along("every", s.everyList.length, function (j) { return "with sessions every " + days(s.everyList[j]); });
    D.mixes.forEach(function (m) {
      var dist = 0;
      m.forEach(function (x, i) { dist += Math.abs(x - s.mix[i]); });
      if (!dist) return;
      var t = Object.assign({}, s); t.mix = m.slice();
      out.push({ s: t, what: "with " + mixText(m), dist: dist / 2 });
    });
    return out;
  }
  function bnum(x) { return x === "inf" ? Infinity : x === "-inf" ? -Infinity : Number(x); }
  function deciding(c, res) {
    var want = res.verdict === "holds" ? null : res.verdict, best = 0, dist = Infinity;
    res.rows.forEach(function (r, j) {
      if (want && r.verdict === want && dist === Infinity) { best = j; dist = 0; }
    });
    if (!want) {
      res.rows.forEach(function (r, j) {
        var b = c.observables[j].band.map(bnum), m = Math.min(Math.abs(r.lo - b[0]), Math.abs(r.hi - b[1]));
        if (m < dist) { dist = m; best = j; }
      });
    }
    return best;
  }
  function why(c, res) {
    var j = deciding(c, res), o = c.observables[j], r = res.rows[j];
    var inside = { holds: "lies inside", fails: isNaN(r.value) ? "is undefined for" : "lies outside",
      undecided: isNaN(r.lo) ? "has no interval (too few resamples defined) to compare with"
        : "straddles an edge of" }[r.verdict];
    var what = o.what.replace(/ in \[[^\]]*\]$/, "");
    var s = isNaN(r.value)
      ? c.id + " fails here because " + what + " is undefined in this cohort (no patients of that kind, or nobody reached relief)."
      : c.id + " " + res.verdict + " here because " + what + " = " + fmt(r.value) + " [95%: " + fmt(r.lo) + ", "
        + fmt(r.hi) + "], which " + inside + " the claim's band " + band(o.band) + ".";
    var flips = [];
    alternatives(state).forEach(function (n) {
      var v = claimAt(c, keyOf(n.s)).verdict;
      if (v !== res.verdict) flips.push({ dist: n.dist, text: n.what + " it " + { holds: "would hold", fails: "would fail", undecided: "would be undecided" }[v] });
    });
    flips.sort(function (x, y) { return x.dist - y.dist; });
    s += flips.length ? " Nearest grid points where it flips: " + flips.slice(0, 3).map(function (f) { return f.text; }).join("; ") + "."
      : " No other grid point, along any one control, changes it.";
    return s;
  }

  /* ---- drawing (Plotly) ---- */
  function card(el, c, res) {
    var was = el.querySelector("details"), open = was ? was.open : false;
    var h = "<h2><span class=\"badge " + res.verdict + "\">" + res.verdict + "</span> " + c.id + "</h2>";
    h += "<blockquote>&ldquo;" + esc(c.quote) + "&rdquo; <cite>(" + c.id + ", " + esc(c.source) + ")</cite></blockquote>";
    if (c.warning) h += "<p class=\"warning\" role=\"note\"><b>Untraceable source:</b> " + esc(c.warning) + "</p>";
    h += "<p class=\"why\">" + esc(why(c, res)) + "</p>";
    h += "<details><summary>Observables, values and window</summary>";
    h += "<p class=\"small\">Window: " + esc(c.window) + (c.window_quote ? " (&ldquo;" + esc(c.window_quote) + "&rdquo;)" : "") + "</p>";
    h += "<table><thead><tr><th scope=\"col\">observable</th><th scope=\"col\">value [95% interval]</th><th scope=\"col\">verdict</th></tr></thead><tbody>";
    res.rows.forEach(function (r, j) {
      h += "<tr><td>" + esc(c.observables[j].what) + "</td><td class=\"num\">" + fmt(r.value) + " [" + fmt(r.lo) + ", " + fmt(r.hi) + "]</td><td class=\"" + r.verdict + "\">" + r.verdict + "</td></tr>";
    });
    h += "</tbody></table></details>";
    el.innerHTML = h;
    el.querySelector("details").open = open;
    el.setAttribute("data-verdict", res.verdict);
    el.setAttribute("data-claim", c.id);
  }
  function esc(s) {
    return String(s).replace(/[&<>"]/g, function (ch) { return { "&": "&amp;", "<": "&lt;", ">": "&gt;", "\"": "&quot;" }[ch]; });
  }
  function armsShown(a, b) {
    var names = ["none", "dry needling", "acupuncture"];
    [a, b].forEach(function (c) {
      c.observables.forEach(function (o) {
        [o.arm, o.minus].forEach(function (x) { if (x && names.indexOf(x) < 0) names.push(x); });
      });
    });
    return D.arms.filter(function (x) { return names.indexOf(x) >= 0; });
  }
  function axis(title, extra) { return Object.assign({ title: { text: title, font: { size: 14 } }, tickfont: { size: 13 } }, extra || {}); }
  function plots(key, shown) {
    var si = key[0], pi = key[1], mi = key[2], ri = key[3], qi = key[4];
    var kmTraces = [], painTraces = [], w = D.windows[key[5]];
    shown.forEach(function (arm) {
      var a = D.arms.indexOf(arm), rgb = COLORS[a % COLORS.length].join(", ");
      var col = "rgb(" + rgb + ")", fillcol = "rgba(" + rgb + ", 0.2)";
      var base = si * KM_S[0] + pi * KM_S[1] + mi * KM_S[2] + ri * KM_S[3] + qi * KM_S[4] + a * KM_S[5];
      var y = [], n = KMN[si * KMN_S[0] + pi * KMN_S[1] + mi * KMN_S[2] + ri * KMN_S[3] + a * KMN_S[4]];
      for (var t = 0; t < D.km_days.length; t++) { var v = KM[base + t]; y.push(isNaN(v) ? null : v); }
      kmTraces.push({ x: D.km_days, y: y, name: arm + " (n relieved = " + n + ")", mode: "lines",
        line: { shape: "hv", color: col, width: 2.5 } });
      var pb = si * PAIN_S[0] + pi * PAIN_S[1] + mi * PAIN_S[2] + a * PAIN_S[3], mu = [], lo = [], hi = [];
      for (var d = 0; d < D.pain_days.length; d++) {
        var k = pb + d * PAIN_S[4]; mu.push(PAIN[k]); lo.push(PAIN[k + 1]); hi.push(PAIN[k + 2]);
      }
      painTraces.push({ x: D.pain_days, y: hi, mode: "lines", line: { width: 0 }, showlegend: false, hoverinfo: "skip", legendgroup: arm });
      painTraces.push({ x: D.pain_days, y: lo, mode: "lines", line: { width: 0 }, fill: "tonexty",
        fillcolor: fillcol, showlegend: false, hoverinfo: "skip", legendgroup: arm });
      painTraces.push({ x: D.pain_days, y: mu, mode: "lines", name: arm, line: { color: col, width: 2.5 }, legendgroup: arm });
    });
    var font = { size: 14 };
    function legend(x, y, xa, ya) { return { font: { size: 12 }, x: x, y: y, xanchor: xa, yanchor: ya, bgcolor: "rgba(255,255,255,0.85)" }; }
    var shapes = w ? [{ type: "line", x0: w, x1: w, y0: 0, y1: 1, yref: "paper", line: { dash: "dot", color: "#333" } }] : [];
    Plotly.react("plot-relapse", kmTraces, {
      title: { text: "Relapse-free after relief (Kaplan–Meier)", font: { size: 15 } }, font: font,
      xaxis: axis("time since relief (days)", { range: [0, D.km_days[D.km_days.length - 1]] }),
      yaxis: axis("relapse-free fraction (0–1)", { range: [0, 1.05] }),
      legend: legend(0.01, 0.02, "left", "bottom"), shapes: shapes, margin: { l: 60, r: 10, t: 40, b: 50 } },
      { displayModeBar: false, responsive: true });
    var p = D.protocols[pi], marks = [];
    for (var s = 0; s < p.sessions; s++) marks.push({ type: "line", x0: 1 + s * p.every_days, x1: 1 + s * p.every_days, y0: 0, y1: 0.04, yref: "paper", line: { color: "#333" } });
    Plotly.react("plot-pain", painTraces, {
      title: { text: "Mean pain with its 95% interval (ticks: sessions)", font: { size: 15 } }, font: font,
      xaxis: axis("day of follow-up (days)", { range: [0, D.horizon_days] }),
      yaxis: axis("pain (0–10 scale)", { range: [0, 10] }),
      legend: legend(0.99, 0.98, "right", "top"), shapes: marks, margin: { l: 60, r: 10, t: 40, b: 50 } },
      { displayModeBar: false, responsive: true });
  }

  function update() {
    D.phenotypes.forEach(function (p, i) {
      $("share-" + p).value = state.mix[i];
      $("share-" + p).setAttribute("aria-valuetext", pct(state.mix[i] / units));
      $("share-" + p + "-out").textContent = pct(state.mix[i] / units);
    });
    var key = keyOf(state), a = BYID[$("claimA").value], b = BYID[$("claimB").value];
    var ra = claimAt(a, key), rb = claimAt(b, key);
    card($("cardA"), a, ra); card($("cardB"), b, rb);
    var cv = $("contradiction").value, x = cv === "" ? null : D.contradictions[+cv];
    $("contradiction-summary").textContent = x ? x.title + " " + x.summary : "";
    var both = ra.verdict === "holds" && rb.verdict === "holds";
    var clash = (ra.verdict === "holds" && rb.verdict === "fails") || (ra.verdict === "fails" && rb.verdict === "holds");
    $("together").textContent = both ? "Here both claims hold at once: under these assumptions they do not contradict each other."
      : clash ? "Here only one of them holds: under these assumptions the two claims cannot both be right."
      : "Here " + a.id + " " + ra.verdict + " and " + b.id + " " + rb.verdict + ".";
    $("grid-note").textContent = "Grid point shown: set '" + D.sets[key[0]].name + "'; " + mixText(state.mix) + "; "
      + D.protocols[key[1]].sessions + " sessions every " + days(D.protocols[key[1]].every_days)
      + "; relief " + reliefLabel(D.relief[key[3]]) + "; relapse " + relapseLabel(D.relapse[key[4]])
      + "; window " + windowLabel(D.windows[key[5]]) + ". Controls move between simulated grid points; nothing is interpolated.";
    document.body.setAttribute("data-key", key.join(","));
    plots(key, armsShown(a, b));
  }
  window.painsim = { data: D, state: state, update: update, keyOf: keyOf, claimAt: claimAt };
  update();
})();
