r"""The synthesis problem's multigrid levels: a V-cycle for the free block of the QP's Hessian.

The active-set solver needs ``A_FF^{-1}`` approximately, where ``A`` is the
Hessian (a 5x5 stencil, translation invariant away from a two-pixel frame)
and ``F`` the free variables. The hierarchy is geometric and rediscretised:
level ``l`` is the same operator on the grid coarsened ``l`` times (the
problem's own product, which works at any size), restricted to that level's
free set: a coarse cell is free when its whole 2x2 cell below is. Grid
transfers are the bilinear prolongation of the coarse-to-fine driver and
its transpose, masked on both sides (:mod:`gradfusion._multigrid.transfer`).
Smoothing is one Richardson step ``x += (omega / L) r`` before and one after
the coarse correction (``L`` the bound on the level's ``||A||``), and the
coarsest level (at most ``max_direct`` cells per channel) is solved exactly
per channel from a dense pseudo-inverse of its free block
(:class:`gradfusion._multigrid.coarsest.MaskedPseudoInverse`). The cycle and the
hierarchy are the shared ones of :mod:`gradfusion._multigrid`; this module
supplies the levels (:class:`RichardsonLevel`).

A level term (a diagonal ``2 lam`` in the Hessian, :func:`gradfusion.solve`'s
``level_weight``) is coarsened as the lumped Galerkin product: the diagonal of
level ``l + 1`` is ``P^T d_l`` (``P^T 1 = 4`` away from the border, so a scalar
shift grows 4x a level), while the stencil, a second-order operator in grid
units, is the same at every level. Each level smooths with its own bound ``L_l``.
A gradient weight (``gradient_weight``, a map multiplying the Sobel responses)
is coarsened by its 2x2 area average: it scales the stencil, not a diagonal.

Notes
-----
With the same smoothing step before and after and an exact coarsest solve the
cycle is the symmetric operator (:mod:`gradfusion._multigrid.cycle` with
``S = s I``)

    M = s (2 I - s A) + (I - s A) P_m M_c P_m^T (I - s A),  s = omega / L,

on the free variables (``A`` the level's free block, ``P_m`` the masked
prolongation, ``M_c`` the next level's cycle), as conjugate gradients needs;
it is positive definite when ``omega < 2`` (tested against this formula). The coarse operators are
not Galerkin products ``P^T A_FF P``: those vary from cell to cell with the
free set and cost a set-up pass of hundreds of operations per cell per
active-set change, while these cost a mask. Measured against Galerkin
operators: docs/development.md, "One multigrid for both problems".
"""

import numpy as np

from .. import _workspace as work
from .._multigrid import transfer as T
from .._multigrid.coarsest import MaskedPseudoInverse
from .._multigrid.hierarchy import Hierarchy, Level
from . import _mg_kernels as G


class RichardsonLevel(Level):
    """A level of the masked synthesis hierarchy: ``A_l`` (a Hessian of the problem on the
    level's grid) on the free cells, one Richardson step before and after.

    Its passes are fused: :meth:`presmooth` forms the residual ``mask (b - s A b)`` of the
    step ``x = s b`` in the result array itself, and :meth:`postsmooth` forms
    ``x = s b + e + s mask (r - A e)`` (``e`` the masked prolongation of the coarse
    result) and returns ``b . x``.

    Parameters
    ----------
    operator : gradfusion._problem.Hessian
        The level's operator (``matvec``, ``lipschitz``).
    masks : list of ndarray
        The hierarchy's free masks (shared; :meth:`MaskedMultigrid.update` fills them).
    index : int
        This level's index in ``masks``.
    step : float
        ``s = omega / L_l``, in the arrays' dtype.
    ad, ae : ndarray
        Work arrays of the level's shape (``A b``, then the correction ``e``; ``A e``, None
        for an operator with :attr:`~gradfusion._problem.Hessian.fused_smoothing`).
    cost : float
        Cells of the level over the finest level's, times two (products per cycle).
    """

    def __init__(self, operator, masks, index, step, ad, ae, cost):
        self.operator = operator
        self.masks = masks
        self.index = index
        self.step = step
        self.ad = ad
        self.ae = ae
        self.cost = cost
        self.shape = ad.shape

    def matvec(self, x, out):
        """``out = mask A_l x`` (``x`` zero off the mask: the free block ``A_FF``)."""
        self.operator.matvec(x, out)
        out *= self.masks[self.index]

    def smooth(self, b, x, reverse=False, zero=False):
        """``x += s mask (b - A x)`` (from ``x = 0``: ``x = s b``); its own adjoint."""
        if zero:
            x[...] = 0.0
        r = self.work(b)
        self.residual(b, x, r)
        x += self.step * r

    def residual(self, b, x, r):
        self.operator.matvec(x, r)
        np.subtract(b, r, out=r)
        r *= self.masks[self.index]

    def prolong_add(self, xc, x):
        e = np.empty_like(x)
        T.prolong(xc, self.masks[self.index], e)
        x += e

    # the fused composite steps (the primitives above are the textbook cycle they equal);
    # an operator without maps applies A inside the smoothing passes (each row of A b or
    # A e used as it is computed: 13% (float64) and 6% (float32) less time per cycle at
    # 1280x720), others take the product and then the pass
    def presmooth(self, b, x):
        mask = self.masks[self.index]
        if self.operator.fused_smoothing:
            self.operator.pre_smooth(b, mask, self.step, x)
        else:
            self.operator.matvec(b, self.ad)
            G.pre_smooth(b, self.ad, mask, self.step, x)
        return x                          # the residual, held in x until postsmooth

    def restrict(self, r, out):
        T.restrict(r, self.masks[self.index + 1], out)

    def postsmooth(self, b, x, r, xc):
        mask = self.masks[self.index]
        T.prolong(xc, mask, self.ad)      # coarse correction e = mask P x_c (into ad)
        if self.operator.fused_smoothing:
            return self.operator.post_smooth(self.ad, b, r, mask, self.step, x)
        self.operator.matvec(self.ad, self.ae)
        return G.post_smooth(b, self.ad, r, self.ae, mask, self.step, x)


