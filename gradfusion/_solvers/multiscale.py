"""Coarse-to-fine driver: warm-start each scale from the one below.

The box QP of an image pair is solved first on a 2x-downsampled pair (area
averages, recursively), and the solution, upsampled bilinearly and
clipped into the box, starts the solve at the next finer scale.  The coarse
solves fix the low-frequency content of the residual, which a Krylov method
at full resolution would need many iterations to propagate; the finest solve
then mostly refines edges and the active set.  The answer is the finest
solve's: the same optimum and tolerance as a single-scale solve.
"""

import time

import numpy as np

from . import _kernels as K
from .._multigrid.transfer import downsample, upsample
from . import window as win
from .active_set import active_set_solve
from .gap import EMPTY_FRACTION, GapTest, empty_objective, relative_scale
from .mprgp import STEP_KEYS, QPState, mprgp

__all__ = ["downsample", "upsample", "coarse_to_fine", "resolve_method", "METHODS"]

#: ``method`` of :func:`gradfusion.solve`: the box-QP solver run at every scale
#: ("auto": the active-set method, MPRGP on images of at most 256x256 pixels)
METHODS = ("auto", "active-set", "mprgp")


#: "auto" runs MPRGP on images of at most this many pixels (per channel)
AUTO_MPRGP_PIXELS = 256 * 256


def resolve_method(method, pixels):
    """The solver that ``method`` names for an image of ``pixels`` pixels per channel.

    ``"auto"`` is the active-set method, except on small images, where MPRGP was as fast
    or faster (tol 1e-2, docs/solver.md): 256x256 float64 0.16 against 0.22 s (float32
    0.17 against 0.15 s), while from 320x320 up the active-set method took less (512x512
    0.43 against 0.87 s float32, from a megapixel up 2.3-3.3x less). From the previous
    frame's solution (1280x720, 1-pixel shift, 2% more light) the two are alike (float32
    0.59 against 0.65 s, float64 0.90 against 0.89 s, medians of 5) and the active-set
    method's answer is closer to the optimum at the same ``tol``, so warm starts take it
    too (an earlier measurement, 1.0 against 0.7 s, was of a version whose coarsest
    multigrid level had 256 cells: its eigendecompositions were the difference).
    """
    if method == "auto":
        return "mprgp" if pixels <= AUTO_MPRGP_PIXELS else "active-set"
    return method


