r"""The V-cycle, once for every hierarchy (the apply half of the package).

Notes
-----
From ``x = 0`` on level ``l`` with right-hand side ``b``:

1. pre-smooth, ``x = S_l b``, and form the residual ``r = b - A_l x``
   (:meth:`~gradfusion._multigrid.hierarchy.Level.presmooth`);
2. restrict it, ``b_{l+1} = R_l r``, and cycle the next level from zero,
   ``x_{l+1} = M_{l+1} b_{l+1}`` (at the coarsest level: its solver);
3. correct and post-smooth, ``x <- x + P_l x_{l+1}``, then the adjoint sweep
   (:meth:`~gradfusion._multigrid.hierarchy.Level.postsmooth`).

With ``S_l`` the pre-smoother from zero (``x = S_l b``), ``K_l = I - A_l S_l`` its
residual propagation, ``R_l = P_l^T`` and the post-smoother its adjoint (``S_l^T``),
the cycle is

.. math:: M_l = S_l^T + S_l - S_l^T A_l S_l + K_l^T P_l M_{l+1} P_l^T K_l ,

symmetric, and positive definite when ``M_{l+1}`` is and the smoother is convergent
in the ``A_l``-norm (``S_l + S_l^T - S_l^T A_l S_l`` positive definite). For one
Richardson step ``S = s I`` this is the formula of :mod:`gradfusion._solvers.multigrid`;
for a Gauss-Seidel sweep ``S = (D - L)^{-1}`` (``A = D - L - L^T``) the adjoint
sweep runs the other way. ``tests/test_multigrid.py`` checks both hierarchies
against this recursion, assembled.

References
----------
.. [1] Ulrich Trottenberg, Cornelis W. Oosterlee and Anton Schueller, *Multigrid*, Academic
   Press (2001), sec. 2.4 and 7.2.
"""


def vcycle(hierarchy, level, b, x):
    """``x = M_level b`` (from ``x = 0``) on ``hierarchy``; returns what the level's last
    step returns (None, or ``b . x`` for the levels that fuse it).

    Parameters
    ----------
    hierarchy : gradfusion._multigrid.hierarchy.Hierarchy
    level : int
        Starting level (0 the finest).
    b, x : ndarray
        Right-hand side (read only) and result, of the level's shape.
    """
    levels = hierarchy.levels
    if level == len(levels):
        return hierarchy.coarsest.solve(b, x)
    lev = levels[level]
    r = lev.presmooth(b, x)
    coarse = level + 1
    bc, xc = hierarchy.b[coarse], hierarchy.x[coarse]
    lev.restrict(r, bc)
    vcycle(hierarchy, coarse, bc, xc)
    hierarchy.products += lev.cost
    return lev.postsmooth(b, x, r, xc)
