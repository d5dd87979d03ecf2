"""The Numba threading layer, chosen so that process pools never hang.

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
  under it (:func:`serialized`).
* TBB schedules chunks dynamically: Numba's parallel sums then change in their
  last bits from one run to the next (measured: 3 distinct outputs in 6 solves
  of one 48x48 pair), which would break bitwise-reproducible batches.

:func:`choose_layer` makes it ``workqueue`` on Linux unless the user chose a
layer (``NUMBA_THREADING_LAYER`` or ``numba.config.THREADING_LAYER``); nothing
changes once Numba has started its threads.
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


def threading_layer():
    """The layer Numba uses, or will use (its configured name before its threads start)."""
    import numba

    return numba.threading_layer() if _launched() else numba.config.THREADING_LAYER


def fork_safe():
    """Whether this process may fork and the child still solve."""
    layer = threading_layer()
    if not sys.platform.startswith("linux"):
        return True
    return layer in ("workqueue", "tbb") or (layer in ("omp", "default") and not _launched())


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
