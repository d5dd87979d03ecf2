r"""The level protocol, the hierarchy and its preconditioner (the set-up half of the package).

A problem builds its hierarchy once per system (pyamg's set-up/solve split): a
list of :class:`Level` objects, finest first, each knowing its operator, its
smoother and the transfers to the next level, and a coarsest solver
(:mod:`gradfusion._multigrid.coarsest`). :class:`Hierarchy` holds them with the
right-hand side and result arrays of every coarse level, runs the V-cycle
(:func:`gradfusion._multigrid.cycle.vcycle`) and turns it into a preconditioner
(:meth:`Hierarchy.aspreconditioner`), usable as ``M(r)`` and as a
:class:`scipy.sparse.linalg.LinearOperator`.

The protocol has two layers. The primitives -- :meth:`Level.smooth`,
:meth:`Level.residual`, :meth:`Level.restrict`, :meth:`Level.prolong_add` -- are
what a textbook cycle is made of; the composite steps :meth:`Level.presmooth`
(smooth from zero and form the residual) and :meth:`Level.postsmooth` (add the
prolonged coarse correction and smooth again) are what the cycle calls, with
default implementations from the primitives. A level whose passes are fused
overrides the composite steps instead (the synthesis levels form the residual
of the Richardson step and the post-smoothed result in one pass each,
:mod:`gradfusion._solvers.multigrid`); a level may offer further fused passes to
its problem's conjugate gradients (Poisson's fine level,
:mod:`gradfusion._poisson.levels`), which then cycle only the levels below it
(:meth:`Hierarchy.cycle` with ``level=1``).
"""

import numpy as np

from .. import _workspace as work
from .cycle import vcycle


class Level:
    """One non-coarsest level of a hierarchy: its operator, smoother and transfers.

    Subclasses implement the primitives they use; the defaults of the composite
    steps (:meth:`presmooth`, :meth:`postsmooth`) call them.

    Attributes
    ----------
    shape : tuple of int
        Shape of the level's arrays (``(C, H, W)``).
    cost : float
        Products with the finest operator that one cycle through this level costs,
        in finest-level units (counted in :attr:`Hierarchy.products`).
    """

    shape = None
    cost = 0.0

    # -- primitives ---------------------------------------------------------------------
    def matvec(self, x, out):
        """``out = A_l x`` (on the level's unknowns)."""
        raise NotImplementedError

    def smooth(self, b, x, reverse=False, zero=False):
        """One smoothing sweep on ``A_l x = b``, in place; from ``x = 0`` when ``zero``.
        ``reverse`` is the adjoint sweep (the post-smoother of a symmetric cycle)."""
        raise NotImplementedError

    def residual(self, b, x, r):
        """``r = b - A_l x``."""
        raise NotImplementedError

    def restrict(self, r, out):
        """``out = R r`` on the next level (``R = P^T``, masked as the level needs)."""
        raise NotImplementedError

    def prolong_add(self, xc, x):
        """``x += P xc`` from the next level."""
        raise NotImplementedError

    def work(self, b):
        """An array for the residual of right-hand side ``b``."""
        return np.empty_like(b)

    # -- composite steps of the V-cycle ---------------------------------------------------
    def presmooth(self, b, x):
        """Pre-smooth ``A_l x = b`` from ``x = 0`` and return its residual (an array the
        cycle hands to :meth:`restrict` and back to :meth:`postsmooth`)."""
        self.smooth(b, x, reverse=False, zero=True)
        r = self.work(b)
        self.residual(b, x, r)
        return r

    def postsmooth(self, b, x, r, xc):
        """Add the coarse correction ``P xc`` to ``x`` and post-smooth (the adjoint of the
        pre-smoother); ``r`` is :meth:`presmooth`'s residual. Returns None, or a number the
        level computes on the way (the synthesis levels: ``b . x``)."""
        self.prolong_add(xc, x)
        self.smooth(b, x, reverse=True)
        return None


