"""Per-patient inputs, as PK/PD tools take them: event tables and per-patient columns.

A researcher's own cohort comes as tables. :class:`EventTable` holds events per patient
(``patient``, ``day``, ``kind``, ``size``) that happen in every arm (like the drawn
flares: common random numbers); :class:`painsim.Given` is a schedule whose visit days come
per patient from a table. Per-patient parameters and initial states are columns of a
table given to :class:`painsim.Cohort` (``table=`` and ``initial=``).

Tables are read from a CSV or Parquet file, a pandas DataFrame or a mapping of column
name to values. A bad entry is reported with its row and column.
"""

from __future__ import annotations

import math
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from .errors import ParameterError

__all__ = ["EventTable", "number_column", "read_table"]

#: Event kinds besides a state name: a strain or a stress episode on the targets of the
#: patient's phenotype (:class:`painsim.Flares`).
FLARE_KINDS = ("flare", "stress")


def read_table(source: Any, *, what: str = "table") -> dict[str, NDArray]:
    """Columns of a table as arrays: from a CSV or Parquet path, a DataFrame or a mapping.

    Parameters
    ----------
    source : str, Path, pandas.DataFrame or mapping of str to array_like
        The table. Parquet needs ``pyarrow`` (``pip install pyarrow``).
    what : str
        Its name in error messages.

    Returns
    -------
    dict of str to ndarray
        One array per column, all of one length.
    """
    if isinstance(source, str | Path):
        import pandas as pd

        path = Path(source)
        try:
            if path.suffix.lower() in (".parquet", ".pq"):
                frame = pd.read_parquet(path)
            else:
                frame = pd.read_csv(path)
        except ImportError as exc:
            raise ParameterError(what, str(path), "a CSV file, or Parquet with pyarrow "
                                 "installed", why=f"cannot be read: {exc}") from None
        except (OSError, ValueError, pd.errors.ParserError) as exc:
            raise ParameterError(what, str(path), "a readable CSV or Parquet file",
                                 why=f"cannot be read: {exc}") from None
        return {str(k): frame[k].to_numpy() for k in frame.columns}
    # a DataFrame exists only once pandas is imported: arrays and mappings never import it
    pd = sys.modules.get("pandas")
    if pd is not None and isinstance(source, pd.DataFrame):
        return {str(k): source[k].to_numpy() for k in source.columns}
    if isinstance(source, Mapping):
        cols = {str(k): np.asarray(v) for k, v in source.items()}
        lengths = {k: v.shape[0] if v.ndim == 1 else -1 for k, v in cols.items()}
        if any(n < 0 for n in lengths.values()) or len(set(lengths.values())) > 1:
            raise ParameterError(what, lengths, "1-D columns of one length")
        return cols
    raise ParameterError(what, source, "a CSV or Parquet path, a DataFrame or a mapping "
                         "of column name to values")


def _column(cols: dict[str, NDArray], name: str, what: str) -> NDArray:
    if name not in cols:
        raise ParameterError(f"{what}.{name}", None, f"a column named {name!r}; columns: "
                             + ", ".join(cols), why="is missing")
    return cols[name]


def number_column(cols: dict[str, NDArray], name: str, what: str, lo: float, hi: float,
                  *, integer: bool = False) -> NDArray:
    """Column ``name`` of a table (from :func:`read_table`) as checked numbers.

    Parameters
    ----------
    cols : dict of str to ndarray
        The table's columns.
    name : str
        The column wanted.
    what : str
        What the table is, for messages (``"events"``, ``"sessions"``).
    lo, hi : float
        Allowed range, inclusive, in the column's unit (e.g. days).
    integer : bool
        Whole numbers only (returned as int64).

    Returns
    -------
    ndarray, shape (n_rows,)
        float64, or int64 with ``integer=True``.

    Raises
    ------
    ParameterError
        The column is missing, or a row is not a finite number in range; the message
        names the row and column.
    """
    raw = _column(cols, name, what)
    out = np.empty(raw.shape[0], dtype=np.int64 if integer else float)
    allowed = f"{'an integer' if integer else 'a number'} in [{lo:g}, {hi:g}]"
    values = raw.tolist()
    for row, v in enumerate(values):
        ok = isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) \
            and lo <= v <= hi and (not integer or float(v).is_integer())
        if not ok:
            numeric = isinstance(v, int | float) and not isinstance(v, bool)
            if not numeric:
                # one text cell makes a CSV reader keep the whole column as text: name
                # the first cell that is not the text of a number, not the first cell
                row = next((r for r in range(row, len(values))
                            if not _number_text(values[r])), row)
                v = values[row]
            why = ("is not a number" if not numeric else "is empty or not finite"
                   if not math.isfinite(v) else "is out of range")
            raise ParameterError(f"{what} row {row}, column {name!r}", v, allowed, why=why)
        out[row] = v
    return out


