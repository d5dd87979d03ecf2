"""The shared multigrid package (gradfusion._multigrid) and the two hierarchies built on it.

* the cell-centred transfers (moved kernels) against their NumPy references, their twins,
  an adjoint (dot) test and the assembled prolongation matrix;
* every level operator and transfer of both hierarchies (synthesis: masked Richardson
  levels; Poisson: vertex-centred Galerkin levels): an adjoint test and a test against an
  assembled ``scipy.sparse`` matrix;
* the V-cycle of both problems: symmetric positive definite, and equal to the recursion of
  :mod:`gradfusion._multigrid.cycle` assembled from the levels' primitives (for the
  synthesis levels, whose cycle runs fused passes, that checks the fusion);
* the conjugate-gradient loop against SciPy's ``cg`` and a direct solve, its breakdown
  rules, and the preconditioner as a ``LinearOperator``.
"""

import functools

import numpy as np
import pytest
import scipy.sparse as sp
import scipy.sparse.linalg as spl
from scipy import ndimage

import reference as ref
from helpers import assert_close, make_rng
from helpers import coarse_shape as _coarse
from helpers import free_mask as _mask
from helpers import dtype_param, twin_param
from helpers import shape_param as shapes_param

from gradfusion._poisson import grid, levels
from gradfusion._multigrid import transfer as T
from gradfusion._multigrid.coarsest import MaskedPseudoInverse, SparseLU, pseudo_inverse
from gradfusion._multigrid.hierarchy import Hierarchy, Level
from gradfusion._multigrid.pcg import BREAKDOWN, CONVERGED, PCGHooks, cg, pcg
from gradfusion._problem import ResidualProblem
from gradfusion._solvers.multigrid import MaskedMultigrid

DTYPES = [np.float32, np.float64]
SHAPES = [(1, 1, 1), (1, 2, 3), (2, 3, 2), (1, 5, 7), (3, 8, 6), (2, 9, 13), (1, 1, 9),
          (2, 33, 40), (3, 140, 170)]        # the last one runs the parallel twins
PROBLEMS = ["synthesis", "poisson"]

shape_param = shapes_param(SHAPES)
problem_param = pytest.mark.parametrize("problem", PROBLEMS)


_rng = functools.partial(make_rng, base=20261207)
_close = functools.partial(assert_close, what="active-set kernel")


# --------------------------------------------------------------------------- transfers


@dtype_param
@shape_param
def test_downsample_and_upsample_match_references_bitwise(dtype, shape):
    a = _rng(1, shape).random(shape).astype(dtype)
    np.testing.assert_array_equal(T.downsample(a), ref.downsample(a))
    C, H, W = shape
    for fine in [(C, 2 * H - 1, 2 * W - 1), (C, 2 * H, 2 * W), (C, 2 * H, 2 * W - 1)]:
        if min(fine[1:]) < 1:
            continue
        u = T.upsample(a, fine)
        assert u.dtype == dtype
        np.testing.assert_array_equal(u, ref.upsample(a, fine))


@twin_param
@dtype_param
@shape_param
def test_prolong_matches_reference(shape, dtype, twin):
    rng = _rng(2, shape)
    xc = rng.standard_normal(_coarse(shape)).astype(dtype)
    mask = _mask(rng, shape)
    e = np.full(shape, np.nan, dtype=dtype)
    getattr(T.prolong, twin)(xc, mask, e)
    _close(e, ref.prolong(xc, mask), dtype)


@twin_param
@dtype_param
@shape_param
def test_upsample_is_prolong_with_every_cell_on(shape, dtype, twin):
    """One kernel: the driver's upsampling is the prolongation with a broadcast row of ones
    (its twins compiled without reassociation)."""
    xc = _rng(3, shape).standard_normal(_coarse(shape)).astype(dtype)
    e = np.empty(shape, dtype=dtype)
    getattr(T._upsample, twin)(xc, np.ones((1, 1, shape[2]), np.uint8), e)
    np.testing.assert_array_equal(e, ref.upsample(xc, shape))
    full = np.empty(shape, dtype=dtype)
    T.prolong(xc, np.ones(shape, np.uint8), full)
    _close(full, e, dtype)


@twin_param
@dtype_param
@shape_param
def test_restrict_matches_reference(shape, dtype, twin):
    rng = _rng(4, shape)
    fine = rng.standard_normal(shape).astype(dtype)
    cmask = _mask(rng, _coarse(shape))
    out = np.full(_coarse(shape), np.nan, dtype=dtype)
    getattr(T.restrict, twin)(fine, cmask, out)
    _close(out, ref.restrict(fine, cmask), dtype, scale=4.0)


