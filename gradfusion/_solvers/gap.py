"""The solvers' stopping test: an estimate of the relative objective gap.

For the box QP ``min q(x) = 1/2 x^T A x - b^T x`` over ``0 <= x <= u`` and a
feasible ``x`` with gradient ``g = A x - b``, read the bound multipliers off the
gradient (``g_i`` where ``x_i = 0`` and ``g_i >= 0``, ``-g_i`` where ``x_i = u_i``
and ``g_i <= 0``, zero elsewhere). The Lagrangian with these multipliers has the
gradient ``gp`` at ``x`` (the projected gradient: ``g`` on the free variables,
the part of ``g`` that points into the box at a bound) and the value ``q(x)``
there (complementarity), so weak duality gives the bound

    q(x) - q*  <=  1/2 gp^T A^{-1} gp.

It is the exact gap once the active set is right and the free block is
unconstrained, and a bound everywhere. ``A^{-1}`` is replaced by one
multigrid V-cycle ``M`` of the whole Hessian (:class:`MaskedMultigrid`, every
variable free; one cycle costs about three products with ``A``), and the gap is
taken relative to the objective itself, ``phi(x) = 1/2 (x - t)^T A (x - t)``
(``t`` the target, ``b = A t``; the minimised objective is ``2 phi / m``):

    gap(x) = 1/2 gp^T M gp / phi(x).

Measured (docs/solver.md), ``gap`` was 0.86-0.96x the true relative gap
``(F(x) - F*) / F(x)`` on the benchmark photographs near the default ``tol`` with
the default objective, and 0.63-1.1x on 1280x720 video frames; with the paper's
objective 1.6-150x (the cycle over-weights the low frequencies of ``gp`` against
``A^{-1}``, 1.3-5.5x the exact bound, which is itself 1.2-6x the gap), and
0.6-12x on small random images. It is an estimate, not a certificate: ``M`` is not
``A^{-1}`` (the eigenvalues of ``M A`` lie in 0.27-10 with the default
regulariser, so ``gap / 0.27`` bounds the true gap there).

The run stops when ``1/2 gp^T M gp <= tol phi(x) + floor``. ``floor`` is the
estimate's rounding level in the arrays' dtype: a gradient computed in
floating point carries errors of about ``eps (s |x_i| + |b_i|)`` per entry
(``s`` the largest absolute row sum of ``A``), worth
``1/2 eps^2 sum (s |x_i| + |b_i|)^2 / A_ii`` in the estimate, times
:data:`FLOOR_FACTOR`. Without it a float32 solve asked for a gap its rounding
cannot show, or any solve of a proposal the display reproduces exactly
(``phi* = 0``, where the relative gap stays of order 1), would iterate on noise
until ``maxiter``.

The coarse-to-fine driver tests the gap at the finest scale only (the coarse
scales stop on the projected gradient's inf-norm). A check costs a V-cycle, so
the solvers do not check at every iteration: after the first check (at the
second iteration of a scale started from a coarser scale's solution, which is
never converged yet) they predict the estimate from the squared
projected-gradient norm, which their KKT passes compute anyway
(``est * |gp|^2 / |gp_last|^2``), and check again when the prediction is within
:data:`CHECK_FACTOR` of the threshold and at most half the last estimate.
Before the first check the active-set method also skips the checks that a lower bound
of the estimate shows would fail (:data:`LOWER_FACTOR`): the first check after a
scale's first Newton step was 1e4-1e5 times the threshold and always failed. This took
the products with ``A`` of 20 cold solves (1280x720 and 1024x928, real photographs)
from 627 to 571 at full resolution, with the same Newton steps and gaps, and a
warm-started video frame's from 23 to 19 (pan) and 28 to 24 (zoom).
"""

import numpy as np

from .._stencils import REFLECT
from . import _kernels as K
from .multigrid import MaskedMultigrid

#: the floor's factor over the rounding model (calibrated on float32 solves run to the
#: rounding level: docs/solver.md)
FLOOR_FACTOR = 10.0

#: check when the predicted estimate is within this factor of the threshold
CHECK_FACTOR = 4.0

#: the gap is also small enough below ``tol`` times this fraction of ``phi_0``, the objective
#: of displaying nothing (``1/2 t^T A t``): a proposal the display reproduces exactly has
#: ``phi* = 0``, where a gap relative to ``phi`` alone stays of order 1 and the solve ran to
#: the rounding floor (``solve(I, I, 0.7)`` on a 768x1152 photograph: 28 Newton steps, 24 s)
EMPTY_FRACTION = 1e-6

