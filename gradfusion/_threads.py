"""The Numba threading layer, chosen so that process pools never hang (the package's policy:
:func:`gradfusion.solve` refuses to run in a child forked after GNU OpenMP ran, the batch
code never forks).

Numba runs ``parallel=True`` kernels on one of three thread pools (measured here,
numba 0.68 on Linux; ``docs/batch.md``):

========== ============ ============ ================ ====================================
layer      thread-safe  fork-safe    reproducible     note
========== ============ ============ ================ ====================================
omp        yes          no (GNU)     yes              Numba's choice on Linux without TBB
workqueue  no           yes          yes, = omp       gradfusion's choice on Linux
tbb        yes          yes          no               needs the ``tbb`` package
========== ============ ============ ================ ====================================

* GNU OpenMP: a process forked after a parallel kernel ran kills itself at its
  first parallel kernel ("Terminating: fork() called from a process already
  using GNU OpenMP, this is unsafe.") and a ``multiprocessing.Pool`` then waits
  for it for ever.
* workqueue: the same static split of the work as OpenMP, so a solve gives the
  same bits under both; two threads running parallel kernels at once abort the
  process, so gradfusion's own batch code runs one solve at a time per process
  under it (:func:`serialized`). Its threads wake slowly on a loaded machine:
  a 256x256 solve took 3.0 s instead of 0.32 s (medians of 12 solves, 2 cores
  at load 6-8; ``bench/bench_batch.py``).
* TBB schedules chunks dynamically: Numba's parallel sums then change in their
  last bits from one run to the next (measured: 3 distinct outputs in 6 solves
  of one 48x48 pair), which would break bitwise-reproducible batches.

gradfusion keeps Numba's default (OpenMP) for speed and never forks itself:
its worker processes start with ``forkserver`` (see ``_local.start_method``),
Dask's ``LocalCluster`` with ``spawn``. A user who forks after solving selects
``workqueue`` with ``NUMBA_THREADING_LAYER=workqueue`` (or :func:`choose_layer`
before the first solve). :func:`forked_after_openmp` tells a forked child that
it cannot solve, so that it can fail with a message instead of being killed.
"""

import contextlib
import os
import sys
import threading

#: serialises solves in one process when the layer is not thread-safe
_SOLVE_LOCK = threading.Lock()


def _launched():
    from numba.np.ufunc import parallel

    return bool(getattr(parallel, "_is_initialized", False))


def choose_layer():
    """Make Numba use ``workqueue`` on Linux unless the user chose; return the layer's name.

    Call it before the first solve of a process that will fork and solve in
    the children (a ``multiprocessing`` pool with the ``fork`` start method).

    Returns ``"workqueue"``, the user's choice, ``"default"`` (not Linux), or
    ``"launched:<layer>"`` when Numba's threads had already started.
    """
    import numba

    if _launched():
        return f"launched:{numba.threading_layer()}"
    if os.environ.get("NUMBA_THREADING_LAYER") or numba.config.THREADING_LAYER != "default":
        return numba.config.THREADING_LAYER
    if sys.platform.startswith("linux"):
        numba.config.THREADING_LAYER = "workqueue"
        return "workqueue"
    return "default"


_PARENT_USED_GNU_OPENMP = False


def _after_fork_in_child():
    global _PARENT_USED_GNU_OPENMP
    try:
        _PARENT_USED_GNU_OPENMP = (sys.platform.startswith("linux") and _launched()
                                   and threading_layer() == "omp")
    except Exception:            # never let a fork fail on account of this check
        _PARENT_USED_GNU_OPENMP = False


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def forked_after_openmp():
    """True in a process forked from one whose Numba kernels ran on GNU OpenMP.

    Such a process is killed by Numba at its first parallel kernel
    ("Terminating: fork() called from a process already using GNU OpenMP").
    """
    return _PARENT_USED_GNU_OPENMP


#: what to do about it, for messages
FORK_ADVICE = ("start the pool with multiprocessing.get_context('forkserver') or 'spawn', or set "
               "NUMBA_THREADING_LAYER=workqueue before the first solve (see docs/batch.md)")


def check_not_forked_after_openmp(what="gradfusion.solve"):
    """Raise RuntimeError (instead of being killed) in a child forked after GNU OpenMP ran."""
    if _PARENT_USED_GNU_OPENMP:
        raise RuntimeError(f"{what} cannot run in a process forked from one that already solved "
                           f"with Numba's GNU OpenMP threads: {FORK_ADVICE}")


def threading_layer():
    """The layer Numba uses, or will use (its configured name before its threads start)."""
    import numba

    return numba.threading_layer() if _launched() else numba.config.THREADING_LAYER


def fork_safe():
    """Whether this process may fork and the child still solve."""
    if not sys.platform.startswith("linux") or not _launched():
        return True
    return threading_layer() != "omp"


def thread_safe():
    """Whether two threads of this process may run parallel kernels at once."""
    return threading_layer() != "workqueue"


def serialized():
    """A context that holds a process-wide lock when the layer is not thread-safe."""
    return contextlib.nullcontext() if thread_safe() else _SOLVE_LOCK


def usable_cores():
    """CPU cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def threads_per_solve(concurrent, cores=None):
    """Numba threads each of ``concurrent`` simultaneous solves gets on ``cores`` cores."""
    cores = usable_cores() if cores is None else cores
    return max(1, cores // max(1, concurrent))
