"""A multigrid V-cycle for the free block of the box QP's Hessian.

The active-set solver needs ``A_FF^{-1}`` approximately, where ``A`` is the
Hessian (a 5x5 stencil, translation invariant away from a two-pixel frame)
and ``F`` the free variables. The hierarchy is geometric and rediscretised:
level ``l`` is the same operator on the grid coarsened ``l`` times (the
problem's own product, which works at any size), restricted to that level's
free set: a coarse cell is free when its whole 2x2 cell below is. Grid
transfers are the bilinear prolongation of the coarse-to-fine driver and
its transpose, masked on both sides. Smoothing is one Richardson step
``x += (omega / L) r`` before and one after the coarse correction (``L`` the
bound on ``||A||`` that every level shares, since every level has the same
symbol), and the coarsest level (at most ``max_direct`` cells per channel) is
solved exactly per channel from a dense pseudo-inverse of its free block.

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
cycle is the symmetric operator

    M = s (2 I - s A) + (I - s A) P_m M_c P_m^T (I - s A),  s = omega / L,

on the free variables (``A`` the level's free block, ``P_m`` the masked
prolongation, ``M_c`` the next level's cycle), as conjugate gradients needs;
it is positive definite when ``omega < 2`` (tested against this formula). The coarse operators are
not Galerkin products ``P^T A_FF P``: those vary from cell to cell with the
free set and cost a set-up pass of hundreds of operations per cell per
active-set change, while these cost a mask. A rediscretised coarse operator
of ``S^T S`` reproduces the fine one's low frequencies (its symbol is
``~64 |w|^2`` at both scales); a prototype measured 14 cycles to the 1e-4 gap
against 11 with Galerkin operators (docs/solver.md).
"""

import numpy as np

from . import _mg_kernels as G
from ._transfer import downsample


class MaskedMultigrid:
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
    """

    def __init__(self, hessian, shape, dtype, *, omega=1.6, max_direct=64, scratch=None):
        shapes = [tuple(shape)]
        # coarsen until the coarsest level is small, also along the long side of a thin
        # image (a side of 1 stays 1: its prolongation is the identity)
        while shapes[-1][1] * shapes[-1][2] > max_direct:
            C, h, w = shapes[-1]
            shapes.append((C, (h + 1) // 2, (w + 1) // 2))
        self.shapes = shapes
        self.operators = _coarse_operators(hessian, shapes, dtype)
        self.masks = [None] + [np.zeros(s, dtype=np.uint8) for s in shapes[1:]]
        # per level: the right-hand side b (level 0: the caller's), the result x (level 0:
        # the caller's), which holds the residual r until the post-smoothing overwrites it
        # elementwise, A b (then the coarse correction e) and A e
        self.b = [None] + [np.empty(s, dtype=dtype) for s in shapes[1:]]
        self.x = [None] + [np.empty(s, dtype=dtype) for s in shapes[1:]]
        self.ad = [scratch if scratch is not None else np.empty(shapes[0], dtype=dtype)]
        self.ad += [np.empty(s, dtype=dtype) for s in shapes[1:-1]]
        self.ae = [np.empty(s, dtype=dtype) for s in shapes[:-1]]
        # in the arrays' dtype: a float64 scalar would promote float32 passes (25% slower)
        self.omega = [np.dtype(dtype).type(omega / op.lipschitz) for op in self.operators]
        self._dense = self.operators[-1].dense(shapes[-1][1:])
        self._inverses = [None] * shapes[-1][0]
        #: products with A since the last reset, in finest-level units (a level-l
        #: product counts its cells over the finest level's)
        self.products = 0.0
        self._cost = [s[1] * s[2] / (shapes[0][1] * shapes[0][2]) for s in shapes]

    def update(self, mask):
        """Set the finest free set (``uint8``, 1 = free; kept by reference) and derive the
        coarse ones and the coarsest level's inverses."""
        self.masks[0] = mask
        for fine, coarse in zip(self.masks[:-1], self.masks[1:]):
            G.coarse_mask(fine, coarse)
        last = self.masks[-1]
        for c in range(last.shape[0]):
            free = np.flatnonzero(last[c].ravel())
            dense = self._dense[c if len(self._dense) > 1 else 0]
            if free.size == dense.shape[0]:
                inverse = _all_free_inverse(dense)
            else:
                inverse = _pseudo_inverse(dense[np.ix_(free, free)])
            self._inverses[c] = (free, inverse)

    def apply(self, r, z):
        """``z = M r``: one V-cycle from zero for the masked residual ``r`` (not modified);
        returns ``r . z``."""
        self.x[0] = z
        return self._cycle(0, r)

    def _cycle(self, level, b):
        """``x[level]`` = the cycle from zero for the right-hand side ``b`` (masked; only
        read), and ``b . x`` returned (float64). One Richardson step ``x = omega b`` before
        the coarse correction and one after; the residual after the first step is held in
        ``x[level]`` itself until the post-smoothing pass overwrites it elementwise."""
        x = self.x[level]
        if level == len(self.shapes) - 1:
            for c, (free, inverse) in enumerate(self._inverses):
                xc = x[c].reshape(-1)
                xc[...] = 0.0
                if free.size:
                    xc[free] = inverse @ b[c].reshape(-1)[free].astype(np.float64)
            return float(np.dot(b.reshape(-1).astype(np.float64), x.reshape(-1)))
        r, mask, ad, ae = x, self.masks[level], self.ad[level], self.ae[level]
        matvec, omega = self.operators[level].matvec, self.omega[level]
        matvec(b, ad)                             # pre-smoothing x = omega b, residual r
        G.pre_smooth(b, ad, mask, omega, r)
        coarse = level + 1
        G.restrict(r, self.masks[coarse], self.b[coarse])
        self._cycle(coarse, self.b[coarse])
        G.prolong(self.x[coarse], mask, ad)       # coarse correction e = mask P x_c (into ad)
        matvec(ad, ae)
        self.products += 2 * self._cost[level]
        return G.post_smooth(b, ad, r, ae, mask, omega, x)