@twin_param
@shape_param
def test_coarse_mask_matches_reference(shape, twin):
    fine = _mask(_rng(5, shape), shape, free=0.9)
    out = np.full(_coarse(shape), 7, dtype=np.uint8)
    getattr(T.coarse_mask, twin)(fine, out)
    np.testing.assert_array_equal(out, ref.coarse_mask(fine))


@shape_param
def test_restrict_is_the_adjoint_of_prolong(shape):
    """``<mask P cmask xc, y> = <xc, cmask P^T mask y>`` (a dot test, float64)."""
    rng = _rng(6, shape)
    mask, cmask = _mask(rng, shape), _mask(rng, _coarse(shape))
    xc = rng.standard_normal(_coarse(shape)) * cmask
    y = rng.standard_normal(shape) * mask
    px, pty = np.empty(shape), np.empty(_coarse(shape))
    T.prolong(xc, mask, px)
    T.restrict(y, cmask, pty)
    lhs, rhs = np.vdot(px, y), np.vdot(xc, pty)
    assert abs(lhs - rhs) <= 1e-12 * (np.abs(px).sum() + np.abs(xc).sum()) * np.abs(y).max()


@shape_param
def test_prolong_is_the_assembled_matrix(shape):
    """Each channel of ``prolong`` is the Kronecker product of the 1-D interpolations."""
    rng = _rng(7, shape)
    xc = rng.standard_normal(_coarse(shape))
    P = ref.prolongation_matrix(shape)
    e = np.empty(shape)
    T.prolong(xc, np.ones(shape, np.uint8), e)
    np.testing.assert_allclose(e, np.stack([(P @ c.ravel()).reshape(shape[1:]) for c in xc]),
                               rtol=1e-14, atol=1e-14)


# --------------------------------------------------------------------------- the two hierarchies


def _synthesis(shape=(1, 24, 20), free=0.85, boundary="zero", seed=0, max_direct=20):
    """A masked synthesis hierarchy (several levels) and its finest free mask."""
    rng = _rng(10, seed)
    I = rng.random(shape)
    P = np.clip(0.6 * I + 0.3 * rng.random(shape) - 0.1, 0, 1)
    prob = ResidualProblem(I, P, np.full(shape[0], 0.7), boundary=boundary, reg_weight=0.4,
                           level_weight=0.3)
    # held variables come in clusters, as active sets do (a coarse cell is free when its
    # four children are): smoothed noise above its ``1 - free`` quantile is free
    noise = ndimage.gaussian_filter(_rng(11, seed).random(shape), (0, 1.5, 1.5))
    mask = (noise >= np.quantile(noise, 1.0 - free)).astype(np.uint8)
    mg = MaskedMultigrid(prob.hessian, shape, np.float64, max_direct=max_direct)
    mg.update(mask)
    assert len(mg) >= 3
    return prob, mg


def _poisson(monkeypatch, seed=22, bands="default", C=1):
    """A Poisson hierarchy (several levels) of a blob-shaped region on a 26x24 grid."""
    monkeypatch.setattr(levels, "COARSEST_UNKNOWNS", 8)
    if bands == "3_bands":      # hybrid coarse sweeps with seams (level 1 has 14 rows: 3 bands)
        monkeypatch.setattr(grid, "smoother_bands",
                            lambda rows, C: grid.band_edges(rows, C, 3, min_rows=4))
    kind = np.ones((26, 24), np.int8)
    inner = ndimage.gaussian_filter(np.random.default_rng(seed).random((24, 22)), 2.0) > 0.45
    kind[1:-1, 1:-1][inner] = grid.UNKNOWN
    hier = levels.PoissonHierarchy(kind, (0, 25), (0, 23), C)
    assert len(hier) >= 3
    if bands == "3_bands":
        assert hier.level_edges[1].size == 4
    return hier


def _hierarchy(problem, monkeypatch):
    if problem == "synthesis":
        return _synthesis()[1]
    return _poisson(monkeypatch)


def _unknowns(hier, lev):
    """Flat indices of level ``lev``'s unknowns (the free cells / the region's cells)."""
    if isinstance(hier, MaskedMultigrid):
        return np.flatnonzero(hier.masks[lev].ravel())
    return np.flatnonzero(hier.kinds[lev].ravel() == grid.UNKNOWN)


