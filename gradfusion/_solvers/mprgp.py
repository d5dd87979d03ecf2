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

#: keys of ``QPState.steps`` for every solver (the result has one shape whatever the method):
#: the active-set method's outer (Newton) and inner CG iterations, MPRGP's step kinds
#: the gradient follows a move of at most ``1/SPARSE_LIMIT`` of the variables by their columns
#: of ``A`` (:func:`~gradfusion._solvers._kernels.sparse_correction`, ``add_columns``),
#: of more by a product
SPARSE_LIMIT = 64

STEP_KEYS = ("newton", "inner_cg", "cg", "expansion", "proportioning", "sparse_corrections",
             "window")

STATUS_MESSAGES = {
    0: "converged: estimated relative objective gap at most tol",
    1: "stopped: maximum number of iterations reached",
    2: "stopped by the callback",
}


@dataclass
class QPState:
    """Internal outcome of one solver run, MPRGP or active set (the public result wraps it)."""

    x: np.ndarray
    nit: int
    nmatvec: int
    status: int
    optimality: float
    time: float
    steps: dict
    gap: float = np.nan


def mprgp(matvec, b, x, upper, *, tol=0.0, maxiter, step_scale, gamma=1.0,
          callback=None, columns=None, matvec_dot=None, gap=None):
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
        Stop when the inf-norm of the projected gradient is ``<= tol`` (0: only the gap test).
    maxiter : int
        Maximum number of iterations (products with ``A``, roughly).
    step_scale : float
        Upper bound on ``||A||``; the expansion step length is
        ``1.9 / step_scale`` (MPRGP needs it in ``(0, 2 / ||A||]``).
    gamma : float
        Proportioning constant.
    callback : callable, optional
        ``callback(nit, x, g, optimality)``; returning True stops the run.
    columns : tuple, optional
        ``(table, row_class, col_class)``: the columns of ``A`` as 5x5 class
        stencils (:func:`gradfusion._stencils.hessian_columns`). With them an
        expansion whose projection clips few variables updates the gradient by
        those variables' columns instead of a second product with ``A``.
    matvec_dot : callable, optional
        ``matvec_dot(v, out)`` writes ``A v`` into ``out`` and returns ``v . A v``.
        With it, a CG-type step whose direction came from the previous
        conjugate-direction pass needs no separate scalar pass: that pass
        already returned ``g . p``, the objective is carried from the previous
        step (as evaluated there from dot products), and ``p^T A p`` comes
        with the product.
    gap : gradfusion._solvers.gap.GapTest, optional
        Stop also when its gap estimate passes (checked when its prediction from ``|gp|^2``
        says a check is due, on the current gradient, and confirmed on one recomputed from
        scratch); the estimate of the returned point is reported as ``gap`` (NaN after a
        stop asked by the callback: none is made). Its multigrid
        (built on the first check) holds about two more arrays of ``x``'s size.

    Notes
    -----
    The gradient is updated recursively by CG steps and sparse corrections;
    before the run stops as converged it is recomputed from scratch (one
    product with ``A``) and the test repeated, and a run stopped by
    ``maxiter`` or the callback recomputes it too, so ``optimality`` is
    always that of the returned point.
    """
    t0 = time.perf_counter()
    abar = 1.9 / step_scale
    g = np.empty_like(x)
    p = np.empty_like(x)
    ap = np.empty_like(x)
    scratch = np.empty_like(x)
    row_clips = np.zeros((x.shape[0] * x.shape[1], 3), dtype=np.int64)   # (n, first, stop)
    K.projected_step(x, x, upper, 0.0)
    beta2, ptp, gp_inf, gp2 = _restart(matvec, b, x, g, p, ap, upper, abar)
    nmatvec = 1
    checked = False                   # the gap estimate is that of the current x
    gap_products = 0.0                # the checks' V-cycles, in products with A
    status = 1
    nit = 0
    steps = dict.fromkeys(STEP_KEYS, 0)
    fresh = True                      # g computed from scratch at the current x
    carried = None                    # (g.p, q(x)) for the current p
    while True:
        if gp_inf <= tol and not fresh:
            # confirm on a recomputed gradient (recursive updates drift by rounding)
            beta2, ptp, gp_inf, gp2 = _restart(matvec, b, x, g, p, ap, upper, abar)
            nmatvec += 1
            fresh = True
            carried = None
        if gp_inf <= tol:
            status = 0
            break
        if gap is not None and not checked and gap.due(gp2):
            # on the current gradient (recursively updated: the conjugate directions go on
            # if the check fails), confirmed on a recomputed one when it passes
            done = gap.check(x, g, scratch, ap)
            gap_products += gap.products
            checked = True
            if done and not fresh:
                beta2, ptp, gp_inf, gp2 = _restart(matvec, b, x, g, p, ap, upper, abar)
                nmatvec += 1
                fresh = True
                carried = None
                done = gap.check(x, g, scratch, ap)
                gap_products += gap.products
            if done:
                status = 0
                break
        if nit >= maxiter:
            status = 1
            break
        nit += 1
        fresh = False
        checked = False
        if beta2 <= gamma * gamma * ptp:
            # proportional iterate: CG step on the free face
            nmatvec += 1
            if carried is not None and matvec_dot is not None:
                pap = matvec_dot(p, ap)
                gp, q0 = carried
            else:
                matvec(p, ap)
                pap, gp, xg, xb = K.cg_scalars(x, g, p, ap, b)
                q0 = 0.5 * (xg - xb)
            carried = None
            if pap <= 0.0:
                # flat direction: fall back to a projected gradient step
                K.free_gradient(x, g, upper, p)
                K.projected_step(x, p, upper, abar)
                beta2, ptp, gp_inf, gp2 = _restart(matvec, b, x, g, p, ap, upper, abar)
                nmatvec += 1
            else:
                kind, used, sparse, (beta2, ptp, gp_inf, gp2), carried = _cg_step(
                    matvec, b, x, g, p, ap, pap, gp, q0, upper, abar, scratch, columns,
                    row_clips)
                steps[kind] += 1
                nmatvec += used
                steps["sparse_corrections"] += sparse
        else:
            # proportioning step: release variables along the chopped gradient
            steps["proportioning"] += 1
            carried = None
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
            beta2, ptp, gp_inf, gp2 = K.projected_gradient_measures(x, g, upper, abar)
        if callback is not None and callback(nit, x, g, gp_inf):
            status = 2
            break
    if not fresh:             # stopped early: report the optimality of the returned point
        gp_inf = _restart(matvec, b, x, g, p, ap, upper, abar)[2]
        nmatvec += 1
        checked = False
    # and its gap estimate, unless the callback stopped the run (a deadline: no V-cycle after it)
    if gap is not None and not checked and status != 2:
        gap.check(x, g, scratch, ap)
        gap_products += gap.products
    value = np.nan
    if gap is not None:
        value = gap.value if status != 2 else np.nan
        gap.release()
    return QPState(x=x, nit=nit, nmatvec=nmatvec + int(round(gap_products)), status=status,
                   optimality=float(gp_inf), time=time.perf_counter() - t0, steps=steps,
                   gap=value)


def _cg_step(matvec, b, x, g, p, ap, pap, gp, q0, upper, abar, saved, columns, row_clips):
    """The CG step ``a_cg = gp / pap`` along ``-p``, or an expansion if it leaves the box.

    The step is taken projected, ``P(x - a_cg p)``: if the projection clips
    nothing, that is the plain CG step. Otherwise it moved every variable that
    the step pushes out onto its bound at once; keep it when it decreases the
    objective ``q`` (``q0`` at ``x``) at least as much as stopping at the first
    bound (the feasible step ``a_f``) would, and continue CG on the new face
    (the conjugate direction restricted to the free variables). Otherwise take
    Dostal's expansion: the feasible step, then a projected free-gradient step
    of length ``abar``, and restart CG from the free gradient.  ``pap = p^T A p``,
    ``gp = g . p``.

    The gradient at the projected point is ``g - a_cg A p + A d`` with ``d``
    the projection's move, non-zero only on the clipped variables (a few
    hundred of three million in a typical megapixel iteration): with
    ``columns`` and at most 1/64 of the variables clipped it is formed from
    their columns of ``A`` (a pass over the clipped variables, which also
    finds ``a_f``: the first bound is a clipped variable's), otherwise by a
    product with ``A``.

    Returns ``(kind, products with A used, 1 if sparse else 0, (beta2, phit_phi,
    gp_inf, gp2), carried)``: ``kind`` is ``"cg"`` or ``"expansion"``, ``carried`` the
    next step's ``(g . p, q(x))`` when CG continues (None after a restart).
    """
    a_cg = gp / pap
    clipped, xg, xb, phi_ap = K.project_step_update(x, g, p, ap, b, upper, a_cg, saved, row_clips)
    if clipped == 0:                                   # inside the box: the CG step
        beta2, ptp, gp_inf, gp2, gp_next = K.conjugate_direction_measures(
            x, g, upper, p, phi_ap / pap, abar)
        return "cg", 0, 0, (beta2, ptp, gp_inf, gp2), (gp_next, 0.5 * (xg - xb))
    if columns is not None and clipped <= x.size // SPARSE_LIMIT:
        dxg, dphi_ap, a_f = K.sparse_correction(x, saved, p, a_cg, upper, row_clips, *columns,
                                                g, ap)
        if not np.isfinite(a_f):       # no clipped variable seen (a rounding-level clip): scan all
            a_f = K.max_feasible_step(saved, p, upper)
        xg += dxg
        phi_ap += dphi_ap
        used, sparse = 0, 1
    else:
        a_f = K.max_feasible_step(saved, p, upper)
        matvec(x, g)                                   # A x, then g = A x - b in place
        xg, xb, phi_ap = K.gradient_and_dots(g, b, x, upper, ap, g)
        used, sparse = 1, 0
    q_feasible = q0 - a_f * gp + 0.5 * a_f * a_f * pap
    q = 0.5 * (xg - xb)                        # q(x) = 1/2 x.(g - b)
    if q <= q_feasible:
        beta2, ptp, gp_inf, gp2, gp_next = K.conjugate_direction_measures(
            x, g, upper, p, phi_ap / pap, abar)
        return "expansion", used, sparse, (beta2, ptp, gp_inf, gp2), (gp_next, q)
    # classic expansion from the saved point
    x[...] = saved
    K.projected_step(x, p, upper, a_f)                  # feasible half step (exact)
    _restart(matvec, b, x, g, p, ap, upper, abar)
    K.projected_step(x, p, upper, abar)
    return "expansion", used + 2, sparse, _restart(matvec, b, x, g, p, ap, upper, abar), None


def _restart(matvec, b, x, g, p, ap, upper, abar):
    """``g = A x - b`` from scratch (one product, ``ap`` as scratch) and ``p`` its free
    part (a CG restart); returns the KKT measures ``(beta2, phit_phi, gp_inf, gp2)``."""
    matvec(x, ap)
    K.residual_gradient(ap, b, g)
    K.free_gradient(x, g, upper, p)
    return K.projected_gradient_measures(x, g, upper, abar)
