"""The Poisson multigrid levels and their hierarchy (private): the set-up half of a blend's
preconditioner.

:class:`PoissonHierarchy` builds, from the cell kinds of the padded grid
(:mod:`~gradfusion._poisson.grid`), the levels' operators (the fine 5-point Laplacian, Galerkin
9-point coarse stencils) and transfer tables; its levels, :class:`FineLevel` and
:class:`CoarseLevel`, plug into :mod:`gradfusion._multigrid` (the V-cycle, the level protocol,
the coarsest solve), their work done by the kernels of :mod:`~gradfusion._poisson.level_kernels`
and, for the fine level inside the conjugate gradients, :mod:`~gradfusion._poisson.fused_kernels`.
Why Galerkin coarse operators here and rediscretised ones in the synthesis solver:
docs/development.md, "One multigrid for both problems".
"""

import numpy as np

from .._multigrid.coarsest import SparseLU
from .._multigrid.hierarchy import Hierarchy, Level
from . import fused_kernels as fk
from . import grid
from . import level_kernels as lk

#: stop coarsening when a level has at most this many unknowns (then a dense solve)
COARSEST_UNKNOWNS = 256


def galerkin_constant(stencil):
    """Interior Galerkin stencil ``P^T A P`` of a constant 3x3 stencil (bilinear ``P``)."""
    from scipy.signal import convolve2d

    p = np.array([[0.25, 0.5, 0.25], [0.5, 1.0, 0.5], [0.25, 0.5, 0.25]])
    full = convolve2d(convolve2d(p, np.asarray(stencil).reshape(3, 3)), p)   # 7x7
    return np.ascontiguousarray(full[1:6:2, 1:6:2]).ravel()


class FineLevel(Level):
    """The finest Poisson level: the 5-point operator ``m (d x - x_N - x_S - x_E - x_W)``,
    red-black Gauss-Seidel (black-red after the coarse correction), vertex-centred
    transfers to level 1; and its two fused passes for the conjugate gradients
    (:meth:`step_presmooth`, :meth:`prolong_postsmooth`), which run the level's half of
    the V-cycle together with a step of the iteration."""

    def __init__(self, hier, C):
        self.shape = (C,) + hier.kinds[0].shape
        self.count, self.spans = hier.count, hier.level_spans[0]
        self.m, self.d, self.inv_d = hier.masks[0], hier.ops[0], hier.inv_d[0]
        self.mask_c = hier.masks[1]
        self.edges, self.edges_c = hier.level_edges[0], hier.level_edges[1]
        self.tables, self.restriction = hier.tables[0], hier.restrictions[0]

    def matvec(self, x, out):
        lk.residual(self.m, self.d, x, np.zeros_like(x), out)
        np.negative(out, out=out)

    def smooth(self, b, x, reverse=False, zero=False):
        if zero:
            x[:] = 0.0
        lk.gauss_seidel(self.inv_d, x, b, reverse)

    def residual(self, b, x, r):
        lk.residual(self.m, self.d, x, b, r)

    def restrict(self, r, out):
        lk.restrict(r, self.mask_c, *self.restriction, self.spans, self.edges_c, out)

    def prolong_add(self, xc, x):
        lk.prolong_add(xc, self.m, *self.tables, self.spans, self.edges, x)

    def step_presmooth(self, x, r, p, z, alpha, beta, rr, edges, b, first):
        """:func:`~.fused_kernels.fused_step_presmooth` into the next level's
        right-hand side (:attr:`b_c`, the hierarchy's ``b[1]``)."""
        fk.fused_step_presmooth(self.count, self.spans, x, r, p, z, alpha, beta,
                                *self.restriction, self.mask_c, self.b_c, rr, edges, b, first)

    def prolong_postsmooth(self, r, z, p, sums, edges):
        """:func:`~.fused_kernels.fused_prolong_postsmooth` from the next
        level's result (:attr:`x_c`, the hierarchy's ``x[1]``)."""
        fk.fused_prolong_postsmooth(self.count, self.spans, r, z, p, self.x_c, *self.tables,
                                    sums, edges)