def _columns(apply, shape_in, idx_in, shape_out, idx_out):
    """The matrix of a linear map restricted to ``idx_in -> idx_out``, column by column."""
    M = np.empty((idx_out.size, idx_in.size))
    for k, f in enumerate(idx_in):
        e = np.zeros(shape_in)
        e.ravel()[f] = 1.0
        out = np.zeros(shape_out)
        apply(e, out)
        M[:, k] = out.ravel()[idx_out]
    return M


def _level_matrix(hier, lev):
    """``A_l`` of a level on its unknowns, assembled independently of the level's product:
    the synthesis Hessian from its dense assembly (level 0: from the NumPy reference too),
    the Poisson operator from :meth:`PoissonHierarchy.matrix`."""
    idx = _unknowns(hier, lev)
    if isinstance(hier, MaskedMultigrid):
        op, shape = hier.operators[lev], hier.shapes[lev]
        dense = op.dense(shape[1:])
        blocks = [dense[c if len(dense) > 1 else 0] for c in range(shape[0])]
        A = sp.block_diag(blocks).tocsr()
        return A[idx][:, idx]
    A, order = hier.matrix(lev)
    assert np.array_equal(order, idx)
    return A


def _pairs(rng, shape, idx):
    x, y = np.zeros(shape), np.zeros(shape)
    x.ravel()[idx] = rng.standard_normal(idx.size)
    y.ravel()[idx] = rng.standard_normal(idx.size)
    return x, y


@problem_param
def test_level_operators_are_symmetric_and_the_assembled_matrices(problem, monkeypatch):
    hier = _hierarchy(problem, monkeypatch)
    rng = _rng(12)
    for lev, level in enumerate(hier.levels):
        idx = _unknowns(hier, lev)
        x, y = _pairs(rng, level.shape, idx)
        ax, ay = np.empty_like(x), np.empty_like(y)
        level.matvec(x, ax)
        level.matvec(y, ay)
        assert np.vdot(ax, y) == pytest.approx(np.vdot(x, ay), rel=1e-12, abs=1e-12)
        A = _level_matrix(hier, lev)
        np.testing.assert_allclose(ax.ravel()[idx], A @ x.ravel()[idx], rtol=1e-12,
                                   atol=1e-12 * np.abs(A).max())


def test_finest_synthesis_operator_is_the_reference_hessian():
    prob, mg = _synthesis(boundary="reflect")
    shape, idx = mg.shapes[0], _unknowns(mg, 0)
    A = _columns(lambda e, out: out.__setitem__(..., ref.normal_matvec(
        e, prob.mode, prob.reg_weight, prob.taps, shift=prob.hessian.shift)), shape, idx,
        shape, idx)
    np.testing.assert_allclose(_level_matrix(mg, 0).toarray(), A, rtol=1e-12, atol=1e-12)


@problem_param
def test_level_transfers_are_adjoint_and_the_assembled_matrices(problem, monkeypatch):
    """``<P xc, y> = <xc, R y>`` on every level, and the synthesis transfers are the masked
    assembled bilinear matrix."""
    hier = _hierarchy(problem, monkeypatch)
    rng = _rng(13)
    for lev, level in enumerate(hier.levels):
        fine, coarse = hier.shapes[lev], hier.shapes[lev + 1]
        fi, ci = _unknowns(hier, lev), _unknowns(hier, lev + 1)
        xc, _ = _pairs(rng, coarse, ci)
        y, _ = _pairs(rng, fine, fi)
        px = np.zeros(fine)
        level.prolong_add(xc, px)
        ry = np.zeros(coarse)
        level.restrict(y, ry)
        assert np.vdot(px, y) == pytest.approx(np.vdot(xc, ry), rel=1e-12)
        P = _columns(level.prolong_add, coarse, ci, fine, fi)
        R = _columns(level.restrict, fine, fi, coarse, ci)
        np.testing.assert_allclose(R, P.T, atol=1e-14)
        if problem == "synthesis":
            Pa = ref.prolongation_matrix(fine[:1] + fine[1:]).toarray()
            Pa = np.kron(np.eye(fine[0]), Pa)
            np.testing.assert_allclose(P, Pa[np.ix_(fi, ci)], atol=1e-14)
        else:                          # the Poisson coarse operators are Galerkin products
            A, Ac = _level_matrix(hier, lev).toarray(), _level_matrix(hier, lev + 1).toarray()
            np.testing.assert_allclose(Ac, P.T @ A @ P, atol=1e-12)


