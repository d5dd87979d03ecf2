"""The Numba settings of every gradfusion kernel, in one place.

Every kernel file takes its decorators from here instead of calling ``numba.njit``
with flags of its own:

==================== =====================================================================
decorator            use
==================== =====================================================================
:data:`serial`       a kernel or helper that runs on the calling thread
:data:`parallel`     a ``prange`` pass over rows or channels: a :class:`BySize` pair of a
                     serial and a parallel (Numba thread pool) twin
:data:`serial_fast`  serial, with sums that may be reassociated (so that LLVM vectorises them:
                     float rounding only, never another answer beyond it)
:data:`parallel_fast` the same for a parallel pass
:data:`inline`       a small helper inlined into its callers (compiled with their flags)
:class:`BySize`      one kernel compiled as a serial and a parallel twin, called by the size
                     of its arrays (:data:`SERIAL_CELLS`): the one serial/parallel size rule
==================== =====================================================================

A parallel pass accumulates its float sums per row (or per channel) and adds them in order
(``gradfusion._stencils.row_sum``), never in a ``prange`` reduction: the twins, and any
thread count, give the same bits, so which twin runs is a matter of speed only.

``numpy_errors=True`` (Poisson and baseline kernels) selects NumPy's error model: a
division by zero gives ``inf``/``nan`` instead of raising.

Compilation. Every kernel is compiled lazily, on its first call, for the types of that
call only (the callers pass C-contiguous float32 or float64 arrays of one dtype, so a
float32 solve compiles float32 variants), and cached on disk (``cache=True``): in the
package's ``__pycache__`` when that folder is writable, else -- Numba's own fallback, e.g.
in a read-only site-packages -- in the user's cache folder (``~/.cache/numba``, or
``NUMBA_CACHE_DIR`` when set). A later process loads the machine code instead of
compiling it again.

Parallel twins are compiled when they pay (:data:`PARALLEL_COMPILE` ``"tiered"``, the
default). A parallel (``parallel=True``) kernel costs about three times as much to compile
as its serial twin (Numba outlines and compiles the ``prange`` body separately, ~1 s more
per kernel): on a cold cache the parallel twins were three quarters of a first run's
compilation. So a :class:`BySize` kernel runs its parallel twin on a large array when that
is already compiled or in the disk cache; otherwise it runs the serial twin and counts the
time (its own compilation excluded), and compiles the parallel twin once the serial one has
spent about as long as the parallel twin would have saved its compile time
(:meth:`BySize.tier_seconds`: :data:`TIER_SECONDS` for the typical kernel, more for one
whose serial twin took long to compile; the rent-or-buy rule: a process never loses more
than about that much to the serial twin, and a kernel that is used little is never
compiled twice). The compiled twin goes to the disk cache, so later processes start
parallel. ``"eager"``
(``GRADFUSION_PARALLEL_COMPILE=eager``) compiles the parallel twin on the first large call
instead (benchmarks use it, so that no timed call compiles).

The first compilation in a process prints one line on stderr (:data:`NOTICE`), so that a
first run does not look hung; cache hits print nothing. ``GRADFUSION_COMPILE_NOTICE=0``
silences it.
"""

import os
import sys
import threading
import time
import types

import numba as nb
import numpy as np
from numba.core import event as _event
from numba.core.compiler_lock import global_compiler_lock

#: fastmath flags of the ``*_fast`` decorators: reassociation (vectorised sums), no signed
#: zeros, fused multiply-add; never "finite-math" or "no-NaN" (the results stay IEEE)
FAST = frozenset({"reassoc", "nsz", "contract"})

#: below this many cells a :class:`BySize` kernel runs on the calling thread: waking the
#: thread pool costs ~0.1 ms (passive waiting, docs/solver.md), more than a small array's work
SERIAL_CELLS = 1 << 16

#: when a :class:`BySize` kernel's parallel twin is compiled: ``"tiered"`` (after
#: :data:`TIER_SECONDS` of serial work on large arrays, unless the disk cache has it) or
#: ``"eager"`` (on the first large call); read at each call, from the environment variable
#: ``GRADFUSION_PARALLEL_COMPILE`` at import
PARALLEL_COMPILE = os.environ.get("GRADFUSION_PARALLEL_COMPILE", "tiered").strip().lower()
if PARALLEL_COMPILE not in ("tiered", "eager"):
    PARALLEL_COMPILE = "tiered"

