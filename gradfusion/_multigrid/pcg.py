r"""One preconditioned conjugate-gradient loop for every multigrid-preconditioned solve.

The loop (:func:`pcg`) owns the scalar recurrences and the stopping decisions; the
vector work is done by a :class:`PCGHooks` object, so that a problem can fuse the
passes of an iteration without writing its own loop:

* the synthesis solver's inner solves (:mod:`gradfusion._solvers.active_set`) apply
  its masked V-cycle, form the direction, take a product with ``A`` and its dot in
  one pass, and update ``x`` and ``r`` with the residual's norms in another
  (``cg_update``);
* Poisson blending (:mod:`gradfusion._poisson.solver`) fuses the step with the next V-cycle's
  fine pre-smoothing and the coarse correction with the curvature ``<z, A z>``,
  ``<z, A p>``, so that ``A p`` is never stored (the curvature of ``p' = z + beta p``
  is ``<z,Az> + 2 beta <z,Ap> + beta^2 <p,Ap>``).

Several independent systems (the channels of an image) may share the loop with
scalars per *block*: every scalar is an array with one entry per block.

Notes
-----
Preconditioned conjugate gradients (Hestenes and Stiefel 1952) for ``A x = b`` with
``A`` and ``M`` symmetric positive definite, from ``r_0 = b - A x_0``:

.. math::

   z_k = M r_k,\quad \beta_k = \frac{r_k^T z_k}{r_{k-1}^T z_{k-1}},\quad
   p_k = z_k + \beta_k p_{k-1},\quad
   \alpha_k = \frac{r_k^T z_k}{p_k^T A p_k},\quad
   x_{k+1} = x_k + \alpha_k p_k,\quad r_{k+1} = r_k - \alpha_k A p_k

(``beta_0 = 0``). A non-positive ``r^T z`` or ``p^T A p`` means that ``M`` or ``A`` is
not positive definite in floating point: ``breakdown="stop"`` returns (the synthesis
solver then hands over to MPRGP), ``"freeze"`` sets that block's ``alpha`` (and next
``beta``) to 0 and goes on with the others (a Poisson channel that has converged
exactly).

References
----------
.. [1] Magnus R. Hestenes and Eduard Stiefel, "Methods of conjugate gradients for solving
   linear systems", J. Res. Nat. Bur. Standards 49 (1952) 409-436.
.. [2] Yousef Saad, *Iterative Methods for Sparse Linear Systems*, 2nd ed., SIAM (2003),
   algorithm 9.1.
"""

import numpy as np

#: :func:`pcg`'s return status: stopped by ``converged`` (its test, or an iteration limit)
CONVERGED = 0
#: :func:`pcg`'s return status: ``r^T z`` or ``p^T A p`` not positive with ``breakdown="stop"``
BREAKDOWN = 1


class PCGHooks:
    """The vector work of :func:`pcg`, from an operator and a preconditioner.

    Parameters
    ----------
    matvec : callable
        ``matvec(p, out)``: ``out = A p``.
    precondition : callable
        ``precondition(r, z)``: ``z = M r``.
    blocks : int or None
        None: one system, scalars are 1-element arrays. Otherwise the arrays are
        ``(blocks, ...)`` and the blocks independent systems.

    Notes
    -----
    A subclass replaces any of the four steps by fused passes; the loop calls only
    these and never touches the vectors itself.
    """

    def __init__(self, matvec=None, precondition=None, blocks=None):
        self._matvec = matvec
        self._precondition = precondition
        self.blocks = blocks

    def dots(self, a, b):
        """Inner products per block (float64)."""
        if self.blocks is None:
            return np.array([np.dot(a.ravel().astype(np.float64), b.ravel())])
        n = self.blocks
        return np.einsum("ij,ij->i", a.reshape(n, -1).astype(np.float64),
                         b.reshape(n, -1).astype(np.float64))

    def _scale(self, s, like):
        return s.reshape((-1,) + (1,) * (like.ndim - 1)) if self.blocks is not None else s[0]

    def precondition(self, r, z):
        """``z = M r``; returns ``r . z`` per block."""
        self._precondition(r, z)
        return self.dots(r, z)

    def direction(self, z, p, beta, ap):
        """``p = z + beta p`` (``p = z`` when ``beta`` is None: the first iteration) and
        ``ap = A p``; returns ``p . A p`` per block."""
        if beta is None:
            p[...] = z
        else:
            p *= self._scale(beta, p)
            p += z
        self._matvec(p, ap)
        return self.dots(p, ap)

    def step(self, x, r, p, ap, alpha):
        """``x += alpha p``, ``r -= alpha ap``; returns what ``converged`` reads (here
        ``r . r`` per block)."""
        a = self._scale(alpha, p)
        x += a * p
        r -= a * ap
        return self.dots(r, r)