#: before its first check a solve skips the checks while ``LOWER_FACTOR |gp|^2 / (2 L)`` (``L``
#: the largest eigenvalue of ``A``) is above the threshold. ``gp^T A^{-1} gp >= |gp|^2 / L``
#: and ``gp^T M gp >= lambda_min(M A) gp^T A^{-1} gp``, with ``lambda_min(M A)`` 0.27 with the
#: default regulariser, prove a factor of 0.27; 0.5 is measured, not proven: the estimate was
#: 2.0-11x ``|gp|^2 / (2 L)`` at the checks of 12 cold solves of real photographs (640x480 and
#: 1280x720), and the first check after the first Newton step, 1e4-1e5 times the threshold,
#: always failed. A check skipped wrongly is never a wrong answer, only a later stop
LOWER_FACTOR = 0.5

#: :data:`LOWER_FACTOR` on a singular Hessian (``lambda_min(M A)`` was 0.03 there)
SINGULAR_LOWER_FACTOR = 0.05

#: ``tol`` is multiplied by this on a singular Hessian: without a regulariser (singular
#: along the Sobel operator's Nyquist null space, or held there only by a level term) and
#: with reflected borders and no level term (constants are a null direction). The dual
#: bound is infinite (or huge) along the null space and one V-cycle a poor inverse there
#: (its smallest eigenvalue against ``A^{-1}`` is 0.03 with no regulariser and a level
#: weight of 0.3, against 0.19-0.30 with one): the estimate was 0.01-0.6x the true gap on
#: small random images (without a regulariser; 0.12 once with reflected borders)
SINGULAR_TOL_FACTOR = 1e-3


def objective(x, g, target):
    """``phi(x) = 1/2 (x - t)^T A (x - t)`` from ``x``, its gradient ``g = A x - b`` (``b = A
    t``) and the target ``t``: two dot products (float64)."""
    return 0.5 * (K.dot(x, g) - K.dot(target, g))


def empty_objective(b, target):
    """``phi_0 = 1/2 t^T A t = 1/2 b . t``, the objective of displaying nothing (in the arrays'
    dtype: it only scales :data:`EMPTY_FRACTION`'s floor)."""
    return 0.5 * float(np.dot(b.ravel(), target.ravel()))


def relative_scale(phi, phi0):
    """What a gap at objective ``phi`` is relative to: ``phi``, at least :data:`EMPTY_FRACTION`
    of ``phi0`` (:func:`empty_objective`)."""
    return max(phi, EMPTY_FRACTION * phi0)


def is_singular(hessian):
    """Whether ``A`` is singular or nearly so (see :data:`SINGULAR_TOL_FACTOR`)."""
    if hessian.reg_weight == 0.0:
        return True
    no_level = hessian.shift == 0.0 and (hessian.diagonal is None
                                         or float(hessian.diagonal.min()) <= 0.0)
    return hessian.mode == REFLECT and no_level


