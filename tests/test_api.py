"""The public API: every exported name exists and is documented *itself*.

A class without a docstring of its own would show its base's (``__doc__`` is
inherited), and a dataclass without one gets its signature as ``__doc__``; neither
counts. A constant (which cannot carry a docstring) is documented by a ``#:`` comment
above its assignment, as Sphinx reads it.
"""

from __future__ import annotations

import ast
import dataclasses
import importlib
import inspect
import pkgutil
from pathlib import Path

import pytest

import painsim

PACKAGE = Path(painsim.__file__).parent
MODULES = ["painsim", *(f"painsim.{m.name}" for m in pkgutil.iter_modules(painsim.__path__))]


def _assignment_documented(module: str, name: str, depth: int = 0) -> bool:
    """A ``#:`` comment above ``name``'s top-level assignment in ``module`` (or an
    attribute docstring below it), following ``from .x import name`` to its home."""
    path = PACKAGE / ("__init__.py" if module == "painsim" else f"{module.split('.')[1]}.py")
    src = path.read_text()
    lines, tree = src.splitlines(), ast.parse(src)
    for i, node in enumerate(tree.body):
        if isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if any(isinstance(t, ast.Name) and t.id == name for t in targets):
                after = tree.body[i + 1] if i + 1 < len(tree.body) else None
                return lines[node.lineno - 2].lstrip().startswith("#:") or (
                    isinstance(after, ast.Expr) and isinstance(after.value, ast.Constant)
                    and isinstance(after.value.value, str))
        if isinstance(node, ast.ImportFrom) and node.level == 1 and node.module and any(
                (a.asname or a.name) == name for a in node.names) and depth < 5:
            return _assignment_documented(f"painsim.{node.module}", name, depth + 1)
    return False


def own_doc(obj: object) -> str | None:
    """The docstring ``obj`` defines itself ('' if none), or None for plain data."""
    help_text = getattr(obj, "help", None)  # a click command: its help is its docstring
    if inspect.isclass(obj):
        doc = obj.__dict__.get("__doc__") or ""
        if dataclasses.is_dataclass(obj) and doc.startswith(f"{obj.__name__}("):
            return ""  # the signature dataclasses writes when the class has no docstring
        return doc.strip()
    if inspect.isroutine(obj) or inspect.ismodule(obj):
        return (obj.__doc__ or "").strip()
    if isinstance(help_text, str) and callable(obj):
        return help_text.strip()
    return None


def undocumented(module: str) -> list[str]:
    mod = importlib.import_module(module)
    missing = []
    for name in getattr(mod, "__all__", ()):
        assert hasattr(mod, name), f"{module}.__all__ names {name!r}, which does not exist"
        doc = own_doc(getattr(mod, name))
        if doc is None:
            if not name.startswith("__") and not _assignment_documented(module, name):
                missing.append(f"{module}.{name} (a constant: no #: comment)")
        elif not doc:
            missing.append(f"{module}.{name}")
    return missing


def test_the_package_declares_its_api():
    assert painsim.__all__, "painsim must declare __all__"
    assert painsim.__all__ == sorted(painsim.__all__, key=lambda n: (not n.isupper(),
                                                                      n[0].islower(), n))


@pytest.mark.parametrize("module", MODULES)
def test_every_exported_name_has_its_own_docstring(module):
    assert not undocumented(module), "no docstring of their own: " + ", ".join(
        undocumented(module))


def test_inherited_and_generated_docstrings_do_not_count():
    class Base:
        """Documented."""

    class Child(Base):
        pass

    @dataclasses.dataclass
    class Plain:
        x: int

    @dataclasses.dataclass
    class Written:
        """Written by hand."""

        x: int

    assert (inspect.getdoc(Child), own_doc(Child)) == ("Documented.", "")
    assert Plain.__doc__ and own_doc(Plain) == ""
    assert own_doc(Written) == "Written by hand."
    # an instance answers with its class's docstring (a dict with dict's): data is
    # documented by its #: comment instead
    assert painsim.PHENOTYPES.__doc__ == dict.__doc__ and own_doc(painsim.PHENOTYPES) is None
    assert own_doc(painsim.PAIN_LOOP) is None
    assert _assignment_documented("painsim", "PAIN_LOOP")  # found via painsim.painloop
    assert not _assignment_documented("painsim.claims", "_WORDS")  # no #: comment there


def test_a_simulation_alone_does_not_import_pandas():
    # pandas (and pyarrow, which pandas 3 imports when installed) is about 65 MB of a
    # process and 0.3 s of its start: `import painsim` and `simulate` must not load it,
    # or every forked worker pays its share; the tables import it on first access
    # (`painsim run` reads its scenario, checks included, before the workers fork)
    import subprocess
    import sys

    code = (
        "import sys, numpy as np, painsim as ps\n"
        "arms = [ps.Arm(name='none'), ps.Arm(name='dn', protocol=ps.Protocol(\n"
        "    intervention=ps.dry_needling(), schedule=ps.Given.read(\n"
        "        {'patient': np.arange(4), 'day': np.full(4, 7.0)})))]\n"
        "cohort = ps.Cohort(n=4, seed=1, events={'patient': [0], 'day': [3.0],\n"
        "                   'kind': ['flare'], 'size': [1.0]})\n"
        "res = ps.simulate(arms, cohort, horizon_days=20, workers=2, chunk_size=2)\n"
        "assert 'pandas' not in sys.modules, 'simulate imported pandas'\n"
        "from painsim.scenario import load_scenario\n"
        f"load_scenario({str(PACKAGE.parent / 'scenarios' / 'chronic_needling.toml')!r})\n"
        "assert 'pandas' not in sys.modules, 'reading a scenario imported pandas'\n"
        "assert 'basins' in dir(ps) and ps.basin_map is ps.basins.basin_map\n"
        "print(list(res.summary.index), res.patients.shape[0], 'pandas' in sys.modules)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["['none',", "'dn']", "8", "True"]


def test_an_unknown_attribute_of_the_package_is_an_attribute_error():
    with pytest.raises(AttributeError, match="no attribute 'simulat'"):
        painsim.simulat
