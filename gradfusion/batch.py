"""Many pairs at once: :func:`solve_many` on local cores or a Dask cluster.

See ``docs/batch.md`` for choosing the number of workers, Dask, the threading
layer and the folder command ``gradfusion batch``.
"""

import inspect
import math
import os
import reprlib

import numpy as np

from . import _threads as _threading
from . import _validation
from ._batch._local import Task, run_dask, run_local, start_method
from ._batch._tasks import PairResult, solve_arrays, solve_paths

__all__ = ["solve_many", "PairResult", "DaskUnavailableError", "BACKENDS",
           "choose_fork_safe_layer", "default_backend", "require_dask", "start_method"]

#: Numba's threading layer is left at its default (GNU OpenMP on Linux: fast, thread-safe,
#: not fork-safe); solve_many never forks (forkserver workers). See docs/batch.md.
choose_fork_safe_layer = _threading.choose_layer

#: local pool kinds of :func:`solve_many`
BACKENDS = ("auto", "processes", "threads")

#: ``solve`` keywords that make no sense for a batch (one per pair, or progress on a terminal)
_REFUSED = {"x0": "a warm start is per pair", "changed": "it goes with a warm start, per pair",
            "callback": "solve_many uses the callback itself",
            "progress": "iterate over the results for progress"}


class DaskUnavailableError(ImportError):
    """``client=`` or ``--scheduler`` was given but dask.distributed is not installed."""

    __module__ = "gradfusion"


def require_dask():
    """Raise :class:`DaskUnavailableError` unless dask.distributed can be imported.

    ``solve_many(client=...)`` and ``gradfusion batch --scheduler`` call it before any work.
    """
    try:
        import distributed  # noqa: F401
    except ImportError:
        raise DaskUnavailableError(
            "running on a Dask cluster needs dask and distributed: "
            "pip install 'gradfusion[dask]'") from None


def _received(value):
    """``value`` as a message shows it: its type and a short repr (an array by shape and
    dtype)."""
    if value is None or isinstance(value, np.ndarray):
        return _validation.describe(value)
    return f"{type(value).__name__} {reprlib.repr(value)}"


def _check_pairs(pairs):
    """``iter(pairs)``, or a TypeError naming what was received (a string, bytes or a path is
    refused too: one name, not an iterable of pairs)."""
    if not isinstance(pairs, (str, bytes, os.PathLike)):
        try:
            return iter(pairs)
        except TypeError:
            pass
    raise TypeError("pairs must be an iterable of (image, proposal) or (input_path, "
                    f"proposal_path, output_path) items, got {_received(pairs)}")


def _check_workers(workers):
    """``workers`` as an int >= 1 (a TypeError for another type, a ValueError below 1)."""
    return _validation.integer(workers, "workers", "a positive integer", lambda n: n >= 1)


def _check_client(client):
    """A TypeError unless ``client`` has the methods of a ``distributed.Client`` that
    :func:`~gradfusion._batch._local.run_dask` calls."""
    if not all(callable(getattr(client, name, None))
               for name in ("scheduler_info", "submit", "scatter")):
        raise TypeError("client must be a dask.distributed.Client or None (for a scheduler "
                        f"address, pass distributed.Client(address)), got {_received(client)}")


def _check_options(options):
    from .synthesis import solve

    accepted = set(inspect.signature(solve).parameters) - {"image", "proposal", "alpha"}
    for name in options:
        if name in _REFUSED:
            raise TypeError(f"solve_many does not take {name}: {_REFUSED[name]}")
        if name not in accepted:
            raise TypeError(f"solve_many got an unexpected keyword argument {name!r}")


def _array_estimate(image):
    from ._memory import estimate_solve_bytes

    a = np.asarray(image) if not hasattr(image, "dtype") else image
    dtype = np.float32 if a.dtype == np.float32 else np.float64
    return estimate_solve_bytes((1, 1, int(np.prod(a.shape))), dtype)


def _file_estimate(path, float32):
    """Estimated solve bytes from the image header (0 when the header is not readable)."""
    from ._memory import estimate_solve_bytes

    try:
        from PIL import Image

        with Image.open(path) as im:
            width, height = im.size
            channels = len(im.getbands())
    except Exception:
        return 0.0
    channels = 3 if channels >= 3 else 1     # an opaque alpha channel is dropped
    return estimate_solve_bytes((channels, height, width), np.float32 if float32 else np.float64)


def _is_paths(item):
    return len(item) == 3 and all(isinstance(p, (str, os.PathLike)) for p in item)


def _tasks(pairs, alpha, options, bits, overwrite, float32):
    largest = 0.0
    for index, item in enumerate(pairs):
        try:
            item = tuple(item)
        except TypeError:
            raise TypeError(f"pairs[{index}] must be (image, proposal) or (input_path, "
                            f"proposal_path, output_path), got {type(item).__name__}") from None
        if _is_paths(item):
            paths = tuple(os.fspath(p) for p in item)
            estimate = _file_estimate(paths[0], float32) or largest
            largest = max(largest, estimate)
            yield Task(index, solve_paths, (paths, alpha, options),
                       dict(bits=bits, overwrite=overwrite, float32=float32), estimate, paths)
        elif len(item) == 2:
            yield Task(index, solve_arrays, (item[0], item[1], alpha, options), {},
                       _array_estimate(item[0]))
        else:
            raise TypeError(f"pairs[{index}] must be (image, proposal) or (input_path, "
                            f"proposal_path, output_path), got {len(item)} items")


