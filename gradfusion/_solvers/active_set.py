"""A primal-dual active-set (semismooth Newton) solver for the box QP.

Solves ``min_x 1/2 x^T A x - b^T x`` subject to ``0 <= x[c] <= upper[c]``.
Each outer iteration guesses the active set from the current point and its
gradient ``g = A x - b``,

    L = {x - c g <= 0},  U = {x - c g >= upper},  F = the rest,

holds ``x_L = 0`` and ``x_U = upper``, and solves the free block
``A_FF x_F = b_F - A_FA x_A`` inexactly by conjugate gradients preconditioned by
a multigrid V-cycle of ``A_FF`` (:class:`MaskedMultigrid`), warm-started at the
current ``x_F`` (the shared loop :func:`gradfusion._multigrid.pcg.pcg`, with this
solver's fused passes as its hooks: :class:`_InnerHooks`). An inner solve stops
when its residual has dropped by ``inner_rtol``; once the active set has settled
(:data:`SETTLED`) it aims at the gap test instead: ``r . z``, which the V-cycle
returns, is the test's estimate on the free variables (:data:`GAP_STOP`,
:data:`GAP_EXTEND`), and a gap test that its last prediction shows would fail is skipped
(:data:`DOOMED`). This is Newton's
method on the semismooth equation ``x - P(x - c g(x)) = 0`` (Hintermueller, Ito &
Kunisch 2003); it converges locally superlinearly, and on these problems the
active set settles within a few outer iterations from the coarse-to-fine start
(docs/solver.md).

The gradient ``g`` follows the iterate without a product with ``A`` where it
can: the inner solves update it with their products ``A p``, and when the
active-set update or the projection onto the box moves at most
``1/SPARSE_LIMIT`` of the variables it adds their columns of ``A``
(:func:`~gradfusion._solvers._kernels.add_columns`; after the first Newton step
of a scale they move 0.02-0.2% of them). At 1280x720 this takes a cold solve's
products with ``A`` at the finest scale from 36 to 31 (4 Newton steps).

The iterate is projected onto the box after every outer iteration and the
stopping tests are MPRGP's, on a freshly computed gradient at that feasible
point (a product, once a test is due): the estimated relative objective gap (:mod:`gradfusion._solvers.gap`)
or the inf-norm of the projected gradient. Semismooth Newton is not
globally convergent for every convex QP (it may cycle between active sets),
so after ``max_outer`` outer iterations without convergence, after ``stall``
outer iterations in a row without a new best optimality, or on a breakdown of
the inner solve, the run continues with :func:`mprgp` from the current point:
the answer is always MPRGP-exact.

References
----------
M. Hintermueller, K. Ito and K. Kunisch, "The primal-dual active set strategy
as a semismooth Newton method", SIAM J. Optim. 13 (2003) 865-888.
"""

import time

import numpy as np

from .. import _workspace as work
from . import _kernels as K
from .._multigrid.pcg import BREAKDOWN, PCGHooks, pcg
from . import _mg_kernels as G
from .mprgp import SPARSE_LIMIT, STEP_KEYS, QPState, mprgp
from .multigrid import MaskedMultigrid


#: an active-set update that moved at most this fraction of the variables has settled the
#: active set: the inner solve then aims at the gap test (warm-started 1280x720 video
#: frames: the second Newton step moved 0.01-0.03% of the variables on a pan, 0.12-0.16% on
#: a zoom, whose first moved 7-8%)
SETTLED = 5e-3

#: a settled inner solve stops when the predicted estimate ``1/2 r . z`` (the last V-cycle's,
#: scaled by the fall of ``r . r`` since) is at most this fraction of the gap test's
#: threshold (:meth:`gradfusion._solvers.gap.GapTest.threshold`), short of ``inner_rtol`` ...
GAP_STOP = 0.8

