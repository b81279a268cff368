"""The public API: every exported name exists and is documented."""

import painsim


def test_all_names_exist_and_have_docstrings():
    assert painsim.__all__, "painsim must declare __all__"
    for name in painsim.__all__:
        obj = getattr(painsim, name)
        if isinstance(obj, str):
            continue
        assert (getattr(obj, "__doc__", None) or "").strip(), f"{name} has no docstring"
