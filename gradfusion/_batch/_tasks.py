"""What a worker runs for one pair: a solve on arrays, or read, solve, write on files."""

import dataclasses
import os
import signal
import socket
import threading
import time
import warnings

import numpy as np

from .. import _deprecation

__all__ = ["PairResult", "Stopped", "solve_arrays", "solve_paths", "init_process"]


class Stopped(BaseException):
    """The run was interrupted: the pair was abandoned, nothing written (not a pair failure)."""


@dataclasses.dataclass
class PairResult:
    """One pair's outcome in :func:`gradfusion.solve_many`.

    Attributes
    ----------
    index : int
        Position of the pair in the input iterable.
    result : SolveResult or None
        The solve's result; for file pairs without its arrays (``output``,
        ``residual`` and ``x`` are None: the output is in the file). None when
        the pair failed.
    error : str or None
        ``"ExceptionType: message"`` when the pair failed (unreadable file,
        sizes differ, memory refusal, bad option), else None.
    input, proposal, output : str or None
        The file paths of a file pair (None for array pairs).
    worker : str
        Where it ran: ``host:pid`` (``host:pid/thread`` for threads, the Dask
        worker's address on a cluster).
    warnings : list of str
        Warnings raised while reading or solving (EXIF orientation, ICC profile).
    time : float
        Seconds the worker spent on the pair, reading and writing included.
    """

    index: int
    result: object = None
    error: str = None
    input: str = None
    proposal: str = None
    output: str = None
    worker: str = ""
    warnings: list = dataclasses.field(default_factory=list)
    time: float = 0.0

    @property
    def ok(self):
        """True when the pair was solved (to its tolerance or not) and, for files, written."""
        return self.error is None

    @property
    def outcome(self):
        """``"ok"``, ``"unconverged"`` (solved, written, but stopped before ``tol``) or ``"failed"``.

        A word, unlike a result's ``status`` (an int code: ``result.status``).
        """
        if self.error is not None:
            return "failed"
        return "ok" if self.result.success else "unconverged"

    @property
    def status(self):
        """Deprecated name of :attr:`outcome` (same string, with a ``FutureWarning``).

        ``status`` is an int code in every result (``result.status``); this alias will be
        removed in gradfusion 0.2.
        """
        _deprecation.warn(f"PairResult.status is renamed outcome (status will be removed in "
                          f"{_deprecation.REMOVAL}: status is an int code in every result, "
                          "as result.status)")
        return self.outcome


#: set in a worker process by SIGTERM; the solve's callback then stops it
_STOP = threading.Event()
_BUSY = False


def _on_sigterm(signum, frame):
    _STOP.set()
    if _BUSY:
        raise Stopped("terminated")


def init_process(threads):
    """Initializer of a local worker process: its share of the cores, the parent handles Ctrl-C.

    SIGINT is ignored (a terminal's Ctrl-C reaches the whole process group: the
    parent decides); SIGTERM stops the pair in progress without writing it.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, _on_sigterm)
    _set_threads(threads)


def _set_threads(threads):
    if threads:
        import numba

        numba.set_num_threads(min(int(threads), numba.config.NUMBA_NUM_THREADS))


def _worker_name(dask):
    if dask:
        try:
            from distributed import get_worker

            return get_worker().address
        except (ImportError, ValueError):
            pass
    name = f"{socket.gethostname()}:{os.getpid()}"
    if threading.current_thread() is not threading.main_thread():
        name += f"/{threading.current_thread().name}"
    return name


def _slim(result):
    """A SolveResult without its image arrays (the output is in the file)."""
    slim = result.__class__(result)
    for key in ("output", "residual", "x"):
        if key in slim:
            slim[key] = None
    return slim


def _run(index, work, threads, stop, record, dask, paths=(None, None, None)):
    global _BUSY
    t0 = time.perf_counter()
    stop = _STOP if stop is None else stop
    out = PairResult(index, input=paths[0], proposal=paths[1], output=paths[2],
                     worker=_worker_name(dask))
    _set_threads(threads)
    _BUSY = True
    try:
        if stop.is_set():
            raise Stopped("stopped before start")
        with warnings.catch_warnings(record=True) if record else _nothing() as caught:
            if record:
                warnings.simplefilter("always")
            try:
                out.result = work(lambda info: stop.is_set())
            except Exception as exc:  # one failing pair does not stop the others
                out.error = f"{type(exc).__name__}: {' '.join(str(exc).split())}"
        if caught:
            out.warnings = [str(w.message) for w in caught]
    finally:
        _BUSY = False
    out.time = time.perf_counter() - t0
    return out


class _nothing:
    def __enter__(self):
        return None

    def __exit__(self, *exc):
        return False


def _checked_solve(I, P, alpha, options, stopped):
    from .. import solve
    from .._threads import check_not_forked_after_openmp, serialized

    check_not_forked_after_openmp("gradfusion.solve_many")
    with serialized():           # one solve at a time per process where the layer needs it
        result = solve(I, P, alpha, callback=stopped, **options)
    if stopped(None):
        raise Stopped("interrupted")
    return result


def solve_arrays(index, image, proposal, alpha, options, threads=None, stop=None, record=True,
                 dask=False):
    """Solve one array pair; returns a :class:`PairResult` (never raises for the pair's own errors)."""
    return _run(index, lambda stopped: _checked_solve(image, proposal, alpha, options, stopped),
                threads, stop, record, dask)


def read_checked(path):
    """An input image file, float values checked with the file named in the message."""
    from .. import _validation, io

    image = io.read_image(path)
    if image.dtype.kind == "f":
        _validation.check_image(image, path)
    return image


def solve_paths(index, paths, alpha, options, threads=None, stop=None, record=True, dask=False,
                bits=None, overwrite=True, float32=False):
    """Read, solve and write one file pair on this worker; returns a :class:`PairResult`.

    The output is written atomically (``gradfusion.io.write_image``): 16-bit
    when the input is 16-bit (or ``bits=16``), else 8-bit.
    """
    input_path, proposal_path, output_path = (os.fspath(p) for p in paths)

    def work(stopped):
        from .. import _validation, io
        from ._folder import signals_held

        I = read_checked(input_path)
        P = read_checked(proposal_path)
        if I.shape != P.shape:
            raise ValueError(f"{proposal_path}: size {P.shape} differs from {input_path}: {I.shape}")
        depth = bits or (16 if I.dtype == np.uint16 else 8)
        if float32:
            I, P = (np.asarray(_validation.to_float(a), np.float32) for a in (I, P))
        result = _checked_solve(I, P, alpha, options, stopped)
        os.makedirs(os.path.dirname(os.path.abspath(output_path)), exist_ok=True)
        with signals_held():     # a SIGTERM lands after the rename, never between its steps
            io.write_image(output_path, result.output, bits=depth, overwrite=overwrite)
        return _slim(result)

    return _run(index, work, threads, stop, record, dask, (input_path, proposal_path, output_path))