#: ... and goes on past ``inner_rtol`` while it is within this factor of it, so that the
#: next check passes where it would fail narrowly (warm-started 1280x720 frames: the check
#: after the second Newton step was 1.1-2.5x its threshold, and cost another Newton step and
#: a second check). Chosen on 36 cold solves (three photographs at 640x480, 1280x720 and
#: 1024x928, two looks, default ``tol`` and 1e-4) and 30 video frames (pan, zoom, ramp of
#: two photographs): inner iterations + checks + Newton steps / 2 (each about a V-cycle's
#: work) went from 170 to 164.5 and 138 to 132.5 (cold), 71 to 59.5 (pan), 77.5 to 63.5
#: (zoom) and 50 to 42 (ramp). A ``GAP_STOP`` of 0.5 gave 168, 132.5, 63.5, 67.5 and 42
#: (an extra inner iteration on the benchmark's 1024x928 and 1280x720 solves), 1.0 about
#: what 0.8 gives; 0.15 with an extension to 10x made the cold solves 15% dearer (extra
#: iterations on active sets that the projection then changed)
GAP_EXTEND = 3.0

#: no gap test right after a settled inner solve whose own last prediction of the estimate was
#: above this many thresholds (it stopped on ``inner_rtol``, past :data:`GAP_EXTEND`): the
#: test would fail. On 38 warm-started 1280x720 pan frames 9 of 47 first tests failed, 5 of
#: them after predictions of 3.1-4.2 thresholds (the estimate came out 1.0-1.7x the
#: prediction; no test that passed had a prediction above 0.76). On the work model's 36 cold
#: solves and 30 video frames of GAP_STOP's note the tests went 19 -> 19 (default tol),
#: 34 -> 32 (1e-4), 14 -> 12 (pan), 11 -> 10 (zoom) and 13 -> 12 (ramp), with the same
#: inner iterations, Newton steps and gaps. None: test anyway
DOOMED = 1.0