class GapTest:
    """The gap estimate and stopping test of one solve at one scale.

    Parameters
    ----------
    hessian : gradfusion._problem.Hessian
        ``A`` (its ``abs_row_sum``, ``centre`` and the multigrid's levels).
    b, target, upper : ndarray
        The linear term ``b = A t``, the target ``t`` and the upper bounds per channel.
    tol : float
        Stop when the estimated relative gap is at most ``tol`` (or at the floor).
    skip_first : bool
        No check at the first call of :meth:`due` (the start came from a coarser scale:
        its fine detail is never solved yet, and a check there was always wasted).
    reference : float, optional
        Measure the gap against this objective value (``phi`` in sum form) instead of
        the point's own: a window of a larger problem stops at ``tol`` times the whole
        problem's objective (:mod:`gradfusion._solvers.window`).
    """

    def __init__(self, hessian, b, target, upper, tol, skip_first=False, reference=None):
        self.hessian = hessian
        self.b = b
        self.target = target
        self.upper = upper
        singular = is_singular(hessian)
        self.tol = float(tol) * (SINGULAR_TOL_FACTOR if singular else 1.0)
        self.lower_factor = SINGULAR_LOWER_FACTOR if singular else LOWER_FACTOR
        self.lipschitz = float(hessian.lipschitz)
        self._floor_bound = None
        self.eps = float(np.finfo(b.dtype).eps)
        self.row_sum = b.dtype.type(hessian.abs_row_sum)
        self.centre = hessian.centre
        # in the arrays' dtype: phi_0 only scales the floor EMPTY_FRACTION phi_0, and two
        # float64 copies of the image cost 8% of a warm-started 1280x720 frame
        self.phi0 = empty_objective(b, target)
        self.checks = 0
        #: ``(estimate, phi, floor, |gp|^2)`` of the last check
        self.last = None
        #: the relative gap estimate of the last check (``estimate / max(phi, EMPTY_FRACTION
        #: phi_0)``)
        self.value = np.nan
        self.products = 0.0
        self._skip = bool(skip_first)
        self._mg = None
        self._phi = None                   # phi at the last point :meth:`due` measured
        self.reference = None if reference is None else float(reference)

    def due(self, gp2, x=None, g=None):
        """Whether a check is worth its V-cycle at a point whose ``|gp|^2`` is ``gp2``.

        Before the first check, with the point ``x`` and its gradient ``g`` (two dot
        products give its objective), no check while the lower bound of the estimate
        (:data:`LOWER_FACTOR`) is above the threshold; without them, a check.
        """
        if self._skip:
            self._skip = False
            return False
        if self.last is None:
            if x is None:
                return True
            phi = objective(x, g, self.target)
            self._phi = phi
            lower = self.lower_factor * 0.5 * gp2 / self.lipschitz
            return lower <= self._threshold(phi, self.floor_bound())
        est, phi, floor, gp2_last = self.last
        predicted = est * gp2 / gp2_last if gp2_last > 0.0 else 0.0
        # and at least halved since the last check: MPRGP's |gp|^2 fluctuates from one
        # iteration to the next, and a check at every iteration near the threshold would
        # double the cost of the iterations there
        return predicted <= min(CHECK_FACTOR * self._threshold(phi, floor), 0.5 * est)

    def floor_bound(self):
        """An upper bound of the floor at any feasible point: ``(s |x| + |b|)^2 <= 2 s^2 u^2
        + 2 b^2`` (``u`` the upper bounds) in the rounding model (one pass, on first use)."""
        if self._floor_bound is None:
            upper = np.asarray(self.upper, dtype=np.float64)
            cells = self.target.size / max(upper.size, 1)
            u2 = float(np.sum(upper * upper)) * cells
            s = float(self.row_sum)
            noise = 2.0 * (s * s * u2 + K.dot(self.b, self.b))
            self._floor_bound = FLOOR_FACTOR * 0.5 * self.eps * self.eps * noise / self.centre
        return self._floor_bound

    def threshold(self):
        """The stopping threshold of the estimate's numerator ``1/2 gp^T M gp`` near the
        current point: with the objective ``phi`` and floor of the last check (before it, the
        ``phi`` that :meth:`due` measured and the floor's bound), or None before either.
        ``phi`` moves by the gap itself from one point to the next near the optimum, so
        this is the threshold of the next check to that accuracy (what the active-set
        method's inner solves aim at: :data:`gradfusion._solvers.active_set.GAP_STOP`)."""
        if self.last is not None:
            _, phi, floor, _ = self.last
            return self._threshold(phi, floor)
        if self._phi is not None:
            return self._threshold(self._phi, self.floor_bound())
        return None

    def _scale(self, phi):
        """What the gap is relative to: ``phi`` (at least :data:`EMPTY_FRACTION` of
        ``phi_0``), or the ``reference``."""
        if self.reference is not None:
            return self.reference
        return relative_scale(phi, self.phi0)

    def _threshold(self, phi, floor):
        return self.tol * self._scale(phi) + floor

    def check(self, x, g, out, z, mg=None, scratch=None):
        """Estimate the gap at ``x`` (``g`` its gradient, computed from scratch); return True
        when the run may stop.

        ``out`` and ``z`` are work arrays (the projected gradient and its V-cycle); ``mg``
        the caller's multigrid with every variable free, or None for this test's own (built
        on first use, with ``scratch`` as its finest work array).
        """
        phi2, noise, gp2 = K.gap_measures(x, g, self.target, self.b, self.upper,
                                          self.row_sum, out)
        if mg is None:
            mg = self._multigrid(x, scratch)
        mg.products = 0.0
        est = 0.5 * mg.apply(out, z) if gp2 > 0.0 else 0.0
        #: products with ``A`` of the last check's cycle, in finest-level units
        self.products = mg.products
        phi = 0.5 * phi2
        floor = FLOOR_FACTOR * 0.5 * self.eps * self.eps * noise / self.centre
        self.checks += 1
        self.last = (est, phi, floor, gp2)
        scale = self._scale(phi)
        self.value = est / scale if scale > 0.0 else (0.0 if est <= 0.0 else np.inf)
        return est <= self._threshold(phi, floor)

    def _multigrid(self, x, scratch):
        if self._mg is None:
            self._mg = MaskedMultigrid(self.hessian, x.shape, x.dtype, scratch=scratch)
            self._mg.update(np.ones(x.shape, dtype=np.uint8))
        return self._mg

    def release(self):
        """Drop the own multigrid's arrays (the run is over)."""
        self._mg = None
