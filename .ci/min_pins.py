"""Print pip constraints pinning every dependency to the oldest release pyproject allows.

Reads ``[project] dependencies`` and the ``test`` extra; each ``name>=X`` becomes
``name==X``. A requirement without a lower bound is an error: it could not be checked.
"""

import re
import sys
import tomllib
from pathlib import Path

project = tomllib.loads(Path(__file__).resolve().parent.parent.joinpath(
    "pyproject.toml").read_text())["project"]
bad = []
for req in project["dependencies"] + project["optional-dependencies"]["test"]:
    m = re.fullmatch(r"\s*([A-Za-z0-9_.\-]+)\s*>=\s*([0-9][0-9A-Za-z.]*)\s*", req)
    if m:
        print(f"{m.group(1)}=={m.group(2)}")
    else:
        bad.append(req)
if bad:
    sys.exit(f"no plain lower bound to pin in: {', '.join(bad)}")
