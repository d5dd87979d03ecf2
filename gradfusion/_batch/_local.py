"""Running tasks on a local process or thread pool, or on a Dask client, as they finish."""

import concurrent.futures as cf
import math
import multiprocessing
import os
import signal
import threading

from . import _tasks
from .._threads import threads_per_solve


def start_method():
    """``forkserver`` where available (POSIX), else ``spawn``: never ``fork``.

    A worker forked from a process whose Numba threads run on GNU OpenMP kills
    itself at its first parallel kernel; the fork server is a fresh interpreter
    that never solved anything, so its children are safe whatever the parent did.
    """
    methods = multiprocessing.get_all_start_methods()
    return "forkserver" if "forkserver" in methods else "spawn"


class _Window:
    """Submits tasks while fewer than ``slots`` run and their memory estimates fit ``budget``."""

    def __init__(self, tasks, slots, budget):
        self.tasks = iter(tasks)
        self.slots = slots
        self.budget = budget
        self.held = None
        self.exhausted = False
        self.in_use = 0.0

    def next_fitting(self, running):
        """The next task if one may start now, else None."""
        if self.exhausted or running >= self.slots:
            return None
        if self.held is None:
            try:
                self.held = next(self.tasks)
            except StopIteration:
                self.exhausted = True
                return None
        need = self.held.estimate
        if running and self.in_use + need > self.budget:
            return None                  # wait for a running pair to finish
        task, self.held = self.held, None
        self.in_use += need
        return task

    def release(self, task):
        self.in_use -= task.estimate


class Task:
    """One pair to run: ``fn(index, *args, **kwargs)`` and its memory estimate."""

    __slots__ = ("index", "fn", "args", "kwargs", "estimate", "paths")

    def __init__(self, index, fn, args, kwargs, estimate, paths=(None, None, None)):
        self.index, self.fn, self.args, self.kwargs = index, fn, args, kwargs
        self.estimate, self.paths = estimate, paths


def _failed(task, message):
    return _tasks.PairResult(task.index, error=message, input=task.paths[0],
                             proposal=task.paths[1], output=task.paths[2])


def run_local(tasks, workers, backend, budget):
    """Yield each task's :class:`PairResult` as it finishes, on ``workers`` processes or threads.

    On any exit before the end (an exception, Ctrl-C, the consumer closing the
    iterator) the pairs not started are dropped and the running ones stopped
    (their solve's callback returns True; a worker process also gets SIGTERM),
    so nothing is written after the generator returns.
    """
    threads = threads_per_solve(workers)
    stop = threading.Event()
    window = _Window(tasks, workers, budget)
    executor = None

    def start():
        if backend == "processes":
            ctx = multiprocessing.get_context(start_method())
            return cf.ProcessPoolExecutor(workers, mp_context=ctx, initializer=_tasks.init_process,
                                          initargs=(threads,))
        return cf.ThreadPoolExecutor(workers, thread_name_prefix="gradfusion")

    running = {}
    finished = False
    try:
        executor = start()
        while True:
            while (task := window.next_fitting(len(running))) is not None:
                kwargs = dict(task.kwargs, threads=threads)
                if backend == "threads":
                    kwargs.update(stop=stop, record=False)
                running[executor.submit(task.fn, task.index, *task.args, **kwargs)] = task
            if not running:
                break
            done, _ = cf.wait(running, return_when=cf.FIRST_COMPLETED)
            broken = False
            for future in sorted(done, key=lambda f: running[f].index):
                task = running.pop(future)
                window.release(task)
                try:
                    result = future.result()
                except cf.process.BrokenProcessPool:
                    broken = True
                    result = _failed(task, "BrokenProcessPool: a worker process died "
                                           "(killed, e.g. out of memory)")
                yield result
            if broken:                   # start a fresh pool for the pairs still to come
                for future, task in list(running.items()):
                    window.release(task)
                    yield _failed(task, "BrokenProcessPool: a worker process died")
                running.clear()
                executor.shutdown(wait=True, cancel_futures=True)
                executor = start()
        finished = True
    finally:
        if executor is not None:
            if not finished:
                stop.set()
                for future in running:
                    future.cancel()
                if backend == "processes":
                    for pid in list(getattr(executor, "_processes", None) or {}):
                        try:
                            os.kill(pid, signal.SIGTERM)
                        except (ProcessLookupError, PermissionError):
                            pass
            executor.shutdown(wait=True, cancel_futures=True)


def run_dask(client, tasks, budget, window_size=None):
    """Yield each task's result as it finishes on the Dask cluster behind ``client``.

    At most ``window_size`` (default: twice the cluster's threads) pairs are
    submitted at once, so an iterable of millions of pairs is consumed as the
    cluster works; on an early exit the submitted futures are cancelled.
    """
    from distributed import as_completed

    info = client.scheduler_info()
    workers = info.get("workers", {})
    host_threads = {}
    for w in workers.values():
        host = w.get("host") or w.get("address", "").rsplit(":", 1)[0]
        host_threads[host] = host_threads.get(host, 0) + int(w.get("nthreads", 1))
    total = sum(host_threads.values()) or 1
    window = _Window(tasks, window_size or 2 * total, math.inf if budget is None else budget)
    running = {}
    pending = as_completed()
    finished = False
    try:
        while True:
            while (task := window.next_fitting(len(running))) is not None:
                args = task.args
                if task.kwargs.pop("scatter", False):
                    args = tuple(client.scatter(list(args[:2]), hash=False)) + tuple(args[2:])
                future = client.submit(_dask_task, task.fn, task.index, args, task.kwargs,
                                       host_threads, pure=False,
                                       key=f"gradfusion-pair-{task.index}-{os.urandom(4).hex()}")
                running[future.key] = (future, task)
                pending.add(future)
            if not running:
                break
            future = next(pending)
            task = running.pop(future.key)[1]
            window.release(task)
            try:
                result = future.result()
            except Exception as exc:     # the worker died or the task was lost
                result = _failed(task, f"{type(exc).__name__}: {exc}")
            future.release()
            yield result
        finished = True
    finally:
        if not finished and running:
            pending.clear()
            client.cancel([future for future, _ in running.values()])


def _dask_task(fn, index, args, kwargs, host_threads):
    """On a Dask worker: this worker's share of its host's cores, then the pair."""
    import socket

    from .._threads import usable_cores

    try:
        from distributed import get_worker

        worker = get_worker()
        host = worker.address.split("://")[-1].rsplit(":", 1)[0]
        share = host_threads.get(host) or host_threads.get(socket.gethostname()) or \
            worker.state.nthreads
    except (ImportError, ValueError, AttributeError):
        share = 1
    threads = max(1, usable_cores() // max(1, share))
    return fn(index, *args, threads=threads, dask=True, **kwargs)
