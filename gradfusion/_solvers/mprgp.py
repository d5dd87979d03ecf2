"""MPRGP: a bound-constrained conjugate-gradient solver for convex box QPs.

Solves ``min_x 1/2 x^T A x - b^T x`` subject to ``0 <= x[c] <= upper[c]``
for a symmetric positive (semi-)definite ``A`` given only as a product.
This is Dostal & Schoeberl's Modified Proportioning with Reduced Gradient
Projections: conjugate-gradient steps on the face of currently free
variables while the gradient there dominates ("proportional" iterates),
expansion steps (a projected gradient step of fixed length) when a CG step
would leave the box, and proportioning steps that release variables from a
bound when the chopped gradient dominates.  Each iteration costs one product
with ``A``; the method converges R-linearly to the unique minimiser of a
strictly convex problem, and finitely identifies the active set for
non-degenerate problems.

References
----------
Z. Dostal and J. Schoeberl, "Minimizing quadratic functions subject to bound
constraints with the rate of convergence and finite termination",
Computational Optimization and Applications 30 (2005) 23-43.
"""

import time
from dataclasses import dataclass

import numpy as np

from . import _kernels as K

STATUS_MESSAGES = {
    0: "converged: projected-gradient norm below tol",
    1: "stopped: maximum number of iterations reached",
    2: "stopped by the callback",
}


@dataclass
class QPState:
    """Internal outcome of one MPRGP run (the public result wraps it)."""

    x: np.ndarray
    nit: int
    nmatvec: int
    status: int
    optimality: float
    time: float
    steps: dict


def mprgp(matvec, b, x, upper, *, tol, maxiter, step_scale, gamma=1.0,
          callback=None):
    """Run MPRGP from ``x`` (modified in place and returned in the state).

    Parameters
    ----------
    matvec : callable
        ``matvec(v, out)`` writes ``A v`` into ``out``.
    b : ndarray, shape (C, H, W)
        Linear term.
    x : ndarray, shape (C, H, W)
        Starting point; it is projected onto the box first.
    upper : ndarray, shape (C,)
        Upper bounds per channel (lower bounds are 0).
    tol : float
        Stop when the inf-norm of the projected gradient is ``<= tol``.
    maxiter : int
        Maximum number of iterations (products with ``A``, roughly).
    step_scale : float
        Upper bound on ``||A||``; the expansion step length is
        ``1.9 / step_scale`` (MPRGP needs it in ``(0, 2 / ||A||]``).
    gamma : float
        Proportioning constant.
    callback : callable, optional
        ``callback(nit, x, g, optimality)``; returning True stops the run.
    """
    t0 = time.perf_counter()
    abar = 1.9 / step_scale
    g = np.empty_like(x)
    p = np.empty_like(x)
    ap = np.empty_like(x)
    scratch = np.empty_like(x)
    ax = np.empty_like(x)
    K.projected_step(x, x, upper, 0.0)
    matvec(x, ap)
    K.residual_gradient(ap, b, g)
    nmatvec = 1
    K.free_gradient(x, g, upper, p)
    status = 1
    nit = 0
    steps = {"cg": 0, "expansion": 0, "proportioning": 0}
    beta2, ptp, gp_inf, _ = K.projected_gradient_measures(x, g, upper, abar)
    while True:
        if gp_inf <= tol:
            status = 0
            break
        if nit >= maxiter:
            status = 1
            break
        nit += 1
        if beta2 <= gamma * gamma * ptp:
            # proportional iterate: CG step on the free face
            matvec(p, ap)
            nmatvec += 1
            pap = K.dot(p, ap)
            if pap <= 0.0:
                # flat direction: fall back to a projected gradient step
                K.free_gradient(x, g, upper, p)
                K.projected_step(x, p, upper, abar)
                matvec(x, ap)
                nmatvec += 1
                K.residual_gradient(ap, b, g)
                K.free_gradient(x, g, upper, p)
            else:
                a_cg = K.dot(g, p) / pap
                a_f = K.max_feasible_step(x, p, upper)
                if a_cg <= a_f:
                    steps["cg"] += 1
                    K.step_and_update(x, g, p, ap, a_cg)
                    # new conjugate direction: p = phi - (phi^T A p / p^T A p) p
                    beta = K.free_dot(x, g, upper, ap) / pap
                    K.conjugate_direction(x, g, upper, p, beta)
                else:
                    steps["expansion"] += 1
                    nmatvec += _expand(matvec, b, x, g, p, ap, pap, upper, a_cg, a_f,
                                       abar, scratch, ax)
        else:
            # proportioning step: release variables along the chopped gradient
            steps["proportioning"] += 1
            K.chopped_gradient(x, g, upper, p)
            matvec(p, ap)
            nmatvec += 1
            pap = K.dot(p, ap)
            a_cg = K.dot(g, p) / pap if pap > 0.0 else abar
            a_f = K.max_feasible_step(x, p, upper)
            if a_cg <= a_f:
                K.step_and_update(x, g, p, ap, a_cg)
            else:
                K.projected_step(x, p, upper, a_cg)
                matvec(x, ap)
                nmatvec += 1
                K.residual_gradient(ap, b, g)
            K.free_gradient(x, g, upper, p)
        beta2, ptp, gp_inf, _ = K.projected_gradient_measures(x, g, upper, abar)
        if callback is not None and callback(nit, x, g, gp_inf):
            status = 2
            break
    return QPState(x=x, nit=nit, nmatvec=nmatvec, status=status,
                   optimality=float(gp_inf), time=time.perf_counter() - t0, steps=steps)


def _q(x, g, b):
    """Objective ``1/2 x^T A x - b^T x = 1/2 x.(g - b)`` from the gradient ``g = A x - b``."""
    return 0.5 * (K.dot(x, g) - K.dot(x, b))


def _expand(matvec, b, x, g, p, ap, pap, upper, a_cg, a_f, abar, scratch, ax):
    """Expansion step when the CG step ``a_cg`` would leave the box.

    First try the projected full CG step ``P(x - a_cg p)``, which moves every
    variable that the step pushes out onto its bound at once; keep it when it
    decreases the objective at least as much as Dostal's expansion step's
    first half (the feasible step ``a_f``) does, and continue CG on the new
    face (the conjugate direction restricted to the free variables).
    Otherwise take the classic expansion: the feasible step, then a projected
    free-gradient step of length ``abar``, and restart CG from the free
    gradient.  ``pap`` is ``p^T A p``.  Returns the number of products with
    ``A`` used.
    """
    gp = a_cg * pap                                     # g.p (a_cg = g.p / pAp)
    q_feasible = _q(x, g, b) - a_f * gp + 0.5 * a_f * a_f * pap
    x_saved = scratch
    x_saved[...] = x
    K.projected_step(x, p, upper, a_cg)
    matvec(x, ax)
    K.residual_gradient(ax, b, g)
    if _q(x, g, b) <= q_feasible:
        # keep CG momentum on the new face: p = phi - (phi^T A p / p^T A p) p,
        # zero on the variables that became active
        K.conjugate_direction(x, g, upper, p, K.free_dot(x, g, upper, ap) / pap)
        return 1
    # classic expansion from the saved point
    x[...] = x_saved
    K.projected_step(x, p, upper, a_f)                  # feasible half step (exact)
    matvec(x, ap)
    K.residual_gradient(ap, b, g)
    K.free_gradient(x, g, upper, p)
    K.projected_step(x, p, upper, abar)
    matvec(x, ap)
    K.residual_gradient(ap, b, g)
    K.free_gradient(x, g, upper, p)
    return 3
