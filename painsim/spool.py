"""Daily pain kept in files on disk instead of in memory.

A study's daily pain is its largest array: ``8 * patients * days`` bytes per arm
(100,000 patients over 184 days: 147 MB an arm). :func:`painsim.simulate` with
``spool=FOLDER`` writes each arm's into a file there (:func:`pain_file`) as chunks
finish, and the result's ``pain`` holds memory maps of those files. The operating
system pages them in as they are read; :func:`drop_pages` lets a reader that walks
through the array in blocks (the trajectories table, the pain-over-time plot) give each
block's pages back once it is done with it, so a process never holds more than a block.
The data stays in the file: a dropped page is read again from the page cache or the disk.
The same folder keeps the other large columns of a result as the chunks arrive: the
drawn parameters and phenotypes in one file each (:func:`array_file`, every chunk's
written into its own columns) and the event log's pieces (:func:`to_file`).

:func:`code_dtype` picks the smallest integer type for a column of codes into a table
of names (the event log's kinds): the log of a large cohort holds millions of them.
"""

from __future__ import annotations

import ctypes
import errno
import itertools
import mmap
import os
import sys
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from .errors import PainsimError

__all__ = ["array_file", "code_dtype", "drop_pages", "pain_file", "release_freed_memory",
           "to_file"]


def pain_file(path: str | Path, shape: tuple[int, int]) -> np.memmap:
    """Create the ``.npy`` file ``path`` for a ``(patients, days)`` float64 array of daily
    pain and return a writable memory map of it (zeros until written).

    The file is an ordinary NumPy array file (``np.load(path, mmap_mode="r")`` reads it).
    Its disk space is reserved at once (``posix_fallocate`` where the platform has it),
    so a full disk fails here, with a clear error, rather than with a bus error when a
    worker writes into the map.

    Parameters
    ----------
    path : str or Path
        The file to create (an existing one is replaced).
    shape : (int, int)
        Patients and days.

    Returns
    -------
    numpy.memmap
        The array, C order, ``shape``, float64.

    Raises
    ------
    PainsimError
        The file cannot be created or its space reserved (its path and why).
    """
    return array_file(path, shape, np.float64, what="daily pain")


def array_file(path: str | Path, shape: tuple[int, ...], dtype: Any, *,
               what: str = "an array") -> np.memmap:
    """Create the ``.npy`` file ``path`` for an array of ``shape`` and ``dtype`` and
    return a writable memory map of it (zeros until written), its disk space reserved
    at once as for :func:`pain_file` (which is this for daily pain).

    Parameters
    ----------
    path : str or Path
        The file to create (an existing one is replaced).
    shape : tuple of int
        The array's shape.
    dtype : numpy dtype
        Its element type (a fixed-size one: numbers, or ``<U``/``S`` strings).
    what : str
        What it holds, for the error message.

    Raises
    ------
    PainsimError
        The file cannot be created or its space reserved (its path and why).
    """
    path = Path(path)
    dtype = np.dtype(dtype)
    header = {"descr": np.lib.format.dtype_to_descr(dtype),
              "fortran_order": False, "shape": tuple(int(s) for s in shape)}
    nbytes = dtype.itemsize * int(np.prod(shape))
    try:
        with open(path, "wb") as fh:
            np.lib.format.write_array_header_1_0(fh, header)
            offset = fh.tell()
            fh.truncate(offset + max(nbytes, 1))
            if nbytes and hasattr(os, "posix_fallocate"):
                os.posix_fallocate(fh.fileno(), offset, nbytes)
    except OSError as exc:
        path.unlink(missing_ok=True)
        why = ("no space left on the disk" if exc.errno == errno.ENOSPC
               else exc.strerror or str(exc))
        raise PainsimError(f"{path}: cannot keep {what} there "
                           f"({nbytes / 2**20:.0f} MiB): {why}") from None
    if not nbytes:  # np.memmap cannot map zero bytes
        return np.zeros(shape, dtype=dtype)  # type: ignore[return-value]
    return np.memmap(path, dtype=dtype, mode="r+", offset=offset, shape=tuple(shape))


_FILES = itertools.count()  # numbers the files that to_file writes in this process


def to_file(a: NDArray, folder: Path | None) -> NDArray:
    """``a`` moved into a new ``.npy`` file of ``folder`` (``part_N.npy``), returned as a
    read-only memory map of it; ``a`` itself without a folder, or when it is empty.
    A large result's columns are kept this way as they arrive, not in memory."""
    if folder is None or not a.size:
        return a
    path = Path(folder) / f"part_{next(_FILES)}.npy"
    np.save(path, a, allow_pickle=False)
    return np.load(path, mmap_mode="r")


_PAGE = mmap.PAGESIZE
_MADVISE = None
if sys.platform.startswith("linux") and hasattr(mmap, "MADV_DONTNEED"):
    try:
        _MADVISE = ctypes.CDLL(None, use_errno=True).madvise
        _MADVISE.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
        _MADVISE.restype = ctypes.c_int
    except (AttributeError, OSError):  # pragma: no cover - no C library to call
        _MADVISE = None


def drop_pages(*arrays: NDArray) -> None:
    """Give back the memory pages that each file-backed array of ``arrays`` spans
    (Linux).

    For a shared map of a file (:func:`pain_file`'s arrays and views of them), dropping
    a page loses nothing: written values are in the file's pages, and a later read maps
    them again. Any other array (in memory, anonymous shared memory, a copy-on-write
    map, whose own changes dropping would lose) is left alone, as is every array on a
    platform without ``madvise``.

    Parameters
    ----------
    *arrays : ndarray
        Arrays or views of them; only a :class:`numpy.memmap` of a file is affected.
    """
    for a in arrays:
        if (_MADVISE is not None and isinstance(a, np.memmap) and a.filename is not None
                and a.mode != "c" and a.size):
            _drop(a)


def _drop(a: np.memmap) -> None:
    # the bytes between the first and the last element, widened to whole pages (they lie
    # inside the map: numpy maps whole pages around the array)
    first = a.__array_interface__["data"][0]
    lo = first + sum(s * (n - 1) for s, n in zip(a.strides, a.shape, strict=True) if s < 0)
    hi = first + sum(s * (n - 1) for s, n in zip(a.strides, a.shape, strict=True) if s > 0)
    hi += a.itemsize
    start = lo - lo % _PAGE
    end = -(-hi // _PAGE) * _PAGE
    _MADVISE(start, end - start, mmap.MADV_DONTNEED)


def release_freed_memory() -> None:
    """Give the heap's free pages back to the operating system (glibc's ``malloc_trim``;
    nothing elsewhere).

    Tables and logs built from many chunk-sized arrays leave the C heap full of free
    holes between the arrays still in use; glibc keeps those pages (they count in the
    process's resident memory, and add up to the peak) until asked. Called between the
    large steps of assembling and writing a result.
    """
    try:
        trim = ctypes.CDLL(None).malloc_trim
    except (AttributeError, OSError, TypeError):  # not glibc
        return
    trim(0)


def code_dtype(n: int) -> type[np.signedinteger]:
    """The smallest signed integer type that holds the codes ``0..n-1`` (and -1)."""
    return np.int8 if n <= 127 else np.int16 if n <= 32_767 else np.int32