class Hierarchy:
    """A multigrid hierarchy: levels, a coarsest solver and the coarse levels' arrays.

    Parameters
    ----------
    levels : list of Level
        The smoothing levels, finest first (may be empty: the coarsest solver alone).
    coarsest : object
        The coarsest level's solver: ``solve(b, x)`` writes ``x = A_c^{-1} b`` (on its
        unknowns, 0 elsewhere) and returns None or ``b . x``.
    shapes : list of tuple
        The array shape of every level, finest first (``len(levels) + 1`` entries).
    dtype : numpy dtype
        Of the coarse levels' arrays.

    Attributes
    ----------
    b, x : list of ndarray
        Right-hand side and result of every level's cycle (``None`` at level 0: the
        caller's arrays).
    products : float
        Products with the finest operator since the last reset, in finest-level units.

    Notes
    -----
    With symmetric smoothing (the post-smoother the adjoint of the pre-smoother),
    ``R = P^T`` and an exact (or symmetric positive definite) coarsest solve, the
    cycle is a symmetric operator ``M``; it is positive definite when the
    smoother's iteration is a contraction in the ``A``-norm. See
    :func:`gradfusion._multigrid.cycle.vcycle` for the recursion.

    References
    ----------
    .. [1] William L. Briggs, Van Emden Henson and Steve F. McCormick, *A Multigrid Tutorial*,
       2nd ed., SIAM (2000), ch. 3-5.
    .. [2] Nathan Bell, Luke N. Olson and Jacob Schroder, "PyAMG: Algebraic multigrid solvers
       in Python", J. Open Source Softw. 7(72) (2022) 4142 (the set-up/solve split
       and ``aspreconditioner``).
    """

    def __init__(self, levels, coarsest, shapes, dtype):
        if len(shapes) != len(levels) + 1:
            raise ValueError(f"{len(levels)} levels need {len(levels) + 1} shapes, "
                             f"got {len(shapes)}")
        self.levels = list(levels)
        self.coarsest = coarsest
        self.shapes = [tuple(s) for s in shapes]
        self.dtype = np.dtype(dtype)
        # from a sequence's arena inside gradfusion._workspace.kept (a video), else new
        self.b = [None] + [work.zeros(s, dtype) for s in self.shapes[1:]]
        self.x = [None] + [work.zeros(s, dtype) for s in self.shapes[1:]]
        self.products = 0.0

    def __len__(self):
        """The number of levels, the coarsest included."""
        return len(self.shapes)

    def cycle(self, b, x, level=0):
        """``x = M_level b``: one V-cycle from ``x = 0`` on ``level`` and below.

        Parameters
        ----------
        b : ndarray
            Right-hand side of the level's shape (zero off its unknowns; only read).
        x : ndarray
            The result (overwritten).
        level : int
            The level the cycle starts on (a problem whose finest level is fused into
            its conjugate gradients cycles from level 1, on :attr:`b` and :attr:`x`).

        Returns
        -------
        None or float
            What the starting level's last step returns (``b . x`` for the synthesis
            levels and the dense coarsest solver).
        """
        return vcycle(self, level, b, x)

    def cycle_below(self, level):
        """The V-cycle of level ``level + 1`` on its own arrays, ``x[level + 1] = M
        b[level + 1]`` (a fine level that restricts into :attr:`b` and prolongs from
        :attr:`x` in fused passes of its own calls this between them)."""
        return self.cycle(self.b[level + 1], self.x[level + 1], level + 1)

    def aspreconditioner(self):
        """The V-cycle as a preconditioner, ``M(r)`` and a SciPy ``LinearOperator``.

        Returns
        -------
        Preconditioner
        """
        return Preconditioner(self)


class Preconditioner:
    """``M = `` one V-cycle of a :class:`Hierarchy`, as a function and a linear operator.

    ``M(r)`` takes an array of the finest level's shape and returns a new one;
    :meth:`matvec` (and ``M @ v``, ``M.aslinearoperator()``) takes the same values
    flattened, as :func:`scipy.sparse.linalg.cg`'s ``M=`` expects. The input must be
    zero off the finest level's unknowns (masked problems); the output is.
    """

    def __init__(self, hierarchy):
        self.hierarchy = hierarchy
        n = int(np.prod(hierarchy.shapes[0]))
        self.shape = (n, n)
        self.dtype = hierarchy.dtype

    def __call__(self, r):
        r = np.ascontiguousarray(r, dtype=self.dtype).reshape(self.hierarchy.shapes[0])
        z = np.empty_like(r)
        self.hierarchy.cycle(r, z)
        return z

    def matvec(self, v):
        """``M v`` of a flat vector (or an ``(n, 1)`` column)."""
        v = np.asarray(v)
        return self(v.reshape(self.hierarchy.shapes[0])).reshape(v.shape)

    rmatvec = matvec                    # symmetric

    def __matmul__(self, v):
        return self.matvec(v)

    def aslinearoperator(self):
        """A :class:`scipy.sparse.linalg.LinearOperator` (symmetric: ``rmatvec = matvec``)."""
        from scipy.sparse.linalg import LinearOperator

        return LinearOperator(self.shape, matvec=self.matvec, rmatvec=self.matvec,
                              dtype=self.dtype)