def pcg(hooks, x, r, z, p, ap, state, converged, breakdown="stop"):
    """Preconditioned conjugate gradients from ``x`` with residual ``r = b - A x``.

    Parameters
    ----------
    hooks : PCGHooks
        The vector work (see :class:`PCGHooks`; fused subclasses may ignore some of the
        arrays below).
    x, r : ndarray
        The iterate and its residual, updated in place.
    z, p, ap : ndarray
        Work arrays: the preconditioned residual, the direction and ``A p``.
    state : object
        What ``converged`` reads of the start (e.g. ``r . r``); later the return value of
        :meth:`PCGHooks.step`.
    converged : callable
        ``converged(state, k)`` after ``k`` iterations of this call: True to stop (a
        tolerance, an iteration limit).
    breakdown : {"stop", "freeze"}
        What a non-positive ``r . z`` or ``p . A p`` does: return :data:`BREAKDOWN`, or
        zero that block's step and go on.

    Returns
    -------
    k : int
        Iterations (steps ``x += alpha p``) taken.
    status : int
        :data:`CONVERGED` or :data:`BREAKDOWN`.
    state : object
        The last state.
    """
    stop = breakdown == "stop"
    rz_old = None
    k = 0
    while not converged(state, k):
        rz = hooks.precondition(r, z)
        if stop and not np.all(rz > 0.0):
            return k, BREAKDOWN, state
        if rz_old is None:
            beta = None
        else:
            beta = np.where(rz_old > 0, rz / np.where(rz_old > 0, rz_old, 1.0), 0.0)
        pap = hooks.direction(z, p, beta, ap)
        if stop and not np.all(pap > 0.0):
            return k, BREAKDOWN, state
        ok = (rz > 0) & (pap > 0)
        alpha = np.where(ok, rz / np.where(ok, pap, 1.0), 0.0)
        state = hooks.step(x, r, p, ap, alpha)
        rz_old = rz
        k += 1
    return k, CONVERGED, state


def cg(matvec, b, x, precondition=None, *, rtol=1e-8, maxiter=1000):
    """Solve ``A x = b`` by preconditioned CG with the default hooks (NumPy vector work).

    Parameters
    ----------
    matvec : callable
        ``matvec(p, out)``: ``out = A p``.
    b, x : ndarray
        Right-hand side and initial guess (updated in place).
    precondition : callable, optional
        ``precondition(r, z)``: ``z = M r`` (default the identity), e.g. a
        :meth:`Hierarchy.cycle <gradfusion._multigrid.hierarchy.Hierarchy.cycle>`.
    rtol : float
        Stop when ``||r|| <= rtol ||b||``.
    maxiter : int

    Returns
    -------
    x : ndarray
    k : int
        Iterations taken.
    """
    if precondition is None:
        def precondition(r, z):
            z[...] = r
    hooks = PCGHooks(matvec, precondition)
    r = np.empty_like(b)
    matvec(x, r)
    r[...] = b - r
    bb = float(np.dot(b.ravel(), b.ravel()))
    work = [np.zeros_like(b) for _ in range(3)]
    k, _, _ = pcg(hooks, x, r, *work, hooks.dots(r, r),
                  lambda rr, k: k >= maxiter or float(rr[0]) <= rtol * rtol * bb)
    return x, k
