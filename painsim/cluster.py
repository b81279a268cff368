"""Scale-out on Dask: a client for a local cluster or an existing scheduler.

:func:`painsim.simulate` takes ``executor=client`` and runs its chunks of patients as
Dask tasks (bit-identical to a serial run, gathered chunk by chunk, a lost worker's chunk
re-run by Dask). This module only opens and closes the client; Dask does the rest.

Needs the ``dask`` extra: ``pip install "painsim[dask]"``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from .errors import ParameterError

__all__ = ["dask_client"]

_HOW = 'pip install "painsim[dask]"'


@contextmanager
def dask_client(scheduler: str = "local", *, workers: int = 2,
                timeout_s: float = 20.0) -> Iterator[Any]:
    """A ``distributed.Client`` for ``simulate(executor=...)``, closed on exit.

    Parameters
    ----------
    scheduler : str
        ``"local"``: start a ``distributed.LocalCluster`` of ``workers`` processes with
        one thread each, on the loopback interface only, and stop it on exit. Otherwise
        the address of a running scheduler, e.g. ``"tcp://scheduler.example:8786"``; its
        workers need painsim (and the same version) installed.
    workers : int
        Worker processes of a local cluster, 1 to the number of cores.
    timeout_s : float
        Seconds to wait for the scheduler before giving up (seconds).

    Yields
    ------
    distributed.Client

    Raises
    ------
    ParameterError
        Without the ``distributed`` package, for a bad ``workers``, or when the
        scheduler cannot be reached in time.
    """
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        raise ParameterError("scheduler", scheduler, "available with Dask installed",
                             why=f"needs the distributed package: {_HOW}") from None
    if not isinstance(scheduler, str) or not scheduler.strip():
        raise ParameterError("scheduler", scheduler, "'local' or a scheduler address")
    cores = os.cpu_count() or 1
    if isinstance(workers, bool) or not isinstance(workers, int) or not 1 <= workers <= cores:
        raise ParameterError("workers", workers, f"an integer in [1, {cores}] (the cores)")
    if scheduler == "local":
        cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                               host="127.0.0.1", dashboard_address="127.0.0.1:0")
        try:
            with Client(cluster) as client:
                yield client
        finally:
            cluster.close()
        return
    try:
        client = Client(scheduler, timeout=timeout_s)
    except (OSError, TimeoutError, ValueError) as exc:
        raise ParameterError("scheduler", scheduler, "the address of a running Dask "
                             "scheduler, e.g. tcp://host:8786, or 'local'",
                             why=f"could not connect: {exc}") from None
    try:
        yield client
    finally:
        client.close()