def coarse_to_fine(make_problem, arrays, x0, *, min_size, tol, maxiter,
                   callback=None, coarse_tol=None, method="mprgp", monitor=None, changed=None):
    """Solve at every scale from the coarsest up; return (problem, state, levels).

    Parameters
    ----------
    make_problem : callable
        ``make_problem(depth, *arrays)`` builds the problem of one scale from the arrays
        at that scale (``depth`` 2x coarsenings below the finest, 0 = finest); it has
        ``hessian``, ``matvec``, ``matvec_dot``, ``b``, ``target``, ``upper``,
        ``lipschitz``, ``columns()`` and ``heuristic()``.
    arrays : tuple of ndarray
        The image, the proposal and any weight maps, each ``(C or 1, H, W)``; every
        coarser scale holds their 2x2 area averages.
    x0 : ndarray or None
        Warm start at the finest scale; when given, no coarse scales are
        solved (the caller already has a good point).
    min_size : int
        Stop coarsening when the next scale would have a side below this;
        ``min_size <= 0`` or a large value disables the coarse scales.
    tol : float
        Stop when the estimated relative objective gap is at most ``tol``
        (:class:`GapTest`).
    maxiter, callback
        As for :func:`mprgp`; ``maxiter`` applies per scale, the callback to
        the finest scale only.
    coarse_tol : float, optional
        Projected-gradient tolerance (inf-norm, the solvers' ``tol``) of the coarse
        scales: they only provide a warm start, so solving them tightly is wasted work,
        and the gap test's V-cycles and multigrid set-up per scale cost more than they
        save there (the 256x256 real pairs took twice as long with gap-tested coarse
        scales). None: the gap test at every scale.
    method : {"active-set", "mprgp"}
        The solver at every scale: :func:`active_set_solve` or :func:`mprgp`
        (``"auto"`` is resolved before, by :func:`resolve_method`).
    monitor : callable, optional
        ``monitor(scale, count, shape, optimality)`` at the start of every scale
        (``optimality`` None) and after each of its iterations: ``scale`` counts from
        1 (the coarsest) to ``count`` (the finest), for a progress display; its
        return value is ignored.
    changed : tuple, optional
        With ``x0``, the box ``(r0, r1, c0, c1)`` outside which this problem equals the
        one ``x0`` solved: the active-set method first re-solves a window around it, the
        rest held (:func:`gradfusion._solvers.window.solve_window`; then ``method`` solves
        the whole grid), unless the window would cover much of the grid. The window is an
        entry of ``levels`` before the finest scale's, its inner iterations
        ``steps["window"]``.

    Returns
    -------
    problem, state, levels
        The finest problem, its :class:`QPState`, and a list of
        ``(shape, nit, nmatvec, time)`` per scale, coarsest first.
    """
    if method not in ("active-set", "mprgp"):
        raise ValueError(f"coarse_to_fine: method must be 'active-set' or 'mprgp', got {method!r}")
    finest_problem = None
    if x0 is None:
        # a proposal the display can show (almost) exactly: the clip is the answer, and the
        # active sets of such a target are degenerate (t inside the box nearly everywhere:
        # solve(I, I, 0.7) on a 768x1152 photograph took 8 Newton steps, 6.2 s, to find it)
        finest_problem = make_problem(0, *arrays)
        state = clip_if_optimal(finest_problem, tol)
        if state is not None:
            shape = arrays[0].shape
            return finest_problem, state, [(shape, state.nit, state.nmatvec, state.time)]
    pyramid = [tuple(arrays)]
    if x0 is None and min_size > 0:
        while min(pyramid[-1][0].shape[1:]) // 2 >= min_size:
            pyramid.append(tuple(downsample(a) for a in pyramid[-1]))
    levels = []
    x = x0
    count = len(pyramid)
    for depth, scale in enumerate(reversed(pyramid)):
        I = scale[0]
        if monitor is not None:
            monitor(depth + 1, count, I.shape, None)
        finest = depth == len(pyramid) - 1
        problem = (finest_problem if finest and finest_problem is not None
                   else make_problem(len(pyramid) - 1 - depth, *scale))
        if x is None:
            x = problem.heuristic()
        elif x.shape != I.shape:
            x = upsample(x, I.shape)
        if finest or coarse_tol is None:
            gap = GapTest(problem.hessian, problem.b, problem.target, problem.upper, tol,
                          skip_first=depth > 0)
            common = dict(tol=0.0, gap=gap)
        else:
            common = dict(tol=coarse_tol)
        common.update(maxiter=maxiter, callback=_scale_callback(
            callback if finest else None, monitor, depth + 1, count, I.shape),
            columns=problem.columns())
        window = None
        if finest and changed is not None and x0 is not None:
            window = win.window_box(changed, I.shape[1:])
        if window is not None:
            K.projected_step(x, x, problem.upper, 0.0)      # the held values inside the box
            local, products, seconds = win.solve_window(problem, x, window, tol=tol,
                                                        maxiter=maxiter)
            r0, r1, c0, c1 = window
            levels.append(((I.shape[0], r1 - r0, c1 - c0), local.nit,
                           int(round(products)), seconds))
        if method == "active-set":
            state = active_set_solve(problem.hessian, problem.b, x, problem.upper, **common)
        else:
            state = mprgp(problem.matvec, problem.b, x, problem.upper,
                          step_scale=problem.lipschitz, matvec_dot=problem.matvec_dot,
                          **common)
        if window is not None:
            state.steps["window"] = local.nit
        levels.append((I.shape, state.nit, state.nmatvec, state.time))
        x = state.x
    return problem, state, levels


def clip_if_optimal(problem, tol):
    """The clip's :class:`QPState` when it is the optimum to ``tol`` by a certificate, else None.

    With ``d = x - t`` at the clip ``x`` and ``g = A d`` its gradient, the objective is
    ``phi(x) = 1/2 d^T g >= phi* >= 0``, so ``phi(x)`` bounds the gap itself: the clip is
    optimal to a relative gap ``tol`` (relative to ``max(phi, EMPTY_FRACTION phi_0)``, as
    the gap test's) when ``phi(x) <= tol EMPTY_FRACTION phi_0``. One product with ``A``.
    """
    t0 = time.perf_counter()
    d = problem.heuristic()
    d -= problem.target                     # d = x - t, in the clip's array (two arrays, not three)
    g = np.empty_like(d)
    problem.matvec(d, g)
    phi = 0.5 * float(np.dot(d.ravel(), g.ravel()))       # 0 exactly where the clip is t
    phi0 = empty_objective(problem.b, problem.target)
    scale = relative_scale(phi, phi0)
    if phi > tol * EMPTY_FRACTION * phi0:
        return None
    del d
    x = problem.heuristic()
    gp_inf = K.projected_gradient_measures(x, g, problem.upper, 1.9 / problem.lipschitz)[2]
    return QPState(x=x, nit=0, nmatvec=1, status=0, optimality=float(gp_inf),
                   time=time.perf_counter() - t0, steps=dict.fromkeys(STEP_KEYS, 0),
                   gap=phi / scale if scale > 0.0 else 0.0)


def _scale_callback(callback, monitor, scale, count, shape):
    """The solver's callback at one scale: the monitor's report, then the caller's."""
    if monitor is None:
        return callback

    def both(nit, x, g, optimality):
        monitor(scale, count, shape, optimality)
        return bool(callback is not None and callback(nit, x, g, optimality))

    return both
