"""The Numba settings of every gradfusion kernel, in one place.

Every kernel file takes its decorators from here instead of calling ``numba.njit``
with flags of its own:

==================== =====================================================================
decorator            use
==================== =====================================================================
:data:`serial`       a kernel or helper that runs on the calling thread
:data:`parallel`     a ``prange`` pass over rows or channels (Numba's thread pool)
:data:`serial_fast`  serial, with sums that may be reassociated (so that LLVM vectorises them:
                     float rounding only, never another answer beyond it)
:data:`parallel_fast` the same for a parallel pass
:data:`inline`       a small helper inlined into its callers (compiled with their flags)
:class:`BySize`      one kernel compiled as a serial and a parallel twin, called by the size
                     of an argument (:data:`SERIAL_CELLS`): the one serial/parallel size rule
==================== =====================================================================

``numpy_errors=True`` (Poisson and baseline kernels) selects NumPy's error model: a
division by zero gives ``inf``/``nan`` instead of raising.

Compilation. Every kernel is compiled lazily, on its first call, for the types of that
call only (the callers pass C-contiguous float32 or float64 arrays of one dtype, so a
float32 solve compiles float32 variants), and cached on disk (``cache=True``): in the
package's ``__pycache__`` when that folder is writable, else -- Numba's own fallback, e.g.
in a read-only site-packages -- in the user's cache folder (``~/.cache/numba``, or
``NUMBA_CACHE_DIR`` when set). A later process loads the machine code instead of
compiling it again.

The first compilation in a process prints one line on stderr (:data:`NOTICE`), so that a
first run does not look hung; cache hits print nothing. ``GRADFUSION_COMPILE_NOTICE=0``
silences it.
"""

import os
import sys
import threading
import types

import numba as nb
from numba.core import event as _event

#: fastmath flags of the ``*_fast`` decorators: reassociation (vectorised sums), no signed
#: zeros, fused multiply-add; never "finite-math" or "no-NaN" (the results stay IEEE)
FAST = frozenset({"reassoc", "nsz", "contract"})

#: below this many cells a :class:`BySize` kernel runs on the calling thread: waking the
#: thread pool costs ~0.1 ms (passive waiting, docs/solver.md), more than a small array's work
SERIAL_CELLS = 1 << 16

#: every dispatcher made here, in the order of definition (tests and the first-run
#: benchmark read their compiled signatures)
KERNELS = []


def _options(parallel=False, fast=False, inline=False, numpy_errors=False):
    opts = dict(cache=True, nogil=True)
    if parallel:
        opts["parallel"] = True
    opts["fastmath"] = set(FAST) if fast else False
    if inline:
        opts["inline"] = "always"
    if numpy_errors:
        opts["error_model"] = "numpy"
    return opts


def jit(func=None, *, parallel=False, fast=False, inline=False, numpy_errors=False):
    """``numba.njit`` with the package's flags (cached, ``nogil``); usable as
    ``@jit`` or ``@jit(parallel=True, ...)``."""
    opts = _options(parallel, fast, inline, numpy_errors)

    def wrap(f):
        dispatcher = nb.njit(**opts)(f)
        KERNELS.append(dispatcher)
        return dispatcher

    return wrap if func is None else wrap(func)


def serial(func):
    """A serial kernel or helper."""
    return jit(func)


def parallel(func):
    """A parallel (``prange``) kernel."""
    return jit(func, parallel=True)


def serial_fast(func):
    """A serial kernel whose sums may be reassociated (:data:`FAST`)."""
    return jit(func, fast=True)


def parallel_fast(func):
    """A parallel kernel whose sums may be reassociated (:data:`FAST`)."""
    return jit(func, parallel=True, fast=True)


def inline(func):
    """A helper inlined into its callers at Numba's IR level."""
    return jit(func, inline=True)


def uses_serial(array):
    """Whether a pass over ``array`` runs on the calling thread (:data:`SERIAL_CELLS`)."""
    return array.size < SERIAL_CELLS


