"""Work arrays kept from one solve to the next of the same shape (a video's frames).

A solve's work arrays -- the active-set method's vectors and masks, the multigrid's level
arrays -- are image-sized: 11 MB each at 1280x720x3 float32. Memory that the allocator has
handed back to the operating system comes back as fresh pages, zero-filled one by one on
first touch, and glibc hands back freed memory of that size readily (its trim and mapping
thresholds follow the largest blocks freed). A sequence of solves of one shape therefore
paid for its pages again at every frame: 10-20% of a warm-started 1280x720 video frame.

Inside :func:`kept`, the solvers take their work arrays from an :class:`Arena` instead of
allocating them: the ``k``-th array of a shape and dtype that a solve asks for is the
``k``-th array of that shape and dtype kept from the previous solve (allocated the first
time). No work array outlives its solve (the solve's result holds none of them), so the
arrays of one solve are free for the next. Outside :func:`kept` (every call of
:func:`gradfusion.solve`), :func:`empty` is :func:`numpy.empty`.

The arena is per context (a :class:`contextvars.ContextVar`): a solve in another thread
never sees it.
"""

import contextlib
import contextvars
import numbers

import numpy as np

_ARENA = contextvars.ContextVar("gradfusion_arena", default=None)


class Arena:
    """The work arrays of the solves of one sequence, by shape and dtype, in the order the
    solvers ask for them.

    Attributes
    ----------
    nbytes : int
        Bytes held (the arrays of the largest solve so far).
    """

    def __init__(self):
        self._arrays = {}
        self._taken = {}

    def begin(self):
        """A new solve: its arrays are taken from the first again."""
        self._taken.clear()

    def take(self, shape, dtype):
        """The next array of ``shape`` and ``dtype`` for this solve (its values are those
        left by the previous solve: treat it as :func:`numpy.empty`)."""
        shape = (int(shape),) if isinstance(shape, numbers.Integral) else tuple(shape)
        key = (shape, np.dtype(dtype).str)
        arrays = self._arrays.setdefault(key, [])
        k = self._taken.get(key, 0)
        self._taken[key] = k + 1
        if k == len(arrays):
            arrays.append(np.empty(shape, dtype=dtype))
        return arrays[k]

    @property
    def nbytes(self):
        return sum(a.nbytes for arrays in self._arrays.values() for a in arrays)


@contextlib.contextmanager
def kept(arena):
    """Run one solve with its work arrays from ``arena`` (:meth:`Arena.begin` first)."""
    arena.begin()
    token = _ARENA.set(arena)
    try:
        yield arena
    finally:
        _ARENA.reset(token)


@contextlib.contextmanager
def outside():
    """Allocate afresh inside this block even within :func:`kept` (a window solve, whose
    shape changes from frame to frame: an arena would keep the arrays of every shape)."""
    token = _ARENA.set(None)
    try:
        yield
    finally:
        _ARENA.reset(token)


def empty(shape, dtype):
    """A work array: from the active :class:`Arena`, else :func:`numpy.empty`."""
    arena = _ARENA.get()
    if arena is None:
        return np.empty(shape, dtype=dtype)
    return arena.take(shape, dtype)


def zeros(shape, dtype):
    """:func:`empty`, zero-filled."""
    out = empty(shape, dtype)
    out.fill(0)
    return out


def ones(shape, dtype):
    """:func:`empty`, filled with ones."""
    out = empty(shape, dtype)
    out.fill(1)
    return out
