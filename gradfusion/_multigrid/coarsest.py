"""Coarsest-level solvers of a :class:`~gradfusion._multigrid.hierarchy.Hierarchy`.

* :class:`MaskedPseudoInverse`: a dense operator per channel restricted to a changing
  free set (the synthesis problem: its coarsest level has at most 64 cells, and its
  free set changes at every active-set step); a pseudo-inverse, since the bare
  synthesis Hessian is singular.
* :class:`SparseLU`: a sparse LU factor of a fixed operator on a set of unknowns, shared
  by every channel (the Poisson problem: at most 256 unknowns, or a thin region where
  coarsening stalled).
"""

import numpy as np


class MaskedPseudoInverse:
    """``x = A_FF^+ b`` per channel, ``F`` the free cells of the coarsest level.

    Parameters
    ----------
    dense : list of ndarray
        The coarsest operator as a dense ``(n, n)`` matrix per channel (one matrix
        shared by every channel, or one per channel), ``n`` the cells of a channel.
    cache : dict, optional
        Pseudo-inverses of whole operators (every cell free) by their bytes, shared
        between hierarchies: a solver's gap test frees every variable, and the same
        operator returns for every solve of a size and setting (at most 16 entries).

    Notes
    -----
    Eigenvalues below ``1e-12`` of the largest are treated as zero.
    """

    def __init__(self, dense, cache=None):
        self.dense = dense
        self.cache = cache
        self.inverses = []

    def update(self, mask):
        """Set the free set (``uint8`` ``(C, h, w)``, 1 = free) and factor its blocks."""
        self.inverses = []
        for c in range(mask.shape[0]):
            free = np.flatnonzero(mask[c].ravel())
            dense = self.dense[c if len(self.dense) > 1 else 0]
            if free.size == dense.shape[0]:
                inverse = self._whole(dense)
            else:
                inverse = pseudo_inverse(dense[np.ix_(free, free)])
            self.inverses.append((free, inverse))

    def _whole(self, dense):
        if self.cache is None:
            return pseudo_inverse(dense)
        key = (dense.shape, dense.tobytes())
        inverse = self.cache.get(key)
        if inverse is None:
            if len(self.cache) >= 16:
                self.cache.pop(next(iter(self.cache)))
            inverse = self.cache[key] = pseudo_inverse(dense)
        return inverse

    def solve(self, b, x):
        """``x = A_FF^+ b`` per channel (0 off ``F``); returns ``b . x`` (float64)."""
        for c, (free, inverse) in enumerate(self.inverses):
            xc = x[c].reshape(-1)
            xc[...] = 0.0
            if free.size:
                xc[free] = inverse @ b[c].reshape(-1)[free].astype(np.float64)
        return float(np.dot(b.reshape(-1).astype(np.float64), x.reshape(-1)))


def pseudo_inverse(a):
    """Pseudo-inverse of a symmetric positive semi-definite matrix (eigenvalues below
    ``1e-12`` of the largest treated as zero)."""
    if a.size == 0:
        return a
    lam, v = np.linalg.eigh(a)
    keep = lam > 1e-12 * max(lam[-1], 0.0)
    return (v[:, keep] / lam[keep]) @ v[:, keep].T


class SparseLU:
    """``x = A^{-1} b`` on a fixed set of unknowns, one sparse LU factor for every channel.

    Parameters
    ----------
    matrix : scipy.sparse matrix
        ``A`` on the unknowns (square, nonsingular).
    index : ndarray of int
        The unknowns' flat indices in a channel of the level's arrays.
    """

    def __init__(self, matrix, index):
        import scipy.sparse.linalg as spl

        self.index = index
        self.lu = spl.splu(matrix.tocsc(), permc_spec="MMD_AT_PLUS_A")

    def solve(self, b, x):
        """``x = A^{-1} b`` per channel (0 off the unknowns); returns None."""
        C = b.shape[0]
        x[:] = 0.0
        sol = self.lu.solve(np.ascontiguousarray(b.reshape(C, -1)[:, self.index].T))
        x.reshape(C, -1)[:, self.index] = sol.T
        return None