def _cycle_matrix(hier, lev=0):
    """The cycle from level ``lev`` on its unknowns, column by column."""
    shape, idx = hier.shapes[lev], _unknowns(hier, lev)
    return _columns(lambda e, z: hier.cycle(e, z, lev), shape, idx, shape, idx)


@problem_param
@pytest.mark.parametrize("variant", ["a", "b"])
def test_vcycle_is_symmetric_positive_definite(problem, variant, monkeypatch):
    """Both problems' cycles are SPD preconditioners (synthesis: two free sets and both
    borders; Poisson: default and hybrid three-band coarse sweeps) and cut the condition
    number (Poisson: the eigenvalues of ``M A`` in (0.5, 1])."""
    if problem == "synthesis":
        args = dict(shape=(2, 17, 23), free=0.6, boundary="zero") if variant == "a" else \
            dict(shape=(1, 31, 9), free=1.0, boundary="reflect")
        _, hier = _synthesis(**args)
    else:
        hier = _poisson(monkeypatch, bands="default" if variant == "a" else "3_bands")
    M = _cycle_matrix(hier)
    np.testing.assert_allclose(M, M.T, atol=1e-12 * np.abs(M).max())
    assert np.linalg.eigvalsh(0.5 * (M + M.T)).min() > 0
    A = _level_matrix(hier, 0).toarray()
    L = np.linalg.cholesky(0.5 * (M + M.T))
    lam = np.linalg.eigvalsh(L.T @ A @ L)
    assert lam[-1] / lam[0] < np.linalg.cond(A)
    if problem == "poisson":
        assert lam[0] > 0.5 and lam[-1] <= 1.0 + 1e-9


@problem_param
def test_vcycle_is_the_recursion_of_its_levels(problem, monkeypatch):
    """``M_l = S_1 + P M_{l+1} R (I - A S_1) + S_2 (I - A (S_1 + P M_{l+1} R (I - A S_1)))``
    from the levels' primitives (``S_1``: pre-smoothing from zero, ``S_2``: the
    post-smoother, ``P``, ``R``, ``A``) and the next level's cycle; ``S_2 = S_1^T`` and
    ``R = P^T`` make it symmetric. For the synthesis levels the cycle runs fused passes, so
    this also checks them against the textbook steps."""
    hier = _hierarchy(problem, monkeypatch)
    for lev, level in enumerate(hier.levels):
        shape, coarse = hier.shapes[lev], hier.shapes[lev + 1]
        fi, ci = _unknowns(hier, lev), _unknowns(hier, lev + 1)
        n = fi.size
        A = _columns(level.matvec, shape, fi, shape, fi)

        def pre(e, x):
            level.smooth(e, x, reverse=False, zero=True)

        def post(e, x):
            level.smooth(e, x, reverse=True)            # from x = 0

        S1 = _columns(pre, shape, fi, shape, fi)
        S2 = _columns(post, shape, fi, shape, fi)
        np.testing.assert_allclose(S2, S1.T, atol=1e-13)
        P = _columns(level.prolong_add, coarse, ci, shape, fi)
        R = _columns(level.restrict, shape, fi, coarse, ci)
        Mc = _cycle_matrix(hier, lev + 1)
        CGC = P @ Mc @ R @ (np.eye(n) - A @ S1)
        expected = S1 + CGC + S2 @ (np.eye(n) - A @ (S1 + CGC))
        M = _cycle_matrix(hier, lev)
        np.testing.assert_allclose(M, expected, atol=1e-11 * np.abs(expected).max())


def test_coarsest_solvers_against_direct_solves():
    rng = _rng(14)
    B = rng.standard_normal((12, 12))
    A = B @ B.T + np.eye(12)
    A[:, 0] = A[0, :] = 0.0                       # singular: the pseudo-inverse
    A[0, 0] = 0.0
    mask = np.ones((2, 3, 4), np.uint8)
    mask[1, 0, 2] = 0
    pinv = MaskedPseudoInverse([A], cache={})
    pinv.update(mask)
    b = rng.standard_normal((2, 3, 4)) * mask
    x = np.empty_like(b)
    bx = pinv.solve(b, x)
    for c in range(2):
        free = np.flatnonzero(mask[c].ravel())
        np.testing.assert_allclose(x[c].ravel()[free],
                                   np.linalg.pinv(A[np.ix_(free, free)]) @ b[c].ravel()[free],
                                   atol=1e-12)
    assert bx == pytest.approx(np.vdot(b, x))
    np.testing.assert_allclose(pseudo_inverse(A), np.linalg.pinv(A), atol=1e-10)
    As = sp.csc_matrix(A[1:, 1:])
    lu = SparseLU(As, np.arange(1, 12))
    b2 = rng.standard_normal((3, 12))
    x2 = np.empty_like(b2)
    lu.solve(b2, x2)
    np.testing.assert_allclose(x2[:, 1:].T, spl.spsolve(As, b2[:, 1:].T), atol=1e-12)
    assert np.all(x2[:, 0] == 0.0)