class MaskedMultigrid(Hierarchy):
    """V-cycle approximating ``A_FF^{-1}`` for a changing free set ``F``.

    Parameters
    ----------
    hessian : gradfusion._problem.Hessian
        The finest level's operator (``matvec``, ``lipschitz``, ``dense``, ``replace``).
    shape : tuple
        ``(C, H, W)`` of the finest level.
    dtype : numpy dtype
    omega : float
        Smoothing step in units of ``1 / L_l`` (``L_l`` the bound on the level's
        ``||A||``): one Richardson step ``x += (omega / L_l) r`` before and one after
        each coarse correction.
    max_direct : int
        Coarsen until a level has at most this many cells per channel.
    scratch : ndarray, optional
        A finest-level array the cycle may overwrite (the caller's, to save memory).

    Notes
    -----
    Set up with :meth:`update` (a free set), then apply with :meth:`apply` or
    :meth:`~gradfusion._multigrid.hierarchy.Hierarchy.aspreconditioner`.
    """

    def __init__(self, hessian, shape, dtype, *, omega=1.6, max_direct=64, scratch=None):
        shapes = [tuple(shape)]
        # coarsen until the coarsest level is small, also along the long side of a thin
        # image (a side of 1 stays 1: its prolongation is the identity)
        while shapes[-1][1] * shapes[-1][2] > max_direct:
            C, h, w = shapes[-1]
            shapes.append((C, (h + 1) // 2, (w + 1) // 2))
        self.operators = _coarse_operators(hessian, shapes, dtype)
        self.masks = [None] + [work.zeros(s, np.uint8) for s in shapes[1:]]
        # in the arrays' dtype: a float64 scalar would promote float32 passes (25% slower)
        self.omega = [np.dtype(dtype).type(omega / op.lipschitz) for op in self.operators]
        # per level: A b (then the coarse correction e) and A e; the result array holds the
        # residual until the post-smoothing overwrites it elementwise
        ad = [scratch if scratch is not None else work.empty(shapes[0], dtype)]
        ad += [work.empty(s, dtype) for s in shapes[1:-1]]
        cost = [s[1] * s[2] / (shapes[0][1] * shapes[0][2]) for s in shapes]
        levels = [RichardsonLevel(self.operators[k], self.masks, k, self.omega[k], ad[k],
                                  None if self.operators[k].fused_smoothing
                                  else work.empty(shapes[k], dtype), 2 * cost[k])
                  for k in range(len(shapes) - 1)]
        coarsest = MaskedPseudoInverse(self.operators[-1].dense(shapes[-1][1:]), _ALL_FREE)
        super().__init__(levels, coarsest, shapes, dtype)

    def update(self, mask):
        """Set the finest free set (``uint8``, 1 = free; kept by reference) and derive the
        coarse ones and the coarsest level's inverses."""
        self.masks[0] = mask
        for fine, coarse in zip(self.masks[:-1], self.masks[1:]):
            T.coarse_mask(fine, coarse)
        self.coarsest.update(self.masks[-1])

    def apply(self, r, z):
        """``z = M r``: one V-cycle from zero for the masked residual ``r`` (not modified);
        returns ``r . z`` (float64)."""
        return self.cycle(r, z)


def _coarse_operators(hessian, shapes, dtype):
    """The operator of every level: the same stencil, the level part coarsened by the
    lumped Galerkin product (``shift`` x4, a diagonal map restricted by ``P^T``)."""
    ops = [hessian]
    for shape in shapes[1:]:
        fine = ops[-1]
        diagonal = None
        if fine.diagonal is not None:
            diagonal = np.empty((fine.diagonal.shape[0],) + shape[1:], dtype=dtype)
            T.restrict(fine.diagonal, np.ones(diagonal.shape, dtype=np.uint8), diagonal)
        # a gradient weight multiplies the stencil: the coarse stencil's is its area average
        weight = None if fine.gradient_weight is None else T.downsample(fine.gradient_weight)
        ops.append(fine.replace(shift=4.0 * fine.shift, diagonal=diagonal,
                                gradient_weight=weight))
    return ops


#: pseudo-inverses of whole coarsest-level operators, by their bytes (the gap test's
#: multigrid frees every variable: the same 64-cell operator for every solve of a size and
#: setting, and its eigendecomposition took 13 ms per channel beside Numba's threads, 18%
#: of a 256x256 float32 solve)
_ALL_FREE = {}