#: seconds a parallel twin costs to compile beyond its serial twin when nothing better is
#: known: the median over the 16 kernels of the demo, 1.1 s (0.3-2.7 s;
#: bench/bench_first_run.py --kernels)
PARALLEL_EXTRA_COMPILE = 1.1

#: that extra cost over the serial twin's own compile time: median 2.4 over the same kernels
#: (0.6-4.3): the estimate of a kernel's price once its serial twin has compiled here
PARALLEL_COMPILE_RATIO = 2.4


def tier_seconds(threads=None, extra=None):
    """Seconds of serial work on large arrays (per kernel and argument types) after which a
    kernel's parallel twin is compiled: when the time the parallel twin would have saved by
    then (a share ``1 - 1/threads`` of it, at best) equals its extra compile time ``extra``
    (default :data:`PARALLEL_EXTRA_COMPILE`), the rent-or-buy rule; never with one thread.
    2.2 s on two threads, 1.5 s on four, for the default price."""
    threads = nb.config.NUMBA_NUM_THREADS if threads is None else threads
    extra = PARALLEL_EXTRA_COMPILE if extra is None else extra
    return float("inf") if threads < 2 else extra / (1.0 - 1.0 / threads)


#: :func:`tier_seconds` of this machine (Numba's thread count at import)
TIER_SECONDS = tier_seconds()

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


def _dispatcher(func, parallel=False, fast=False, inline=False, numpy_errors=False):
    dispatcher = nb.njit(**_options(parallel, fast, inline, numpy_errors))(func)
    KERNELS.append(dispatcher)
    return dispatcher


def jit(func=None, *, parallel=False, fast=False, inline=False, numpy_errors=False):
    """``numba.njit`` with the package's flags (cached, ``nogil``); usable as
    ``@jit`` or ``@jit(parallel=True, ...)``. A parallel kernel is a :class:`BySize` pair
    of twins (called from Python only, not from other kernels)."""
    def wrap(f):
        if parallel:
            return BySize(f, fast=fast, numpy_errors=numpy_errors)
        return _dispatcher(f, fast=fast, inline=inline, numpy_errors=numpy_errors)

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


#: the clock of :class:`BySize`'s serial time (a name of its own: tests replace it)
_clock = time.perf_counter


def _largest(args):
    """The cell count of the largest array among ``args``."""
    return max([a.size for a in args if isinstance(a, np.ndarray)], default=0)


def _type_key(args):
    """A cheap stand-in for the Numba signature of ``args`` (dtype and rank of the arrays,
    the type of the rest)."""
    return tuple((a.dtype.num, a.ndim) if isinstance(a, np.ndarray) else type(a)
                 for a in args)


def _load_cached(dispatcher, args):
    """Whether ``dispatcher`` has machine code for ``args``' types in memory or, loaded now,
    in its disk cache; never compiles. (Numba has no public "cached?" query: this asks its
    cache the way ``Dispatcher.compile`` does, and answers False if that ever fails.)"""
    try:
        sig = tuple(dispatcher.typeof_pyval(a) for a in args)
        # under Numba's compiler lock, as Dispatcher.compile reads its cache (threads of
        # solve_many may get here at once; the lock is re-entrant)
        with global_compiler_lock:
            if sig in dispatcher.overloads:
                return True
            if dispatcher._cache.load_overload(sig, dispatcher.targetctx) is None:
                return False
            dispatcher.compile(sig)        # a cache hit now: loads, does not compile
            return True
    except Exception:                      # pragma: no cover (a Numba without these internals)
        return False