def _number_text(v: Any) -> bool:
    """True when ``v`` is a string that reads as a number (``"3"``, ``" 4.5"``)."""
    if not isinstance(v, str):
        return False
    try:
        float(v)
    except ValueError:
        return False
    return True


@dataclass(frozen=True, eq=False)
class EventTable:
    """Events per patient, applied in every arm at their exact times.

    Parameters
    ----------
    patient : ndarray of int, shape (n_events,)
        Patient index (0-based, as in results).
    day : ndarray of float
        Time of the event, days from day 0 (the end of the run-in).
    kind : ndarray of str
        ``"flare"`` (a strain: the size is added to the phenotype's
        ``Flares.strain_target``), ``"stress"`` (to ``Flares.stress_target``), or the
        name of a model state (a custom change of that state by ``size``).
    size : ndarray of float
        The change, in the target state's unit.

    Examples
    --------
    >>> t = EventTable.read({"patient": [0, 0, 1], "day": [10.0, 40.0, 5.0],
    ...                      "kind": ["flare", "A", "flare"], "size": [0.5, 0.3, 1.0]})
    >>> len(t), sorted(set(t.kind.tolist()))
    (3, ['A', 'flare'])
    """

    patient: NDArray[np.int64]
    day: NDArray[np.float64]
    kind: NDArray[np.str_]
    size: NDArray[np.float64]

    @classmethod
    def read(cls, source: Any) -> EventTable:
        """From a CSV/Parquet path, a DataFrame or a mapping with columns ``patient``,
        ``day``, ``kind`` and ``size``; a bad entry names its row and column."""
        # a bad cell names the file it is in
        what = f"events ({source})" if isinstance(source, str | os.PathLike) else "events"
        cols = read_table(source, what=what)
        extra = sorted(set(cols) - {"patient", "day", "kind", "size"})
        if extra:
            raise ParameterError(f"{what} columns", extra, "patient, day, kind, size",
                                 why="are not event-table columns")
        patient = number_column(cols, "patient", what, 0, 2**62, integer=True)
        day = number_column(cols, "day", what, 0.0, 36525.0)
        size = number_column(cols, "size", what, -1e6, 1e6)
        kinds = _column(cols, "kind", what)
        for row, k in enumerate(kinds.tolist()):
            if not (isinstance(k, str) and k.strip()):
                raise ParameterError(f"{what} row {row}, column 'kind'", k,
                                     "flare, stress or a state name")
        return cls(patient=patient, day=day, kind=np.array([str(k) for k in kinds.tolist()]),
                   size=size)

    def __len__(self) -> int:
        return int(self.patient.size)

    def check(self, n: int, state_names: tuple[str, ...]) -> None:
        """Refuse a patient outside ``0..n-1`` or a kind that is neither a flare kind nor a
        state of the model, naming the row."""
        for row in np.flatnonzero(self.patient >= n).tolist()[:1]:
            raise ParameterError(f"events row {row}, column 'patient'",
                                 int(self.patient[row]), f"0 to {n - 1} (the cohort's size)")
        allowed = set(FLARE_KINDS) | set(state_names)
        for row, k in enumerate(self.kind.tolist()):
            if k not in allowed:
                raise ParameterError(f"events row {row}, column 'kind'", k,
                                     ", ".join((*FLARE_KINDS, *state_names)))

    def by_patient(self, first: int, stop: int) -> dict[int, list[tuple[float, str, float]]]:
        """Events of patients ``first..stop-1``: local index → (day, kind, size), in
        table order."""
        out: dict[int, list[tuple[float, str, float]]] = {}
        sel = np.flatnonzero((self.patient >= first) & (self.patient < stop))
        # whole columns to Python objects at once (element access is the slow part)
        rows = zip((self.patient[sel] - first).tolist(), self.day[sel].tolist(),
                   self.kind[sel].tolist(), self.size[sel].tolist(), strict=True)
        for i, day, kind, size in rows:
            out.setdefault(i, []).append((float(day), str(kind), float(size)))
        return out