# --------------------------------------------------------------------------- PCG, preconditioner


@problem_param
def test_preconditioner_is_a_symmetric_linear_operator(problem, monkeypatch):
    hier = _hierarchy(problem, monkeypatch)
    M = hier.aspreconditioner()
    op = M.aslinearoperator()
    idx = _unknowns(hier, 0)
    x, y = _pairs(_rng(15), hier.shapes[0], idx)
    z = np.empty_like(x)
    hier.cycle(x, z)
    np.testing.assert_array_equal(M(x), z)
    np.testing.assert_array_equal(op.matvec(x.ravel()), z.ravel())
    np.testing.assert_array_equal(M @ x.ravel(), z.ravel())
    assert np.vdot(M(x), y) == pytest.approx(np.vdot(x, M(y)), rel=1e-12)
    assert op.shape == (x.size, x.size)


@problem_param
def test_pcg_matches_a_direct_solve_and_scipy_cg(problem, monkeypatch):
    """The shared loop with the hierarchy's cycle solves ``A_FF x = b`` (against
    ``spsolve``), in no more iterations than SciPy's ``cg`` with the same preconditioner
    (as a ``LinearOperator``) and far fewer than unpreconditioned CG."""
    hier = _hierarchy(problem, monkeypatch)
    level = hier.levels[0]
    idx = _unknowns(hier, 0)
    shape = hier.shapes[0]
    b, _ = _pairs(_rng(16), shape, idx)
    A = _level_matrix(hier, 0)
    exact = spl.spsolve(A.tocsc(), b.ravel()[idx])
    x, k = cg(level.matvec, b, np.zeros(shape), hier.cycle, rtol=1e-10, maxiter=200)
    np.testing.assert_allclose(x.ravel()[idx], exact, rtol=1e-7, atol=1e-9 * np.abs(exact).max())
    assert np.all(x.ravel()[np.setdiff1d(np.arange(x.size), idx)] == 0.0)
    count = []
    op = sp.csr_matrix(A)
    n = idx.size
    P = sp.csr_matrix((np.ones(n), (idx, np.arange(n))), shape=(x.size, n))
    M = hier.aspreconditioner()
    Mop = spl.LinearOperator((n, n), matvec=lambda v: P.T @ M.matvec(P @ v))
    xs, info = spl.cg(op, b.ravel()[idx], M=Mop, rtol=1e-10, atol=0.0, maxiter=200,
                      callback=lambda xk: count.append(1))
    assert info == 0
    np.testing.assert_allclose(xs, exact, rtol=1e-7, atol=1e-9 * np.abs(exact).max())
    assert k <= len(count) + 1
    _, k_plain = cg(level.matvec, b, np.zeros(shape), None, rtol=1e-10, maxiter=2000)
    assert k < k_plain


