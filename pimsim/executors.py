"""Where parallel work runs: a local process pool (the default) or a Dask distributed cluster.

:func:`open_executor` yields a :class:`concurrent.futures.Executor` for either, so a caller
(sweeps, simulations over sub-nets and shards, fault trials) submits the same module-level
functions and gets the same results whichever runs them.

- ``process``: ``jobs`` worker processes on this machine that die with it: SIGTERM stops them,
  and on Linux the kernel sends them SIGTERM when this process dies otherwise (SIGKILL
  included, ``prctl(PR_SET_PDEATHSIG)``).
- ``dask``: a ``distributed.LocalCluster`` of ``jobs`` single-threaded worker processes, or
  the existing cluster whose scheduler is at ``scheduler`` (``tcp://host:8786``; one started by
  ``dask scheduler``/``dask worker`` or by dask-jobqueue on SLURM/PBS). Its workers need pimsim
  installed and the files named by the run (device and mapping YAML, checkpoint, data) at the
  same paths. A worker lost mid-run has its tasks rerun elsewhere by the scheduler. Dask is
  imported only here, only for this kind (``pip install 'pimsim[cluster]'``).
"""

from __future__ import annotations

import ctypes
import logging
import multiprocessing
import os
import signal
import sys
import threading
from collections.abc import Iterator
from concurrent.futures import Executor, ProcessPoolExecutor
from contextlib import ExitStack, contextmanager
from typing import Any

from pimsim.errors import PimsimError

EXECUTORS = ("process", "dask")
PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def check_executor(kind: str, jobs: int, scheduler: str | None) -> None:
    """One-line errors for ``--executor``, ``--jobs`` and ``--scheduler`` before any work."""
    if kind not in EXECUTORS:
        raise PimsimError(f"--executor: unknown executor {kind!r}; choose one of "
                          f"{', '.join(EXECUTORS)}")
    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
        raise PimsimError(f"--jobs: must be an integer >= 1, got {jobs!r}")
    if scheduler is not None and kind != "dask":
        raise PimsimError("--scheduler: only with --executor dask")


@contextmanager
def open_executor(kind: str = "process", jobs: int = 1, scheduler: str | None = None,
                  start_method: str | None = None) -> Iterator[Executor]:
    """An executor of ``kind`` (:data:`EXECUTORS`) for the block. SIGTERM here (in the main
    thread) becomes ``SystemExit(143)``, so the block unwinds and its workers stop.
    ``start_method``: the process pool's (``multiprocessing``; default the platform's):
    ``spawn`` for work that runs OpenMP-threaded numba kernels, which abort in a child forked
    from a process that already used OpenMP (torch, numba)."""
    check_executor(kind, jobs, scheduler)
    with ExitStack() as stack:
        stack.enter_context(_sigterm_exits())
        if kind == "process":
            yield stack.enter_context(process_pool(jobs, start_method))
        else:
            yield stack.enter_context(_dask_executor(jobs, scheduler))


@contextmanager
def process_pool(jobs: int, start_method: str | None = None) -> Iterator[ProcessPoolExecutor]:
    """A process pool whose workers die with this process; on any exception the workers
    started here are terminated (their work in progress is lost) before it propagates."""
    before = set(multiprocessing.active_children())
    pool = ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context(start_method),
                               initializer=_die_with_parent, initargs=(os.getpid(),))
    try:
        yield pool
    except BaseException:
        for worker in set(multiprocessing.active_children()) - before:
            worker.terminate()
        pool.shutdown()  # quick: the pool's thread fails the pending work and ends
        raise
    else:
        pool.shutdown()


@contextmanager
def _dask_executor(jobs: int, scheduler: str | None) -> Iterator[Executor]:
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        raise PimsimError("--executor: dask needs Dask distributed: pip install "
                          "'pimsim[cluster]'") from None
    with ExitStack() as stack:
        if scheduler is None:
            cluster = stack.enter_context(LocalCluster(
                n_workers=jobs, threads_per_worker=1, processes=True, dashboard_address=None,
                silence_logs=logging.ERROR))
            address: Any = cluster
        else:
            address = scheduler
        try:
            client = stack.enter_context(Client(address, timeout="30s"))
        except OSError as exc:
            raise PimsimError(f"--scheduler: {scheduler}: cannot connect ({exc})") from None
        yield client.get_executor()


@contextmanager
def _sigterm_exits() -> Iterator[None]:
    main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.getsignal(signal.SIGTERM)
    if main_thread:
        signal.signal(signal.SIGTERM, _exit_on_sigterm)
    try:
        yield
    finally:
        if main_thread:
            signal.signal(signal.SIGTERM, previous)


def _die_with_parent(parent: int) -> None:
    """Pool worker start: SIGTERM's default action (not the parent's handler), SIGINT ignored
    (Ctrl-C reaches the whole process group: the parent stops the workers), and on Linux
    ``prctl(PR_SET_PDEATHSIG, SIGTERM)``, so the kernel ends the worker when the parent dies;
    a worker whose parent already died exits at once."""
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
        if os.getppid() != parent:
            os._exit(1)


def _exit_on_sigterm(signum: int, _frame: Any) -> None:
    """SIGTERM handler: unwind (stopping the workers), exit status 128 + 15."""
    raise SystemExit(128 + signum)


def add_executor_args(parser: Any) -> None:
    """``--jobs``, ``--executor`` and ``--scheduler`` of an ``argparse`` parser."""
    from pimsim.cliargs import positive_int

    parser.add_argument("--jobs", type=positive_int, default=1,
                        help="worker processes; with --executor dask and no "
                        "--scheduler, the local cluster's workers")
    parser.add_argument("--executor", choices=EXECUTORS, default="process",
                        help="process: a pool on this machine; dask: a Dask "
                        "distributed cluster (pip install 'pimsim[cluster]')")
    parser.add_argument("--scheduler", metavar="ADDRESS",
                        help="with --executor dask: an existing cluster's scheduler "
                        "(tcp://host:8786) instead of a local cluster")