class CoarseLevel(Level):
    """A coarse Poisson level ``lev``: the Galerkin 9-point stencil (regular rows from its
    interior constant), lexicographic Gauss-Seidel within row bands (backward after the
    correction), vertex-centred transfers to level ``lev + 1``."""

    def __init__(self, hier, lev, C):
        self.shape = (C,) + hier.kinds[lev].shape
        self.m, self.st, self.const = hier.masks[lev], hier.ops[lev], hier.consts[lev]
        self.inv_d, self.irregular = hier.inv_d[lev], hier.irregular[lev]
        self.spans, self.edges = hier.level_spans[lev], hier.level_edges[lev]
        self.mask_c, self.edges_c = hier.masks[lev + 1], hier.level_edges[lev + 1]
        self.tables, self.restriction = hier.tables[lev], hier.restrictions[lev]
        self.r = np.zeros(self.shape)

    def matvec(self, x, out):
        out[...] = 0.0                   # the 9-point passes write the rows' spans of unknowns only
        self.residual(np.zeros_like(x), x, out)
        np.negative(out, out=out)

    def smooth(self, b, x, reverse=False, zero=False):
        lk.gauss_seidel9(self.inv_d, self.st, self.const, *self.irregular, self.spans,
                         self.edges, x, b, reverse, zero)

    def residual(self, b, x, r):
        lk.residual9(self.m, self.st, self.const, *self.irregular, self.spans, self.edges, x, b,
                     r)

    def work(self, b):
        return self.r

    def restrict(self, r, out):
        lk.restrict(r, self.mask_c, *self.restriction, self.spans, self.edges_c, out)

    def prolong_add(self, xc, x):
        lk.prolong_add(xc, self.m, *self.tables, self.spans, self.edges, x)


