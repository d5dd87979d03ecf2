"""The conjugate gradients of a blend (private): the drivers, their hooks into the shared loop,
and the restarts from the true residual.

:func:`solve` runs :func:`fused_pcg` (the multigrid-preconditioned iteration, its fine level
fused into two passes of :mod:`~gradfusion._poisson.fused_kernels`) or, when the hierarchy has
no coarse level, :func:`single_level_pcg` (the sparse LU as the preconditioner); the loop
itself, its scalar recurrences, stopping and breakdown, is
:func:`gradfusion._multigrid.pcg.pcg`, all channels at once with per-channel scalars.
"""

import numba
import numpy as np

from .._multigrid.pcg import PCGHooks, pcg
from . import fused_kernels as fk
from . import grid
from . import level_kernels as lk

#: restarts of the conjugate gradients from the true residual before giving up on ``rtol``
RESTARTS = 3


def solve(hier, b, x, rtol, maxiter):
    """Solve ``A x = b`` on the hierarchy ``hier`` (:class:`~.levels.PoissonHierarchy`) from the
    initial guess ``x`` (updated in place) to a relative residual ``rtol`` per channel;
    returns ``(nit, rel, status)``.

    ``rel`` holds each channel's relative residual ``||b - A x|| / ||b||``, recomputed from
    scratch after the iterations; ``status`` is 0 when every channel is at most ``rtol``, 1
    at ``maxiter`` iterations, 2 when :data:`RESTARTS` restarts from the true residual (the
    recursive one drifted from it) did not get there: ``rtol`` is below the rounding of this
    system.
    """
    C, Hp, Wp = b.shape
    nit = 0
    bn = np.sqrt(fk.dots(b, b))
    bn[bn == 0] = 1.0
    edges = grid.band_edges(Hp, C, numba.get_num_threads())
    norms, row = np.empty(C), np.empty((C, 1, Wp))
    for _ in range(RESTARTS):               # restart if the recursive residual drifted
        nit += fused_pcg(hier, b, x, rtol, maxiter - nit, bn, edges)
        fk.count_residual(hier.count, hier.level_spans[0], x, b, row, edges, norms)   # norms only
        rel = np.sqrt(norms) / bn
        if np.all(rel <= rtol) or nit >= maxiter:
            break
    status = 0 if np.all(rel <= rtol) else (1 if nit >= maxiter else 2)
    return nit, rel, status


class FusedHooks(PCGHooks):
    """The multigrid-preconditioned iteration of :func:`fused_pcg` as hooks of the shared loop
    (:func:`gradfusion._multigrid.pcg.pcg`), all channels at once with per-channel scalars.

    The fine level's work of an iteration is two fused passes (see
    :mod:`~gradfusion._poisson.fused_kernels`): :meth:`~.levels.FineLevel.step_presmooth`
    (the step, then the V-cycle down to the first coarse level; the first call forms the
    initial residual and starts the first V-cycle) and
    :meth:`~.levels.FineLevel.prolong_postsmooth` (back up, and the scalars ``<r, z>``,
    ``<z, A z>``, ``<z, A p>`` that give the next step length:
    ``<p', A p'> = <z, A z> + 2 beta <z, A p> + beta^2 <p, A p>`` for ``p' = z + beta p``,
    so no ``A p`` is stored). The levels below run the shared V-cycle
    (:meth:`~gradfusion._multigrid.hierarchy.Hierarchy.cycle_below`). The direction
    ``p' = z + beta p`` is formed by the next step's pass.
    """

    def __init__(self, hier, b, edges):
        super().__init__(blocks=b.shape[0])
        self.hier, self.fine, self.b, self.edges = hier, hier.levels[0], b, edges
        C = b.shape[0]
        self.rr, self.sums = np.zeros(C), np.zeros((C, 3))
        self.beta = np.zeros(C)
        self.pq = None

    def start(self, x, r, p, z):
        """The initial residual (no step) and the first half of the first V-cycle; keeps
        the direction and preconditioned residual arrays (the fused passes read them)."""
        self.p, self.z = p, z
        self.fine.step_presmooth(x, r, p, z, np.zeros(self.blocks), self.beta, self.rr,
                                 self.edges, self.b, True)
        return self.rr

    def precondition(self, r, z):
        self.hier.cycle_below(0)
        self.fine.prolong_postsmooth(r, z, self.p, self.sums, self.edges)
        return self.sums[:, 0].copy()

    def direction(self, z, p, beta, ap):
        zaz, zap = self.sums[:, 1], self.sums[:, 2]
        if beta is None:
            self.beta = np.zeros(self.blocks)
            self.pq = zaz.copy()
        else:
            self.beta = beta
            self.pq = zaz + 2.0 * beta * zap + beta * beta * self.pq
        return self.pq

    def step(self, x, r, p, ap, alpha):
        self.fine.step_presmooth(x, r, p, self.z, alpha, self.beta, self.rr, self.edges, self.b,
                                 False)
        return self.rr