def active_set_solve(hessian, b, x, upper, *, tol=0.0, maxiter, callback=None, columns=None,
                     max_outer=30, stall=3, inner_rtol=0.3, max_inner=50, scale=1.0,
                     gap=None):
    """Run the active-set method from ``x`` (modified in place and returned in the state).

    Parameters
    ----------
    hessian : gradfusion._problem.Hessian
        ``A``: its ``matvec``, ``matvec_dot``, ``lipschitz`` and ``centre``, and the
        coarse levels of its multigrid (:class:`MaskedMultigrid`).
    b, x, upper, tol, callback, columns, gap
        As for :func:`mprgp`. With ``columns`` the gradient follows a move of few variables
        (the active-set update, the projection) by their columns of ``A`` instead of a
        product; they also go to the fallback. The gap test is checked at the top of an
        outer iteration when :meth:`~gradfusion._solvers.gap.GapTest.due`, on a gradient
        computed afresh, with one V-cycle of the whole Hessian (the free set's multigrid,
        every variable freed).
    maxiter : int
        Maximum number of inner CG iterations (one V-cycle and one product each),
        fallback MPRGP iterations included.
    max_outer : int
        Outer iterations before falling back to MPRGP.
    stall : int
        Fall back to MPRGP also when this many outer iterations in a row have not
        lowered the best optimality so far (the active sets cycle).
    inner_rtol : float
        An inner solve stops when its residual norm has dropped by this factor, or
        when the residual's inf-norm is below ``tol / 4`` (with ``tol > 0``); after an
        active-set update that moved at most :data:`SETTLED` of the variables, with a gap
        test, when its predicted estimate is below :data:`GAP_STOP` of the test's
        threshold, and not before while it is within :data:`GAP_EXTEND` of it.
    max_inner : int
        Inner iterations per outer iteration at most.
    scale : float
        ``c = scale / A_ii`` in the active-set rule (``A_ii`` the largest interior
        diagonal entry).
        Measured (outer / inner iterations at full resolution): 4134x1496 float32
        1.0: 6 / 13, 0.7 and 0.85: 7 / 15, 1.3: 7 / 16; 1024x928 1.0: 7 / 16, 0.7:
        6 / 14, 0.5: 7 / 17; 2 and 4 make the active sets cycle (1280x720).

    Returns
    -------
    QPState
        ``nit`` counts inner CG iterations (plus fallback MPRGP iterations),
        ``nmatvec`` every product with ``A`` at the finest level and the coarse
        levels' products in fine-level units (a level-``l`` product costs ``4^-l``).
    """
    t0 = time.perf_counter()
    lipschitz = hessian.lipschitz
    abar = 1.9 / lipschitz
    matvec, matvec_dot = hessian.matvec, hessian.matvec_dot
    K.projected_step(x, x, upper, 0.0)
    # work arrays from the sequence's arena inside gradfusion._workspace.kept (a video), else new
    g = work.empty(x.shape, x.dtype)     # C order (the multigrid reshapes level arrays)
    r = work.empty(x.shape, x.dtype)
    z = work.empty(x.shape, x.dtype)     # also the values before a move (add_columns)
    p = work.empty(x.shape, x.dtype)
    ap = work.empty(x.shape, x.dtype)
    moves = work.zeros((x.shape[0] * x.shape[1], 3), np.int64)
    sparse_limit = x.size // SPARSE_LIMIT if columns is not None else -1
    dtype = x.dtype.type          # scalars of the float32 passes in float32 (float64 promotes)
    mask = work.ones(x.shape, np.uint8)
    settled_limit = int(SETTLED * x.size)
    mg = MaskedMultigrid(hessian, x.shape, x.dtype, scratch=ap)
    c = dtype(scale / hessian.centre)
    hooks = _InnerHooks(mg, matvec_dot, mask, dtype, g)
    best, since_best = np.inf, 0
    steps = dict.fromkeys(STEP_KEYS, 0)
    nmatvec = 0.0
    nit = 0
    status = 1
    fallback = False
    checked = False               # the gap estimate is that of the current x
    doomed = False                # the last inner solve predicted a failing gap test
    fresh = False                 # g computed by a product at the current x (not updated)

    def refresh():
        """``g = A x - b`` by a product."""
        nonlocal nmatvec, fresh
        matvec(x, ap)
        K.residual_gradient(ap, b, g)
        nmatvec += 1
        fresh = True

    def follow(moved):
        """``g`` after ``moved`` variables moved (their former values in ``z``): their
        columns of ``A`` when they are few, else a product."""
        nonlocal fresh
        if moved == 0:
            return
        if moved <= sparse_limit:
            K.add_columns(x, z, moves, *columns, g)
            steps["sparse_corrections"] += 1
            fresh = False
        else:
            refresh()

    refresh()
    while True:
        _, _, gp_inf, gp2 = K.projected_gradient_measures(x, g, upper, abar)
        checked = False
        if steps["newton"] and callback is not None and callback(nit, x, g, gp_inf):
            status = 2
            break
        # before its first check the gap test skips the checks that its lower bound shows
        # would fail (gradfusion._solvers.gap.LOWER_FACTOR)
        due = gap is not None and not doomed and gap.due(gp2, x, g)
        if (due or gp_inf <= tol) and not fresh:
            # the stopping tests read a gradient computed afresh (g follows x by updates
            # between them, whose rounding accumulates)
            refresh()
            if gp_inf <= tol:
                _, _, gp_inf, gp2 = K.projected_gradient_measures(x, g, upper, abar)
        if gp_inf <= tol:
            status = 0
            break
        if due:
            done = _check(gap, x, g, z, p, mask, mg)
            nmatvec += gap.products
            checked = True
            if done:
                status = 0
                # the optimality reported is the fresh gradient's
                gp_inf = K.projected_gradient_measures(x, g, upper, abar)[2]
                break
        if nit >= maxiter:
            status = 1
            break
        # the start is not a reference: a Newton step from a warm start (a neighbouring
        # problem's optimum) may raise the optimality before it falls
        if gp_inf < best or steps["newton"] == 1:
            best, since_best = gp_inf, 0
        else:
            since_best += 1
        if steps["newton"] >= max_outer or since_best >= stall:
            fallback = True
            break
        steps["newton"] += 1
        moved = G.active_set(x, g, upper, c, mask, z, moves)[1]
        follow(moved)
        rr, r_inf = G.free_residual(g, mask, r)
        mg.update(mask)
        mg.products = 0
        target = inner_rtol * inner_rtol * rr
        start = nit
        # once the active set has settled, the inner solve aims at the gap test: the free
        # residual's r . z (its V-cycle) is the estimate's numerator on the free variables
        aim = gap.threshold() if gap is not None and moved <= settled_limit else None
        before = [rr]                 # r . r of the residual the last V-cycle saw
        predicted = [0.0]             # the last predicted estimate

        def converged(state, k, start=start, target=target, aim=aim, before=before,
                      predicted=predicted):
            rr, r_inf = state
            if k >= max_inner or r_inf <= 0.25 * tol or start + k >= maxiter:
                return True
            extend = False
            if aim is not None and k > 0 and before[0] > 0.0:
                predicted[0] = 0.5 * hooks.rz * rr / before[0]
                if predicted[0] <= GAP_STOP * aim:
                    return True
                extend = predicted[0] <= GAP_EXTEND * aim
            before[0] = rr
            return not extend and rr <= target

        hooks.matvecs = 0
        k, status_inner, _ = pcg(hooks, x, r, z, p, ap, (rr, r_inf), converged)
        doomed = DOOMED is not None and aim is not None and predicted[0] > DOOMED * aim
        nit += k
        steps["inner_cg"] += k
        nmatvec += hooks.matvecs
        fresh = fresh and k == 0
        fallback = status_inner == BREAKDOWN
        nmatvec += mg.products
        follow(G.project_box(x, upper, z, moves))
        if fallback:
            break
    if fallback:
        del g, r, z, p, ap, mask, mg, hooks   # MPRGP allocates its own work vectors
        done = nit
        inner = None if callback is None else (lambda k, *args: callback(done + k, *args))
        state = mprgp(matvec, b, x, upper, tol=tol, maxiter=max(maxiter - nit, 0),
                      step_scale=lipschitz, callback=inner, columns=columns,
                      matvec_dot=matvec_dot, gap=gap)
        for key in ("cg", "expansion", "proportioning", "sparse_corrections"):
            steps[key] += state.steps[key]
        return QPState(x=state.x, nit=nit + state.nit, nmatvec=int(round(nmatvec)) + state.nmatvec,
                       status=state.status, optimality=state.optimality,
                       time=time.perf_counter() - t0, steps=steps, gap=state.gap)
    # stopped early by maxiter: the returned point's estimate; a stop asked by the callback
    # (a time budget's deadline) ends the run at once: no estimate (a V-cycle, 16 ms of a
    # budgeted 1280x720 frame's 85)
    if gap is not None and not checked and status != 2:
        if not fresh:
            refresh()
        _check(gap, x, g, z, p, mask, mg)
        nmatvec += gap.products
    return QPState(x=x, nit=nit, nmatvec=int(round(nmatvec)), status=status,
                   optimality=float(gp_inf), time=time.perf_counter() - t0, steps=steps,
                   gap=np.nan if gap is None or status == 2 else gap.value)