class BySize:
    """A kernel compiled as two twins, :attr:`serial` and :attr:`parallel`, and called by the
    size of one of its array arguments (``size_arg``, the first by default): the serial twin
    below :data:`SERIAL_CELLS` cells. Each twin compiles on its first use only, so a program
    on small images never compiles the parallel one (nor the reverse).

    Both twins run the same loop body: a row loop's results do not depend on the twin
    (per-row partial sums are combined in row order by the callers).

    The serial twin compiles a renamed copy of ``func`` (``<name>_serial``): Numba's disk
    cache names its entries by the function's qualified name and keys them by signature and
    bytecode, not by the ``parallel`` flag, so two twins of one function would share their
    entries and a process could load the parallel code for the serial twin (or the reverse):
    results then depended in their last bits on which twin a cold cache compiled first."""

    def __init__(self, func, *, fast=False, numpy_errors=False, size_arg=0, doc=None):
        self.parallel = jit(func, parallel=True, fast=fast, numpy_errors=numpy_errors)
        self.serial = jit(_renamed(func, "_serial"), fast=fast, numpy_errors=numpy_errors)
        self.size_arg = size_arg
        self.__name__ = func.__name__.lstrip("_")
        self.__doc__ = doc if doc is not None else func.__doc__
        self.py_func = func

    def __call__(self, *args):
        kernel = self.serial if uses_serial(args[self.size_arg]) else self.parallel
        return kernel(*args)


def _renamed(func, suffix):
    """A copy of ``func`` (same code, globals, defaults and closure) whose name and qualified
    name end in ``suffix``: its own entries in Numba's disk cache."""
    twin = types.FunctionType(func.__code__, func.__globals__, func.__name__ + suffix,
                              func.__defaults__, func.__closure__)
    twin.__qualname__ = func.__qualname__ + suffix
    twin.__module__ = func.__module__
    twin.__doc__ = func.__doc__
    twin.__kwdefaults__ = func.__kwdefaults__
    return twin


# --------------------------------------------------------------------------- first-run notice

#: what a process prints on stderr before its first compilation (cache misses only); the
#: estimate: the compilation of a first solve of one dtype, or of the demo, on a 2-core
#: machine (35-48 s of CPU time, bench/bench_first_run.py)
NOTICE = "gradfusion: compiling kernels (first run only, about 40 s)"

_notice_lock = threading.Lock()
_notice_shown = False


def _notice_enabled():
    return os.environ.get("GRADFUSION_COMPILE_NOTICE", "1").strip().lower() not in (
        "0", "false", "no", "off")


def _is_ours(dispatcher):
    module = getattr(getattr(dispatcher, "py_func", None), "__module__", "") or ""
    return module == "gradfusion" or module.startswith("gradfusion.")


class _CompileNotice(_event.Listener):
    """Prints :data:`NOTICE` once, at the start of the first compilation of a gradfusion
    kernel (Numba broadcasts ``numba:compile`` only when a signature is neither in memory
    nor in the disk cache)."""

    def on_start(self, event):
        global _notice_shown
        if _notice_shown:
            return
        data = event.data or {}
        if not _is_ours(data.get("dispatcher")):
            return
        with _notice_lock:
            if _notice_shown:
                return
            _notice_shown = True
        if _notice_enabled():
            try:
                print(NOTICE, file=sys.stderr, flush=True)
            except (OSError, ValueError):      # a closed or broken stderr: never fail a solve
                pass

    def on_end(self, event):
        pass


_event.register("numba:compile", _CompileNotice())


def compiled_signatures():
    """``{"module.qualname": [signature, ...]}`` of every kernel made here that has
    compiled (or loaded from the cache) at least one signature in this process (parallel
    kernels' names end in `` (parallel)``)."""
    out = {}
    for d in KERNELS:
        if d.signatures:
            twin = " (parallel)" if d.targetoptions.get("parallel") else ""
            out[f"{d.py_func.__module__}.{d.py_func.__qualname__}{twin}"] = [
                tuple(str(t) for t in sig) for sig in d.signatures]
    return out