class PoissonHierarchy(Hierarchy):
    """Vertex-centred Galerkin multigrid of the masked Laplacian (see :mod:`~.level_kernels`).

    ``kind`` is the fine level's cell kinds (padded grid); ``rows`` and
    ``cols`` the inclusive ranges of padded indices inside the image (they
    may reach beyond the array). Field arrays are ``(C, H, W)``. The set-up
    builds the levels' operators and transfer tables; the cycle, the levels'
    protocol and the coarsest solve are those of :mod:`gradfusion._multigrid`
    (levels :class:`FineLevel` and :class:`CoarseLevel`, a
    :class:`~gradfusion._multigrid.coarsest.SparseLU` at the coarsest).
    """

    def __init__(self, kind, rows, cols, C):
        count, m, d, inv_d, reg = lk.fine_operator(kind)
        self.kinds = [kind]
        self.count = count                           # the fine operator for the fused passes
        self.masks = [m]
        self.ranges = [(rows[0], rows[1], cols[0], cols[1])]
        self.ops = [d]                               # level 0: the 5-point diagonal
        self.regs = [None]                           # coarse levels: regular-row flags, ...
        self.irregular = [None]                      # ... the other unknowns by row, ...
        self.consts = [None]                         # ... and the interior constant stencil
        self.inv_d = [inv_d]
        consts = [np.array([0.0, -1.0, 0.0, -1.0, 4.0, -1.0, 0.0, -1.0, 0.0])]
        dummy_st, dummy_d = np.zeros((9, 1, 1)), np.zeros((1, 1))
        while True:
            k = self.kinds[-1]
            n_fine = int(np.count_nonzero(k == grid.UNKNOWN))
            if n_fine <= COARSEST_UNKNOWNS:
                break
            rlo, rhi, clo, chi = self.ranges[-1]
            rng_c = ((rlo + 1) // 2, rhi // 2, (clo + 1) // 2, chi // 2)
            kc = self.coarsen(k, rng_c)
            uc = kc == grid.UNKNOWN
            n_coarse = int(np.count_nonzero(uc))
            if n_coarse == 0 or n_coarse > 0.6 * n_fine:   # thin structures: stop here
                break
            st = np.empty((9,) + kc.shape)
            reg_c = np.zeros(kc.shape, dtype=np.bool_)
            const = galerkin_constant(consts[-1])
            if len(self.kinds) == 1:
                lk.galerkin(k, self.ops[0], dummy_st, True, reg, kc, *rng_c, const, st, reg_c)
            else:
                lk.galerkin(k, dummy_d, self.ops[-1], False, reg, kc, *rng_c, const, st, reg_c)
            consts.append(const)
            reg = reg_c
            self.regs.append(reg_c)
            self.irregular.append(lk.irregular_cells(uc, reg_c))
            self.consts.append(const)
            self.kinds.append(kc)
            self.masks.append(uc.astype(np.float64))
            self.ranges.append(rng_c)
            self.ops.append(st)
            self.inv_d.append(np.divide(1.0, st[4], out=np.zeros(kc.shape), where=uc))
        # 1-D parent tables of each transfer (level lev -> lev + 1)
        self.tables = []                 # prolongation: row and column parents, fix-up columns
        self.restrictions = []           # restriction: row parents, column children
        for lev in range(len(self.kinds) - 1):
            rlo, rhi, clo, chi = self.ranges[lev + 1]
            Hp, Wp = self.kinds[lev].shape
            rows_t, cols_t = lk.parent_table(Hp, rlo, rhi), lk.parent_table(Wp, clo, chi)
            self.tables.append(rows_t + cols_t + (lk.prolongation_fixups(*cols_t),))
            children = lk.child_table(*cols_t, self.kinds[lev + 1].shape[1])
            self.restrictions.append(rows_t + (children,))
        # each level's rows' spans of unknowns (the kernels work there only)
        self.level_spans = [grid.row_spans(count)] + [grid.row_spans(m) for m in self.masks[1:]]
        # each level's row bands of the coarse-level kernels (the same on every machine)
        self.level_edges = [grid.smoother_bands(k.shape[0], C) for k in self.kinds]
        n = len(self.kinds)
        levels = ([FineLevel(self, C)] if n > 1 else []) + [CoarseLevel(self, lev, C)
                                                              for lev in range(1, n - 1)]
        A, idx = self.matrix(n - 1)
        # work arrays of the coarse levels (the fine level's live in the solver; a V-cycle
        # from level 0, as the tests run, allocates its residual on demand)
        super().__init__(levels, SparseLU(A, idx), [(C,) + k.shape for k in self.kinds],
                         np.float64)
        if levels:                       # the fine level's fused passes use level 1's arrays
            levels[0].b_c, levels[0].x_c = self.b[1], self.x[1]

    @staticmethod
    def coarsen(kind, rng_c):
        """Kinds of the coarse cells: those of the fine cells ``(2I, 2J)``."""
        Hp, Wp = kind.shape
        Hc, Wc = Hp // 2 + 1, Wp // 2 + 1
        rlo, rhi, clo, chi = rng_c
        I = np.arange(Hc)[:, None]
        J = np.arange(Wc)[None, :]
        inside = (I >= rlo) & (I <= rhi) & (J >= clo) & (J <= chi)
        kc = np.where(inside, grid.FIXED, grid.OUTSIDE).astype(kind.dtype)  # beyond the fine array
        sub = kind[::2, ::2]
        kc[:sub.shape[0], :sub.shape[1]] = sub
        return kc

    def matrix(self, lev):
        """The operator of level ``lev`` on its unknowns, as a CSC matrix (and their flat indices)."""
        import scipy.sparse as sp

        kind, op = self.kinds[lev], self.ops[lev]
        Wp = kind.shape[1]
        idx = np.flatnonzero(kind.ravel() == grid.UNKNOWN)
        n = idx.size
        pos = -np.ones(kind.size, dtype=np.int64)
        pos[idx] = np.arange(n)
        rows, cols, vals = [np.arange(n)], [np.arange(n)], []
        if lev == 0:
            vals.append(op.ravel()[idx])
            for step in (1, -1, Wp, -Wp):
                q = pos[idx + step]
                ok = q >= 0
                rows.append(np.arange(n)[ok])
                cols.append(q[ok])
                vals.append(-np.ones(int(ok.sum())))
        else:
            st = op.reshape(9, -1)
            vals.append(st[4, idx])
            for k in range(9):
                if k == 4:
                    continue
                q = pos[idx + (k // 3 - 1) * Wp + (k % 3 - 1)]
                a = st[k, idx]
                ok = (q >= 0) & (a != 0)
                rows.append(np.arange(n)[ok])
                cols.append(q[ok])
                vals.append(a[ok])
        A = sp.csc_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
                          shape=(n, n))
        return A, idx