def _coarse_operators(hessian, shapes, dtype):
    """The operator of every level: the same stencil, the level part coarsened by the
    lumped Galerkin product (``shift`` x4, a diagonal map restricted by ``P^T``)."""
    ops = [hessian]
    for shape in shapes[1:]:
        fine = ops[-1]
        diagonal = None
        if fine.diagonal is not None:
            diagonal = np.empty((fine.diagonal.shape[0],) + shape[1:], dtype=dtype)
            G.restrict(fine.diagonal, np.ones(diagonal.shape, dtype=np.uint8), diagonal)
        # a gradient weight multiplies the stencil: the coarse stencil's is its area average
        weight = None if fine.gradient_weight is None else downsample(fine.gradient_weight)
        ops.append(fine.replace(shift=4.0 * fine.shift, diagonal=diagonal,
                                gradient_weight=weight))
    return ops


#: pseudo-inverses of whole coarsest-level operators, by their bytes (the gap test's
#: multigrid frees every variable: the same 64-cell operator for every solve of a size and
#: setting, and its eigendecomposition took 13 ms per channel beside Numba's threads, 18%
#: of a 256x256 float32 solve)
_ALL_FREE = {}


def _all_free_inverse(dense):
    """:func:`_pseudo_inverse` of a whole coarsest-level operator, cached (16 entries)."""
    key = (dense.shape, dense.tobytes())
    inverse = _ALL_FREE.get(key)
    if inverse is None:
        if len(_ALL_FREE) >= 16:
            _ALL_FREE.pop(next(iter(_ALL_FREE)))
        inverse = _ALL_FREE[key] = _pseudo_inverse(dense)
    return inverse


def _pseudo_inverse(a):
    """Pseudo-inverse of a symmetric positive semi-definite matrix (eigenvalues below
    ``1e-12`` of the largest treated as zero: the bare problem's Hessian is singular)."""
    if a.size == 0:
        return a
    lam, v = np.linalg.eigh(a)
    keep = lam > 1e-12 * max(lam[-1], 0.0)
    return (v[:, keep] / lam[keep]) @ v[:, keep].T