class BySize:
    """A kernel compiled as two twins, :attr:`serial` and :attr:`parallel`, and called by the
    size of its arrays (argument ``size_arg``, or by default the largest array argument):
    the serial twin below :data:`SERIAL_CELLS` cells. Each twin compiles on its first use
    only, so a program on small images never compiles the parallel one (nor the reverse);
    on large arrays the parallel twin waits until it pays (:data:`PARALLEL_COMPILE`).

    Both twins run the same loop body: a row loop's results do not depend on the twin
    (per-row partial sums are combined in row order: :func:`gradfusion._stencils.row_sum`).

    The serial twin compiles a renamed copy of ``func`` (``<name>_serial``): Numba's disk
    cache names its entries by the function's qualified name and keys them by signature and
    bytecode, not by the ``parallel`` flag, so two twins of one function would share their
    entries and a process could load the parallel code for the serial twin (or the reverse):
    results then depended in their last bits on which twin a cold cache compiled first."""

    def __init__(self, func, *, fast=False, numpy_errors=False, size_arg=None, doc=None):
        self.parallel = _dispatcher(func, parallel=True, fast=fast, numpy_errors=numpy_errors)
        self.serial = _dispatcher(_renamed(func, "_serial"), fast=fast,
                                  numpy_errors=numpy_errors)
        self.size_arg = size_arg
        self.__name__ = func.__name__.lstrip("_")
        self.__doc__ = doc if doc is not None else func.__doc__
        self.py_func = func
        #: per argument types (:func:`_type_key`): seconds of serial work on large arrays so
        #: far, or None once the parallel twin is ready
        self.serial_seconds = {}

    def __call__(self, *args):
        size = _largest(args) if self.size_arg is None else args[self.size_arg].size
        if size < SERIAL_CELLS:
            return self.serial(*args)
        if PARALLEL_COMPILE == "eager":
            return self.parallel(*args)
        key = _type_key(args)
        spent = self.serial_seconds.get(key, -1.0)
        if spent is None:
            return self.parallel(*args)
        if spent < 0.0:                    # the first large call of these types
            if _load_cached(self.parallel, args):
                self.serial_seconds[key] = None
                return self.parallel(*args)
            spent = 0.0
        elif spent >= self.tier_seconds():  # it pays now: compile the parallel twin
            self.serial_seconds[key] = None
            return self.parallel(*args)
        compiled = _compile_total
        t0 = _clock()
        out = self.serial(*args)
        elapsed = _clock() - t0
        compiled = _compile_total - compiled       # the serial twin compiling is not work
        self.serial_seconds[key] = spent + max(elapsed - compiled, 0.0)
        return out

    def tier_seconds(self):
        """:data:`TIER_SECONDS`, scaled by this kernel's price: its parallel twin's extra
        compile time estimated as :data:`PARALLEL_COMPILE_RATIO` times its serial twin's
        (when that compiled in this process), at least :data:`PARALLEL_EXTRA_COMPILE`."""
        price = PARALLEL_COMPILE_RATIO * _compile_times.get(id(self.serial), 0.0)
        return TIER_SECONDS * max(1.0, price / PARALLEL_EXTRA_COMPILE)


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
#: estimate: the compilation of the demo or of a first solve of one dtype on a 2-core machine
#: (12-21 s, bench/bench_first_run.py)
NOTICE = "gradfusion: compiling kernels (first run only, about 20 s)"

_notice_lock = threading.Lock()
_notice_shown = False


def _notice_enabled():
    return os.environ.get("GRADFUSION_COMPILE_NOTICE", "1").strip().lower() not in (
        "0", "false", "no", "off")


def _is_ours(dispatcher):
    module = getattr(getattr(dispatcher, "py_func", None), "__module__", "") or ""
    return module == "gradfusion" or module.startswith("gradfusion.")


class _CompileWatch(_event.Listener):
    """Prints :data:`NOTICE` once, at the start of the first compilation of a gradfusion
    kernel (Numba broadcasts ``numba:compile`` only when a signature is neither in memory
    nor in the disk cache), and adds up the time of gradfusion's compilations
    (:func:`compile_seconds`).

    Numba compiles under one global lock, so compilations do not overlap: a compilation
    started inside another (a callee's) is counted in the outer one only."""

    def __init__(self):
        self.depth = 0
        self.start = 0.0
        self.ours = None

    def on_start(self, event):
        data = event.data or {}
        dispatcher = data.get("dispatcher")
        ours = _is_ours(dispatcher)
        if self.depth == 0:
            self.start, self.ours = time.perf_counter(), dispatcher if ours else None
        self.depth += 1
        if ours:
            _show_notice()

    def on_end(self, event):
        self.depth -= 1
        if self.depth == 0 and self.ours is not None:
            global _compile_total
            spent = time.perf_counter() - self.start
            _compile_total += spent
            key = id(self.ours)
            _compile_times[key] = max(_compile_times.get(key, 0.0), spent)


_compile_total = 0.0

#: ``id(dispatcher)`` -> the longest compilation of one of its signatures in this process
#: (seconds, callees included): what :meth:`BySize.tier_seconds` prices a twin by
_compile_times = {}


def compile_seconds():
    """Seconds this process has spent compiling gradfusion's kernels (cache misses only):
    the difference across a call is the part of its time that a later run, loading the
    kernels from the cache, does not pay."""
    return _compile_total


def _show_notice():
    global _notice_shown
    if _notice_shown:
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


_event.register("numba:compile", _CompileWatch())


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