@pytest.mark.parametrize("blocks", [None, 3])
def test_pcg_iterates_are_textbook_pcg(blocks):
    """Per block, the loop's iterates are those of plain PCG written out (random SPD
    systems, a Jacobi preconditioner)."""
    rng = _rng(17, 0 if blocks is None else blocks)
    nb = 1 if blocks is None else blocks
    mats = []
    for _ in range(nb):
        B = rng.standard_normal((15, 15))
        mats.append(B @ B.T + 0.5 * np.eye(15))
    d = np.stack([np.diag(m) for m in mats])

    def matvec(v, out):
        for i in range(nb):
            out[i] = mats[i] @ v[i]

    def precondition(r, z):
        z[...] = r / d

    b = rng.standard_normal((nb, 15))
    hooks = PCGHooks(matvec, precondition, blocks=blocks)
    x = np.zeros_like(b)
    r = b.copy()
    work = [np.zeros_like(b) for _ in range(3)]
    k, status, _ = pcg(hooks, x, r, *work, None, lambda s, k: k >= 6)
    assert (k, status) == (6, CONVERGED)
    for i in range(nb):                    # textbook PCG, six steps
        xe, re = np.zeros(15), b[i].copy()
        ze = re / d[i]
        pe, rz = ze.copy(), re @ ze
        for _ in range(6):
            ap = mats[i] @ pe
            a = rz / (pe @ ap)
            xe += a * pe
            re -= a * ap
            ze = re / d[i]
            rz_new = re @ ze
            pe = ze + (rz_new / rz) * pe
            rz = rz_new
        np.testing.assert_allclose(x[i], xe, rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(r[i], re, rtol=1e-10, atol=1e-12)


def test_pcg_breakdown_rules():
    """An indefinite preconditioner stops the loop (``"stop"``) before any step, or zeroes
    the steps of the blocks it breaks (``"freeze"``) while the others go on."""
    A = np.diag(np.arange(1.0, 9.0))

    def matvec(v, out):
        out[...] = v @ A.T

    def negate_second(r, z):
        z[...] = r
        z[1] *= -1.0

    b = np.ones((2, 8))
    hooks = PCGHooks(matvec, negate_second, blocks=2)
    x, r = np.zeros_like(b), b.copy()
    k, status, _ = pcg(hooks, x, r, *(np.zeros_like(b) for _ in range(3)), None,
                       lambda s, k: k >= 8)
    assert (k, status) == (0, BREAKDOWN) and np.all(x == 0.0)
    x, r = np.zeros_like(b), b.copy()
    k, status, _ = pcg(hooks, x, r, *(np.zeros_like(b) for _ in range(3)), None,
                       lambda s, k: k >= 8, breakdown="freeze")
    assert (k, status) == (8, CONVERGED)
    np.testing.assert_allclose(x[0], 1.0 / np.arange(1.0, 9.0), rtol=1e-10)
    assert np.all(x[1] == 0.0)


def test_hierarchy_protocol_defaults():
    """A hierarchy of textbook levels (dense matrices, damped Jacobi, the default composite
    steps) is the two-grid formula, and a level without primitives says so."""
    rng = _rng(18)
    n, nc = 9, 4
    B = rng.standard_normal((n, n))
    A = B @ B.T + n * np.eye(n)
    Pm = rng.random((n, nc))

    class Dense(Level):
        shape = (1, n)

        def matvec(self, x, out):
            out[0] = A @ x[0]

        def smooth(self, b, x, reverse=False, zero=False):
            if zero:
                x[...] = 0.0
            x[0] += 0.5 * (b[0] - A @ x[0]) / np.diag(A)

        def residual(self, b, x, r):
            r[0] = b[0] - A @ x[0]

        def restrict(self, r, out):
            out[0] = Pm.T @ r[0]

        def prolong_add(self, xc, x):
            x[0] += Pm @ xc[0]

    Ac = Pm.T @ A @ Pm
    hier = Hierarchy([Dense()], SparseLU(sp.csc_matrix(Ac), np.arange(nc)), [(1, n), (1, nc)],
                     np.float64)
    S = 0.5 * np.diag(1.0 / np.diag(A))
    K = np.eye(n) - A @ S                  # the pre-smoother's residual propagation
    expected = S + S - S @ A @ S + K.T @ Pm @ np.linalg.inv(Ac) @ Pm.T @ K
    M = np.stack([hier.aspreconditioner()(e[None])[0] for e in np.eye(n)], axis=1)
    np.testing.assert_allclose(M, expected, atol=1e-12)
    with pytest.raises(NotImplementedError):
        Level().smooth(None, None)
    with pytest.raises(ValueError, match="2 levels need 3 shapes"):
        Hierarchy([Dense(), Dense()], None, [(1, n)], np.float64)


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
def test_synthesis_preconditioner_keeps_the_dtype(dtype):
    shape = (2, 20, 18)
    rng = _rng(19)
    I = rng.random(shape).astype(dtype)
    prob = ResidualProblem(I, (0.5 * I).astype(dtype), np.full(2, 0.7), reg_weight=0.4)
    mg = MaskedMultigrid(prob.hessian, shape, dtype)
    mg.update(np.ones(shape, np.uint8))
    z = mg.aspreconditioner()(rng.standard_normal(shape).astype(dtype))
    assert z.dtype == dtype and np.all(np.isfinite(z))