def default_backend(workers):
    """The local pool kind ``backend="auto"`` uses for ``workers`` concurrent pairs (a
    positive integer)."""
    if _check_workers(workers) <= 1:
        return "threads"         # no process to start, no array to copy
    # measured faster (docs/batch.md: 256x256 x2 1.70x the loop against 1.16x for processes,
    # 1024x928 1.14x against 0.79x); under a layer whose kernels must not run in two threads
    # at once (workqueue) threads would take turns, so processes
    return "threads" if _threading.thread_safe() else "processes"


def solve_many(pairs, alpha, *, client=None, workers=None, backend="auto", as_completed=False,
               max_memory=None, bits=None, overwrite=False, float32=False, **options):
    """Solve many pairs with :func:`gradfusion.solve`, on all local cores or a Dask cluster.

    Parameters
    ----------
    pairs : iterable
        ``(image, proposal)`` arrays, or ``(input_path, proposal_path,
        output_path)`` file triples, consumed lazily (at most a few pairs per
        worker are in flight). File pairs are read, solved and written by the
        worker (on a cluster the paths must be valid there), and the output is
        written atomically (``gradfusion.io.write_image``).
    alpha : float or sequence of float
        Combiner transmission, as in :func:`gradfusion.solve`.
    client : dask.distributed.Client, optional
        Run on this cluster (the ``dask`` extra). Array pairs are scattered to
        the workers once each; file pairs move no image through the client.
    workers : int, optional
        Local pairs solved at once (default: the usable cores). Fewer run when
        their estimated peak memory (``13 * C * H * W * itemsize`` each, the
        estimate ``solve`` checks) would not fit ``max_memory`` together.
    backend : {"auto", "processes", "threads"}, optional
        Local pool: threads (the default; processes under a threading layer
        that is not thread-safe) or processes (started with the ``forkserver``
        method, never ``fork``).
    as_completed : bool, optional
        Return an iterator of :class:`PairResult` in the order pairs finish,
        instead of a list in input order.
    max_memory : int, float or str, optional
        Memory limit of the concurrent solves together (default: as
        ``solve``, ``GRADFUSION_MAX_MEMORY`` or the available memory); also
        passed to each ``solve``.
    bits : {8, 16}, optional
        Bit depth of written outputs (default: 16 for 16-bit inputs, else 8).
    overwrite : bool, optional
        Replace existing output files (otherwise such a pair fails).
    float32 : bool, optional
        Solve file pairs in single precision.
    **options
        Any other keyword of :func:`gradfusion.solve` (``level_weight``,
        ``tol``, ``method``, ...), the same for every pair.

    Returns
    -------
    results : list of PairResult, or iterator of PairResult
        One per pair. A pair that fails (unreadable file, sizes differ, memory
        refusal, bad value) has ``error`` set and does not stop the others.

    Raises
    ------
    TypeError
        ``pairs`` that is not an iterable (or is a string or a path), an item
        of ``pairs`` that is neither a pair nor a triple, an unknown or per-pair
        keyword (``x0``, ``callback``, ``progress``), ``workers`` that is not
        an integer, ``as_completed``, ``overwrite`` or ``float32`` that is not
        True or False, a ``client`` that is not a Dask client.
    DaskUnavailableError
        ``client`` given without dask.distributed installed.

    Notes
    -----
    Local worker processes get ``cores // workers`` Numba threads each; a
    solve's last bits depend on its thread count (parallel sums), so a result
    equals ``solve`` run with the same number of threads bitwise.

    Examples
    --------
    >>> import numpy as np, gradfusion
    >>> rng = np.random.default_rng(0)
    >>> pairs = [(I, 0.5 * I) for I in rng.random((3, 24, 24))]
    >>> results = gradfusion.solve_many(pairs, 0.7, workers=1)
    >>> [(r.index, r.ok) for r in results]
    [(0, True), (1, True), (2, True)]
    """
    from ._memory import memory_limit

    pairs = _check_pairs(pairs)
    _check_options(options)
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {', '.join(BACKENDS)}, got {backend!r}")
    if workers is not None:
        workers = _check_workers(workers)
    if bits not in (None, 8, 16):
        raise ValueError(f"bits must be 8 or 16, got {bits!r}")
    as_completed = _validation.flag(as_completed, "as_completed")
    overwrite = _validation.flag(overwrite, "overwrite")
    float32 = _validation.flag(float32, "float32")
    if client is not None:
        require_dask()
        _check_client(client)
    if max_memory is not None:
        options["max_memory"] = max_memory
    budget = memory_limit(max_memory)[0]
    tasks = _tasks(pairs, alpha, options, bits, overwrite, float32)
    if client is not None:
        tasks = (_scatter_arrays(t) for t in tasks)
        results = run_dask(client, tasks, math.inf if max_memory is None else budget)
    else:
        workers = int(workers or _threading.usable_cores())
        if backend == "auto":
            backend = default_backend(workers)
        results = run_local(tasks, workers, backend, budget)
    if as_completed:
        return results
    return sorted(results, key=lambda r: r.index)


def _scatter_arrays(task):
    if task.fn is solve_arrays:
        task.kwargs = dict(task.kwargs, scatter=True)
    return task