def fused_pcg(hier, b, x, rtol, maxiter, bnorm, edges):
    """Preconditioned CG, all channels at once with per-channel scalars; returns nit.

    Stops when every channel's recursive residual is at most ``rtol * bnorm``
    (``bnorm`` per channel, no zeros); ``edges`` are the row bands of the fused
    passes (:func:`~.grid.band_edges`). The loop is the shared one
    (:func:`gradfusion._multigrid.pcg.pcg`, ``breakdown="freeze"``: a channel whose
    ``<r, z>`` or curvature is 0 takes no step); with coarse levels its passes are the
    fused ones of :class:`FusedHooks`.
    """
    if len(hier.kinds) == 1:
        return single_level_pcg(hier, b, x, rtol, maxiter, bnorm)
    r = np.zeros_like(b)             # 0 outside the row spans of unknowns; the first pass fills it
    z = np.zeros_like(b)
    p = np.zeros_like(b)
    hooks = FusedHooks(hier, b, edges)
    rr = hooks.start(x, r, p, z)
    nit, _, _ = pcg(hooks, x, r, z, p, None, rr,
                    lambda rr, k: np.all(np.sqrt(rr) <= rtol * bnorm) or k >= maxiter,
                    breakdown="freeze")
    return nit


class SingleLevelHooks(PCGHooks):
    """The iteration of :func:`single_level_pcg`: the coarsest solve as the preconditioner,
    the direction with ``A p`` and ``<p, A p>`` in one pass
    (:func:`~.fused_kernels.fused_direction_apply`)."""

    def __init__(self, hier, C):
        super().__init__(blocks=C)
        self.hier = hier
        self.m, self.d = hier.masks[0], hier.ops[0]
        self.pq = np.zeros(C)

    def precondition(self, r, z):
        self.hier.cycle(r, z)
        self.rz = fk.dots(r, z)
        return self.rz

    def direction(self, z, p, beta, ap):
        beta = 0.0 * self.rz if beta is None else beta
        fk.fused_direction_apply(self.m, self.d, z, p, beta, ap, self.pq)
        return self.pq

    def step(self, x, r, p, ap, alpha):
        alpha = alpha[:, None, None]
        x += alpha * p
        r -= alpha * ap
        return fk.dots(r, r)


def single_level_pcg(hier, b, x, rtol, maxiter, bnorm):
    """Conjugate gradients preconditioned by the exact sparse LU solve (no coarse levels: small
    or thin regions, where one iteration converges)."""
    r = np.empty_like(b)
    lk.residual(hier.masks[0], hier.ops[0], x, b, r)
    z, p, q = np.zeros_like(b), np.zeros_like(b), np.zeros_like(b)
    hooks = SingleLevelHooks(hier, b.shape[0])
    nit, _, _ = pcg(hooks, x, r, z, p, q, fk.dots(r, r),
                    lambda rr, k: np.all(np.sqrt(rr) <= rtol * bnorm) or k >= maxiter,
                    breakdown="freeze")
    return nit
