"""The architecture, checked from the source: no private name crosses a module boundary,
and every import follows the layers documented in ``painsim/__init__.py``.

The checks parse the modules with :mod:`ast` (nothing is imported), so they see lazy
imports inside functions too.
"""

from __future__ import annotations

import ast
import graphlib
import re
from pathlib import Path

import pytest

import painsim

PACKAGE = Path(painsim.__file__).parent
MODULES = sorted(p.stem for p in PACKAGE.glob("*.py") if p.stem != "__init__")

#: Private names one module may still import from another: (importer, home, name).
#: Empty: compiled imports the solver's tableau, constants and helpers by their public
#: names (issue #18). Nothing may be added here.
ALLOWED: set[tuple[str, str, str]] = set()


def _private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def _home(node: ast.ImportFrom, names: set[str]) -> list[tuple[str, str | None]]:
    """(painsim module, imported name or None for a module) for each name of a
    ``from ... import`` of painsim; empty for other packages."""
    if node.level > 1:
        return []
    mod = node.module or ""
    if node.level == 0:
        if mod != "painsim" and not mod.startswith("painsim."):
            return []
        mod = mod.removeprefix("painsim").lstrip(".")
    if mod:  # from .cohort import X / from painsim.cohort import X
        return [(mod.split(".")[0], a.name) for a in node.names]
    # from . import cohort / from painsim import cohort, __version__
    return [(a.name, None) if a.name in names else ("__init__", a.name) for a in node.names]


def private_imports(source: str, importer: str, names: set[str]) -> list[str]:
    """Every private name ``source`` (module ``importer``) takes from another painsim
    module: ``from .mod import _x``, ``from painsim.mod import _x``, and ``alias._x`` where
    ``alias`` is an imported painsim module. Entries are ``"importer -> home._x (line)"``."""
    tree = ast.parse(source)
    found, aliases = [], {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            for home, name in _home(node, names):
                if name is None:  # a module bound to a name
                    alias = next(a for a in node.names if a.name == home)
                    aliases[alias.asname or home] = home
                elif _private(name) and home != importer:
                    found.append((home, name, node.lineno))
        elif isinstance(node, ast.Import):
            for a in node.names:
                parts = a.name.split(".")
                if parts[0] == "painsim" and len(parts) > 1 and a.asname:
                    aliases[a.asname] = parts[1]
    for node in ast.walk(tree):
        if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
                and node.value.id in aliases and _private(node.attr)
                and aliases[node.value.id] != importer):
            found.append((aliases[node.value.id], node.attr, node.lineno))
    return [f"{importer} -> {home}.{name} (line {line})" for home, name, line in found
            if (importer, home, name) not in ALLOWED]


def test_the_private_import_check_finds_each_form():
    src = ("from .claims import _arms, standard_arms\n"
           "from painsim.outcomes import _km\n"
           "from . import cohort as co\n"
           "import painsim.inputs as inp\n"
           "from .solver import _validate\n"
           "def f():\n"
           "    from .engine import _ArmRun\n"
           "    return co._Streams, inp._numbers, co.PatientStreams, __version__\n")
    found = private_imports(src, "compiled", set(MODULES))
    assert [f.split(" (")[0] for f in found] == [
        "compiled -> claims._arms", "compiled -> outcomes._km", "compiled -> solver._validate",
        "compiled -> engine._ArmRun", "compiled -> cohort._Streams",
        "compiled -> inputs._numbers"]
    # a module's own privates are its own
    assert not private_imports("from .claims import _x\n", "claims", set(MODULES))


def test_no_private_name_is_imported_across_modules():
    found = []
    for m in ["__init__", *MODULES]:
        found += private_imports((PACKAGE / f"{m}.py").read_text(), m, set(MODULES))
    assert not found, "give these a public, documented name in their home module:\n" + \
        "\n".join(found)


# --------------------------------------------------------------------------- layers
def documented_layers() -> dict[str, int]:
    """Module -> layer, from the ``Modules, in layers`` table of the package docstring."""
    doc = painsim.__doc__ or ""
    section = doc.split("Modules, in layers", 1)[1].split("Where a change goes", 1)[0]
    rows = re.findall(r"^\s+(\d+)\s+(\w+)\s+\S", section, flags=re.M)
    layers: dict[str, int] = {}
    for layer, module in rows:
        assert module not in layers, f"{module} is listed twice in the layers table"
        layers[module] = int(layer)
    return layers


#: The core: the modules of these layers never import the layers above them, not even
#: inside a function (the package docstring says so; engine is the top of the core).
CORE_TOP = 9


