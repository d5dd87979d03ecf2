r"""Re-solving a window of a problem around a local change, the rest held.

A warm start ``x`` that is the optimum of a problem differing from this one only inside a
box (a frame whose proposal changed around a moving object, an edited region) is wrong
there and nearly right elsewhere. Its active set must change inside the box, and the
active-set method pays a whole-image V-cycle for every Newton step that finds this out
(a 96x96 patch moving across a still 1280x720 frame: 5-6 Newton steps, 7-8 V-cycles,
more than a cold solve). Here those steps run on a window: the box grown by
:data:`MARGIN` pixels, with every variable outside it held at its value in ``x``. The
whole-image solve then starts from the result and certifies it with its own gap test,
so the answer is the same; the window only moves the start.

Notes
-----
Let ``W`` be the window and ``C`` the window grown by a ring of :data:`RING` pixels (clipped
to the grid). With ``y = x`` outside ``W`` the objective is, up to a constant, the box QP

.. math:: \min_{0 \le y_W \le u_W} \tfrac12 y_W^T A_{WW} y_W - (b - A_{W,\bar W} x_{\bar W})^T y_W .

The stencils of ``A`` reach two pixels, so for any ``v`` on ``C`` that is zero on the ring,
``(A_C v)_W = (A v)_W`` where ``A_C`` is the same operator on the crop ``C``
(:meth:`gradfusion._problem.Hessian.window`: the crop's own border handling never reaches
``W``). Shifting the ring's variables by their values, ``z = y - l`` with ``l = x`` on the
ring and 0 on ``W``, makes the ring's box ``[0, 0]`` and gives the crop the target
``t_C - l``, whose linear term ``A_C (t_C - l)`` is the one above on ``W``. The window's
gap test measures its gap against the whole problem's objective at ``x``
(:class:`~gradfusion._solvers.gap.GapTest`'s ``reference``), and stops at :data:`TOL_FACTOR`
of the whole solve's threshold, which then usually passes at its first check.
"""

import time

import numpy as np

from .. import _workspace as work
from .active_set import active_set_solve
from .gap import GapTest, empty_objective, objective, relative_scale

#: pixels added around the changed box on every side (the optimum's change decays away
#: from the box; 16, 32 and 64 all let the whole solve pass its first check on the
#: moving-patch frames of docs/video.md, 32 in the least time)
MARGIN = 32

#: width of the ring of held variables around the window (the stencils' reach)
RING = 2

#: no window when it would cover more than this fraction of the grid (the whole solve is
#: then as cheap)
MAX_FRACTION = 0.25

#: the window's gap target, as a fraction of the whole solve's threshold
TOL_FACTOR = 0.1

#: inner iterations of a window solve at most (it only moves the whole solve's start; the
#: moving-patch windows of docs/video.md took 5 from solve_sequence's start, which follows
#: the target, 8-16 from the previous residual as it is; and MPRGP, should the active sets
#: cycle, does not know the ring's zero-width boxes)
MAX_ITER = 100


def window_box(box, shape, margin=MARGIN):
    """The window ``(r0, r1, c0, c1)`` around the changed ``box`` on a grid of ``shape``
    (``(H, W)``), or None when it would cover more than :data:`MAX_FRACTION` of it."""
    H, W = shape
    r0, r1, c0, c1 = box
    r0, r1 = max(r0 - margin, 0), min(r1 + margin, H)
    c0, c1 = max(c0 - margin, 0), min(c1 + margin, W)
    if (r1 - r0) * (c1 - c0) > MAX_FRACTION * H * W:
        return None
    return r0, r1, c0, c1


def solve_window(problem, x, window, *, tol, maxiter):
    """Solve ``problem`` on ``window`` (``(r0, r1, c0, c1)``) from ``x``, every variable
    outside it held; write the result into ``x``.

    Returns ``(state, products, seconds)``: the window solve's :class:`QPState`, its
    products with ``A`` in whole-grid units and the time it took.
    """
    t0 = time.perf_counter()
    C, H, W = x.shape
    r0, r1, c0, c1 = window
    R0, R1, C0, C1 = max(r0 - RING, 0), min(r1 + RING, H), max(c0 - RING, 0), min(c1 + RING, W)
    crop = (slice(None), slice(R0, R1), slice(C0, C1))
    inner = (slice(None), slice(r0 - R0, r1 - R0), slice(c0 - C0, c1 - C0))
    hessian = problem.hessian.window(crop[1], crop[2])
    shape = (C, R1 - R0, C1 - C0)
    upper = np.zeros(shape, dtype=x.dtype)
    upper[inner] = np.broadcast_to(problem.upper_field, x.shape)[crop][inner]
    held = x[crop].copy()
    held[inner] = 0.0
    target = problem.target[crop] - held
    b = np.empty_like(target)
    hessian.matvec(target, b)
    z = x[crop] - held
    # the whole problem's objective at x, phi = 1/2 (x - t) . (A x - b): the window's gap
    # is measured against it
    g = work.empty(x.shape, x.dtype)
    problem.matvec(x, g)
    g -= problem.b
    phi = objective(x, g, problem.target)
    del g
    # as the whole solve's test: at least EMPTY_FRACTION of displaying nothing (a proposal
    # the display reproduces has phi* = 0, and the window would iterate on rounding)
    phi = relative_scale(phi, empty_objective(problem.b, problem.target))
    gap = GapTest(hessian, b, target, upper, TOL_FACTOR * tol, reference=phi)
    with work.outside():         # a video's arena keeps whole-frame arrays only
        state = active_set_solve(hessian, b, z, upper, tol=0.0, gap=gap,
                                 maxiter=min(maxiter, MAX_ITER), columns=hessian.columns(shape))
    x[crop][inner] = state.x[inner]
    products = 1 + state.nmatvec * (shape[1] * shape[2]) / (H * W)
    return state, products, time.perf_counter() - t0