def _check(gap, x, g, out, z, mask, mg):
    """The gap test at ``x`` with the solver's multigrid, every variable freed (the next
    outer iteration sets the whole mask again)."""
    mask[...] = 1
    mg.update(mask)
    return gap.check(x, g, out, z, mg=mg)


class _InnerHooks(PCGHooks):
    """The inner solves' passes for :func:`gradfusion._multigrid.pcg.pcg`: the masked
    V-cycle (which returns ``r . z``), ``p = z + beta p`` and the product ``A p`` with its
    dot, and the fused update of ``x`` and ``r`` that returns ``(r . r, max |r|)``. Scalars
    go to the passes in the arrays' dtype (a float64 scalar promotes a float32 pass).
    ``matvecs`` counts the products with ``A``."""

    def __init__(self, mg, matvec_dot, mask, dtype, g):
        super().__init__()
        self.g = g
        self.mg = mg
        self.matvec_dot = matvec_dot
        self.mask = mask
        self.dtype = dtype
        self.matvecs = 0
        #: ``r . z`` of the last V-cycle
        self.rz = 0.0

    def precondition(self, r, z):
        self.rz = self.mg.apply(r, z)
        return np.array([self.rz])

    def direction(self, z, p, beta, ap):
        if beta is None:
            p[...] = z
        else:
            G.cg_direction(z, p, self.dtype(beta[0]))
        self.matvecs += 1
        return np.array([self.matvec_dot(p, ap)])

    def step(self, x, r, p, ap, alpha):
        return G.cg_update(x, r, self.g, p, ap, self.mask, self.dtype(alpha[0]))