def imports_of(module: str) -> list[tuple[str, bool, int]]:
    """(painsim module imported, imported inside a function, line) for ``module``;
    imports under ``if TYPE_CHECKING:`` do not run and are left out."""
    tree = ast.parse((PACKAGE / f"{module}.py").read_text())
    out = []

    def visit(node: ast.AST, lazy: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                for c in child.orelse:
                    visit(c, lazy)
                continue
            if isinstance(child, ast.ImportFrom):
                for home, _ in _home(child, set(MODULES)):
                    if home != "__init__":
                        out.append((home, lazy, child.lineno))
            elif isinstance(child, ast.Import):
                for a in child.names:
                    parts = a.name.split(".")
                    if parts[0] == "painsim" and len(parts) > 1:
                        out.append((parts[1], lazy, child.lineno))
            visit(child, lazy or isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef
                                             | ast.Lambda))

    visit(tree, False)
    return out


def test_the_layers_table_places_every_module_once():
    layers = documented_layers()
    assert set(layers) == set(MODULES), (
        f"not in the table: {sorted(set(MODULES) - set(layers))}; "
        f"in the table but not a module: {sorted(set(layers) - set(MODULES))}")
    assert layers["errors"] == 1 and layers["engine"] == CORE_TOP and layers["cli"] == max(
        layers.values())


def test_every_import_follows_the_documented_layers():
    layers = documented_layers()
    bad = []
    for m in MODULES:
        for home, lazy, line in imports_of(m):
            if home == m or (lazy and layers[m] > CORE_TOP):
                continue  # an application may import above itself lazily
            if layers[home] >= layers[m]:
                bad.append(f"{m} (layer {layers[m]}) imports {home} (layer {layers[home]})"
                           f"{' inside a function' if lazy else ''}, line {line}")
    assert not bad, "imports against painsim/__init__.py's layers:\n" + "\n".join(bad)


@pytest.mark.parametrize("module", ["errors", "solver", "compiled", "model", "painloop"])
def test_the_numerical_core_imports_nothing_of_the_pipeline(module):
    """The solver and the model know nothing of the engine, outcomes, results or CLI."""
    above = {"engine", "outcomes", "results", "cli", "scenario", "cohort", "protocols"}
    assert not {home for home, _, _ in imports_of(module)} & above


def test_no_import_cycle_at_module_top_level():
    graph = {m: {home for home, lazy, _ in imports_of(m) if not lazy and home != m}
             for m in MODULES}
    graphlib.TopologicalSorter(graph).prepare()  # raises CycleError naming the cycle


def test_the_data_flow_names_modules_in_the_order_of_the_pipeline():
    """The documented flow names real modules, and each stage it names after the engine
    (solver, outcomes, summary, results) is imported by the one before it or by the
    engine."""
    doc = painsim.__doc__ or ""
    flow = re.search(r"^\s+(scenario ->.*)$", doc, flags=re.M)
    assert flow, "the package docstring lost its data-flow line"
    stages = [re.sub(r"\s*\(.*\)", "", s).strip() for s in re.split(r"<?->", flow.group(1))]
    assert stages == ["scenario", "cohort", "engine", "protocols", "solver", "outcomes",
                      "summary", "results"]
    imported = {m: {home for home, _, _ in imports_of(m)} for m in MODULES}
    assert {"cohort", "protocols", "solver", "outcomes", "summary"} <= imported["engine"]
    assert "outcomes" in imported["summary"]
    assert "cohort" in imported["scenario"] and "summary" in imported["results"]


def _calls(source: str) -> set[str]:
    """Names of the functions and classes ``source`` calls (``f(...)``, ``m.f(...)``)."""
    out = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call):
            f = node.func
            out.add(f.id if isinstance(f, ast.Name) else getattr(f, "attr", ""))
    return out


def test_what_happens_between_steps_is_written_once_in_the_solvers_driver():
    """Issue #18: stops, jumps, the crossing table, the Solution and ``throw`` live in
    ``solver.Driver``; both backends' kernels derive from it, and no other module builds
    a Solution, applies ``on_stop`` or records crossings itself."""
    once = {"Solution", "apply_on_stop", "stop_jumps", "crossing_table", "raise_if_failed",
            "status_messages"}
    for m in MODULES:
        if m == "solver":
            continue
        found = _calls((PACKAGE / f"{m}.py").read_text()) & once
        assert not found, f"{m} calls {sorted(found)}, which only the solver's driver may"
    bases = {m: {b.id for node in ast.walk(ast.parse((PACKAGE / f"{m}.py").read_text()))
                 if isinstance(node, ast.ClassDef) for b in node.bases
                 if isinstance(b, ast.Name)} for m in ("solver", "compiled")}
    assert "Driver" in bases["solver"] and "Driver" in bases["compiled"]
