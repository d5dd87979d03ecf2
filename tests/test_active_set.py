"""The active-set solver: its Numba kernels against NumPy references, the masked multigrid
V-cycle (transfers, symmetry, positive definiteness) and the solver against MPRGP."""

import functools

import numpy as np
import pytest

import reference as ref
from helpers import assert_close, make_rng
from helpers import coarse_shape as _coarse
from helpers import free_mask as _mask
from helpers import dtype_param, twin_param
from helpers import shape_param as shapes_param, rtol

import gradfusion
from gradfusion import _stencils as st
from gradfusion._problem import ResidualProblem
from gradfusion._solvers import _mg_kernels as G
from gradfusion._solvers.active_set import STEP_KEYS, active_set_solve
from gradfusion._solvers.mprgp import mprgp
from gradfusion._solvers.multigrid import MaskedMultigrid

DTYPES = [np.float32, np.float64]
#: the shared table's tolerances of the active-set kernels (tests/helpers.py)
RTOL = {dt: rtol("active-set kernel", dt) for dt in (np.float32, np.float64)}
# (C, H, W): odd and even sides, single rows/columns, and one big enough for the
# parallel variants to take several row chunks
SHAPES = [(1, 1, 1), (1, 2, 3), (2, 3, 2), (1, 5, 7), (3, 8, 6), (2, 9, 13), (1, 1, 9),
          (2, 33, 40)]

shape_param = shapes_param(SHAPES)


_rng = functools.partial(make_rng, base=20261122)
_close = functools.partial(assert_close, what="active-set kernel")


# ---------------------------------------------------------------------------
# smoothing and CG passes
# ---------------------------------------------------------------------------

@twin_param
@dtype_param
@shape_param
def test_pre_smooth(shape, dtype, twin):
    rng = _rng(6, shape)
    b, ab = (rng.standard_normal(shape).astype(dtype) for _ in range(2))
    mask = _mask(rng, shape)
    s = dtype(0.03)
    r = np.full(shape, np.nan, dtype=dtype)
    getattr(G.pre_smooth, twin)(b, ab, mask, s, r)
    _close(r, ref.pre_smooth(b, ab, mask, float(s)), dtype)


@twin_param
@dtype_param
@shape_param
def test_post_smooth(shape, dtype, twin):
    rng = _rng(7, shape)
    b, e, r, ae = (rng.standard_normal(shape).astype(dtype) for _ in range(4))
    mask = _mask(rng, shape)
    s = dtype(0.03)
    x = np.full(shape, np.nan, dtype=dtype)
    bx = getattr(G.post_smooth, twin)(b, e, r, ae, mask, s, x)
    x_ref, bx_ref = ref.post_smooth(b, e, r, ae, mask, float(s))
    _close(x, x_ref, dtype)
    assert bx == pytest.approx(bx_ref, rel=RTOL[dtype] * 10,
                              abs=RTOL[dtype] * float(np.abs(b).sum() * 3))


@dtype_param
@shape_param
def test_active_set(shape, dtype):
    rng = _rng(8, shape)
    upper = rng.uniform(0.2, 0.5, shape[0]).astype(dtype)
    x = np.clip(rng.uniform(-0.1, 0.6, shape), 0, upper[:, None, None]).astype(dtype)
    g = rng.standard_normal(shape).astype(dtype)
    mask = _mask(rng, shape, free=0.5)
    before = x.copy()
    x_ref, mask_ref, free_ref, moves_ref = ref.active_set(x, g, upper, 0.2)
    saved = np.full(shape, np.nan, dtype=dtype)
    moves = np.full((shape[0] * shape[1], 3), -1, dtype=np.int64)
    free, moved = G.active_set(x, g, upper, dtype(0.2), mask, saved, moves)
    np.testing.assert_array_equal(mask, mask_ref)
    np.testing.assert_array_equal(x, x_ref.astype(dtype))
    np.testing.assert_array_equal(saved, before)
    np.testing.assert_array_equal(moves, moves_ref)
    assert free == free_ref
    assert moved == moves_ref[:, 0].sum()


@dtype_param
@shape_param
def test_project_box(shape, dtype):
    rng = _rng(11, shape)
    upper = rng.uniform(0.2, 0.5, shape[0]).astype(dtype)
    x = rng.uniform(-0.2, 0.7, shape).astype(dtype)
    x[0, 0] = 0.1                                   # a row that nothing leaves
    before = x.copy()
    x_ref, moves_ref = ref.project_box(x, upper)
    saved = np.full(shape, np.nan, dtype=dtype)
    moves = np.full((shape[0] * shape[1], 3), -1, dtype=np.int64)
    moved = G.project_box(x, upper, saved, moves)
    np.testing.assert_array_equal(x, x_ref.astype(dtype))
    np.testing.assert_array_equal(saved, before)
    np.testing.assert_array_equal(moves, moves_ref)
    assert tuple(moves[0]) == (0, shape[2], 0)
    assert moved == moves_ref[:, 0].sum()


@dtype_param
@shape_param
def test_free_residual(shape, dtype):
    rng = _rng(9, shape)
    g = rng.standard_normal(shape).astype(dtype)
    mask = _mask(rng, shape)
    r = np.full(shape, np.nan, dtype=dtype)
    rr, r_inf = G.free_residual(g, mask, r)
    r_ref, rr_ref, inf_ref = ref.free_residual(g, mask)
    _close(r, r_ref, dtype)
    assert rr == pytest.approx(rr_ref, rel=RTOL[dtype] * 10)
    assert r_inf == pytest.approx(inf_ref, rel=RTOL[dtype])


@dtype_param
@shape_param
def test_cg_update(shape, dtype):
    rng = _rng(10, shape)
    x, r, g, p, ap = (rng.standard_normal(shape).astype(dtype) for _ in range(5))
    mask = _mask(rng, shape)
    x_ref, r_ref, g_ref, rr_ref, inf_ref = ref.cg_update(x, r, g, p, ap, mask, 0.37)
    rr, r_inf = G.cg_update(x, r, g, p, ap, mask, 0.37)
    _close(x, x_ref, dtype, scale=2.0)
    _close(r, r_ref, dtype, scale=2.0)
    _close(g, g_ref, dtype, scale=2.0)
    assert rr == pytest.approx(rr_ref, rel=RTOL[dtype] * 10)
    assert r_inf == pytest.approx(inf_ref, rel=RTOL[dtype] * 2)


@dtype_param
@shape_param
def test_cg_direction(shape, dtype):
    rng = _rng(11, shape)
    z, p = (rng.standard_normal(shape).astype(dtype) for _ in range(2))
    expected = ref.cg_direction(z, p, 0.6)
    G.cg_direction(z, p, 0.6)
    _close(p, expected, dtype, scale=2.0)


@dtype_param
@pytest.mark.parametrize("kind", [st.APPLY, st.APPLY_DOT, st.PRE_SMOOTH, st.POST_SMOOTH])
def test_serial_matvec_equals_parallel(dtype, kind):
    """Small arrays take the serial twin of the Hessian product and of its fused smoothing
    passes: bitwise the same pass."""
    rng = _rng(12)
    v, b, r = (rng.standard_normal((3, 37, 29)).astype(dtype) for _ in range(3))
    mask = _mask(rng, v.shape)
    coef, table = st._matvec_constants(st.ZERO, 0.4, (1.0, -2.0, 1.0), 0.3, v.dtype.str)
    out_p, out_s = np.empty_like(v), np.empty_like(v)
    rows_p, rows_s = np.empty(3 * 37), np.empty(3 * 37)
    st._normal_apply_by_size.parallel(v, out_p, coef, table, kind, b, r, mask, dtype(0.03),
                                      rows_p)
    st._normal_apply_by_size.serial(v, out_s, coef, table, kind, b, r, mask, dtype(0.03),
                                    rows_s)
    np.testing.assert_array_equal(out_p, out_s)
    if kind in (st.APPLY_DOT, st.POST_SMOOTH):
        np.testing.assert_array_equal(rows_p, rows_s)
    assert v.size < st.SERIAL_CELLS


FUSED_SHAPES = [(1, 4, 9), (2, 9, 9), (1, 5, 7), (3, 8, 6), (2, 33, 40), (3, 130, 517)]


@dtype_param
@pytest.mark.parametrize("shape", FUSED_SHAPES, ids=str)
@pytest.mark.parametrize("mode", [st.ZERO, st.REFLECT], ids=["zero", "reflect"])
def test_fused_smoothing(shape, dtype, mode):
    """The smoothing passes with the product inside equal the product followed by the
    pass (NumPy references), on arrays too small for the fused pass too (under 5 pixels a
    side or 81 values: the product, then NumPy), and with the result written over the
    residual (the cycle's post-smoothing does that)."""
    rng = _rng(14, shape)
    b, e, r = (rng.standard_normal(shape).astype(dtype) for _ in range(3))
    mask = _mask(rng, shape)
    s = dtype(0.03)
    args = (mode, 0.4, (1.0, -2.0, 1.0), 0.6)
    scale = float(np.abs(b).max()) * 50          # |A| entries sum to about 50 here
    x = np.full(shape, np.nan, dtype=dtype)
    st.normal_pre_smooth(b, mask, s, x, *args)
    ab = ref.normal_matvec(b, *args)
    _close(x, ref.pre_smooth(b, ab, mask, float(s)), dtype, scale=scale)
    ae = ref.normal_matvec(e, *args)
    x_ref, bx_ref = ref.post_smooth(b, e, r, ae, mask, float(s))
    for in_place in (False, True):
        res = r.copy()
        out = res if in_place else np.full(shape, np.nan, dtype=dtype)
        bx = st.normal_post_smooth(e, b, res, mask, s, out, *args)
        _close(out, x_ref, dtype, scale=scale)
        assert bx == pytest.approx(bx_ref, rel=RTOL[dtype] * 10,
                                   abs=RTOL[dtype] * float(np.abs(b).sum() * scale))


# ---------------------------------------------------------------------------
# the masked multigrid
# ---------------------------------------------------------------------------

def _problem(shape, seed, dtype=np.float64, boundary="zero", reg_weight=0.4):
    rng = _rng(13, seed)
    I = rng.random(shape).astype(dtype)
    P = np.clip(0.6 * I + 0.3 * rng.random(shape) - 0.1, 0, 1).astype(dtype)
    return ResidualProblem(I, P, np.full(shape[0], 0.7), boundary=boundary,
                           reg_weight=reg_weight)


@pytest.mark.parametrize("boundary", ["zero", "reflect"])
def test_dense_coarsest_operator(boundary):
    prob = _problem((1, 6, 7), 0, boundary=boundary)
    A = prob.hessian.dense((6, 7))[0]
    cols = np.stack([ref.normal_matvec(e.reshape(1, 6, 7), prob.mode, prob.reg_weight,
                                       prob.taps).ravel() for e in np.eye(42)], axis=1)
    np.testing.assert_allclose(A, cols, rtol=1e-14, atol=1e-12)
    np.testing.assert_allclose(A, A.T, atol=1e-12)


def test_hierarchy_shapes():
    prob = _problem((2, 70, 45), 1)
    mg = MaskedMultigrid(prob.hessian, (2, 70, 45), np.float64, max_direct=64)
    assert mg.shapes == [(2, 70, 45), (2, 35, 23), (2, 18, 12), (2, 9, 6)]


def _cycle_matrix(mg, mask):
    """The V-cycle as a matrix on the free variables (columns: cycles of unit vectors)."""
    free = np.flatnonzero(mask.ravel())
    M = np.empty((free.size, free.size))
    e = np.zeros(mask.shape)
    z = np.empty(mask.shape)
    for k, f in enumerate(free):
        e.ravel()[f] = 1.0
        rz = mg.apply(e, z)
        e.ravel()[f] = 0.0
        assert np.all(z[mask == 0] == 0.0)            # nothing leaks onto held variables
        assert rz == pytest.approx(z.ravel()[f], rel=1e-12)
        M[:, k] = z.ravel()[free]
    return M, free


def _free_block(prob, shape, idx):
    A = np.stack([ref.normal_matvec(e.reshape(shape), prob.mode, prob.reg_weight,
                                    prob.taps).ravel() for e in np.eye(int(np.prod(shape)))],
                 axis=1)
    return A[np.ix_(idx, idx)]


def _preconditioned_condition(M, A_ff):
    """Condition number of ``M A_FF`` from the symmetric ``L^T A_FF L``, ``M = L L^T``."""
    L = np.linalg.cholesky(0.5 * (M + M.T))
    lam = np.linalg.eigvalsh(L.T @ A_ff @ L)
    return lam[-1] / lam[0]


@pytest.mark.parametrize("free", [1.0, 0.9])
def test_vcycle_preconditions(free):
    """On a 48x40 grid (four levels) the cycle cuts the condition number of the free block
    by more than 5x (measured: 134 -> 15.0 all free, 98 -> 13.7 with a tenth held)."""
    shape = (1, 48, 40)
    prob = _problem(shape, 3)
    mask = _mask(_rng(17), shape, free)
    mg = MaskedMultigrid(prob.hessian, shape, np.float64, max_direct=64)
    mg.update(mask)
    M, idx = _cycle_matrix(mg, mask)
    A_ff = _free_block(prob, shape, idx)
    kappa, kappa_m = np.linalg.cond(A_ff), _preconditioned_condition(M, A_ff)
    assert kappa_m < kappa / 5, (kappa_m, kappa)


# ---------------------------------------------------------------------------
# the solver
# ---------------------------------------------------------------------------

def _active_set(prob, start, **options):
    """:func:`active_set_solve` on ``prob`` from ``start`` (with its columns and fused product)."""
    return active_set_solve(prob.hessian, prob.b, start, prob.upper, columns=prob.columns(),
                            **options)


def _mprgp(prob, start, **options):
    """:func:`mprgp` on ``prob`` from ``start``, configured as the driver configures it."""
    return mprgp(prob.matvec, prob.b, start, prob.upper, step_scale=prob.lipschitz,
                 columns=prob.columns(), matvec_dot=prob.matvec_dot, **options)


@pytest.mark.parametrize("shape, seed", [((1, 5, 5), 0), ((3, 24, 31), 1), ((2, 64, 48), 2),
                                         ((1, 1, 7), 3)])
@pytest.mark.parametrize("boundary, reg_weight", [("zero", 0.4), ("reflect", 0.4),
                                                  ("zero", 0.05)])
def test_same_optimum_as_mprgp(shape, seed, boundary, reg_weight):
    prob = _problem(shape, seed, boundary=boundary, reg_weight=reg_weight)
    start = prob.heuristic()
    a = _active_set(prob, start.copy(), tol=1e-10, maxiter=5000)
    m = _mprgp(prob, start.copy(), tol=1e-10, maxiter=20000)
    assert a.status == 0 and m.status == 0 and a.optimality <= 1e-10
    assert set(a.steps) == set(STEP_KEYS)
    np.testing.assert_allclose(a.x, m.x, atol=1e-8)
    assert prob.terms(a.x)[0] == pytest.approx(prob.terms(m.x)[0], rel=1e-12)
    assert np.all(a.x >= 0) and np.all(a.x <= prob.upper[:, None, None])


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("shape", [(40, 56, 3), (33, 47)])
def test_solve_methods_agree(dtype, shape):
    rng = _rng(15, shape)
    I = rng.random(shape).astype(dtype)
    P = np.clip(0.6 * I + 0.3 * rng.random(shape) - 0.1, 0, 1).astype(dtype)
    tol = 1e-14 if dtype == np.float64 else 1e-10      # float32: stops at its rounding floor
    a = gradfusion.solve(I, P, 0.7, tol=tol, method="active-set")
    m = gradfusion.solve(I, P, 0.7, tol=tol, method="mprgp")
    assert a.success and m.success and a.residual.dtype == dtype
    assert a.keys() == m.keys() and a.steps.keys() == m.steps.keys()
    assert a.fun == pytest.approx(m.fun, rel=1e-9 if dtype == np.float64 else 2e-5)
    assert a.steps["newton"] > 0 and m.steps["newton"] == 0
    assert (a.method, m.method) == ("active-set", "mprgp")


def test_auto_method():
    """``auto``: the active-set method on images over 256x256 pixels (warm starts too),
    MPRGP on smaller ones."""
    from gradfusion._solvers.multiscale import AUTO_MPRGP_PIXELS, resolve_method

    assert resolve_method("auto", AUTO_MPRGP_PIXELS + 1) == "active-set"
    assert resolve_method("auto", AUTO_MPRGP_PIXELS) == "mprgp"
    assert resolve_method("active-set", 10) == "active-set"
    assert resolve_method("mprgp", 10 ** 7) == "mprgp"
    rng = _rng(18)
    I = rng.random((257, 256))
    P = np.clip(0.6 * I + 0.3 * rng.random(I.shape) - 0.1, 0, 1)
    cold = gradfusion.solve(I, P, 0.7, tol=1e-4)
    warm = gradfusion.solve(I, P, 0.7, tol=1e-4, x0=cold.residual)
    small = gradfusion.solve(I[:256], P[:256], 0.7, tol=1e-4)
    assert (cold.method, warm.method, small.method) == ("active-set", "active-set", "mprgp")
    assert warm.success and warm.fun == pytest.approx(cold.fun, rel=1e-9)


def test_fallback_is_mprgp_from_the_start():
    """With no outer iteration allowed the run is MPRGP's, from the same projected start."""
    prob = _problem((2, 20, 26), 4)
    start = prob.heuristic() + 0.05          # partly outside the box: both project it
    a = _active_set(prob, start.copy(), tol=1e-8, maxiter=5000, max_outer=0)
    m = _mprgp(prob, start.copy(), tol=1e-8, maxiter=5000)
    np.testing.assert_array_equal(a.x, m.x)
    assert a.nit == m.nit and a.steps["newton"] == 0 and a.steps["cg"] == m.steps["cg"]
    assert a.steps["expansion"] == m.steps["expansion"]


def test_stalled_active_sets_fall_back_to_mprgp():
    """An active-set rule that cycles (``scale`` 4: measured to cycle on photographs) is
    caught by the stall test and finished by MPRGP at the same optimum."""
    prob = _problem((3, 40, 48), 6)
    start = prob.heuristic()
    a = _active_set(prob, start.copy(), tol=1e-9, maxiter=20000, scale=4.0, stall=2)
    m = _mprgp(prob, start.copy(), tol=1e-9, maxiter=20000)
    assert a.status == 0 and a.steps["newton"] < 30
    assert a.steps["expansion"] + a.steps["cg"] > 0          # MPRGP finished the run
    assert prob.terms(a.x)[0] == pytest.approx(prob.terms(m.x)[0], rel=1e-12)


def test_singular_bare_problem_converges():
    """``regularizer=None``: the Hessian is only semi-definite (the coarsest level's
    pseudo-inverse, the fallback if needed); the optimum's objective is MPRGP's."""
    prob = _problem((1, 16, 16), 5, reg_weight=0.0)
    start = prob.heuristic()
    a = _active_set(prob, start.copy(), tol=1e-7, maxiter=20000)
    m = _mprgp(prob, start.copy(), tol=1e-7, maxiter=20000)
    assert a.status == 0 and a.optimality <= 1e-7
    assert prob.terms(a.x)[0] == pytest.approx(prob.terms(m.x)[0], rel=1e-9)


def test_maxiter_and_callback():
    rng = _rng(16)
    I = rng.random((48, 40, 3))
    P = np.clip(0.6 * I + 0.3 * rng.random(I.shape) - 0.1, 0, 1)
    r = gradfusion.solve(I, P, 0.7, maxiter=1, method="active-set")
    assert r.status == 1 and not r.success and r.nit == 1
    seen = []

    def cb(info):
        seen.append((info.nit, info.optimality))
        return len(seen) == 2

    r = gradfusion.solve(I, P, 0.7, callback=cb, method="active-set", multiscale=False)
    assert r.status == 2 and len(seen) == 2 and "callback" in r.message
    assert 0 < seen[0][0] < seen[1][0] == r.nit
    assert np.all(r.residual >= 0) and np.all(r.residual <= 0.3 + 1e-15)


# ---------------------------------------------------------------------------
# the masked multigrid: the cycle against its formula, in-place smoothing, thin images
# ---------------------------------------------------------------------------

def _dense_levels(prob, shape, mask, max_direct):
    """Per level: the dense unmasked Hessian, the 0/1 free mask and the prolongation
    (one channel), from the NumPy references."""
    levels = []
    m = mask
    sh = shape
    while True:
        A = np.stack([ref.normal_matvec(e.reshape(sh), prob.mode, prob.reg_weight,
                                        prob.taps).ravel() for e in np.eye(sh[1] * sh[2])],
                     axis=1)
        levels.append((A, m.ravel().astype(float), sh))
        if sh[1] * sh[2] <= max_direct:
            return levels
        m = ref.coarse_mask(m)
        sh = m.shape


def _formula_cycle(levels, s, k=0):
    """``M = D [s (2I - sA) + (I - sA) P M_c P^T (I - sA)] D`` recursively, the coarsest
    level a pseudo-inverse of its free block (``D`` the free mask, ``A`` masked)."""
    A, d, sh = levels[k]
    D = np.diag(d)
    Af = D @ A @ D
    if k == len(levels) - 1:
        free = d > 0
        M = np.zeros_like(A)
        if free.any():
            M[np.ix_(free, free)] = np.linalg.pinv(A[np.ix_(free, free)])
        return M
    P = ref.prolongation_matrix(sh).toarray()
    Pm = D @ P @ np.diag(levels[k + 1][1])
    S = np.eye(A.shape[0]) - s * Af
    return D @ (s * (2 * np.eye(A.shape[0]) - s * Af) + S @ Pm @ _formula_cycle(levels, s, k + 1)
                @ Pm.T @ S) @ D


@pytest.mark.parametrize("shape, free, boundary", [((1, 12, 10), 0.8, "zero"),
                                                    ((1, 19, 24), 0.9, "reflect"),
                                                    ((1, 7, 33), 0.7, "zero"),
                                                    ((1, 3, 40), 0.9, "zero")])
def test_vcycle_is_the_formula(shape, free, boundary):
    """The cycle equals its recursive formula (docstring of multigrid.py), assembled from
    the NumPy references: a wrong but symmetric cycle would pass the SPD tests, not this."""
    prob = _problem(shape, 8, boundary=boundary)
    mask = _mask(_rng(19, shape), shape, free)
    mg = MaskedMultigrid(prob.hessian, shape, np.float64, max_direct=8)
    mg.update(mask)
    assert len(mg.shapes) >= 3
    levels = _dense_levels(prob, shape, mask, 8)
    assert [lv[2] for lv in levels] == mg.shapes
    expected = _formula_cycle(levels, 1.6 / prob.lipschitz)
    M = np.empty_like(expected)
    e = np.zeros(shape)
    z = np.empty(shape)
    for k in range(e.size):
        e.ravel()[k] = float(mask.ravel()[k])        # the cycle takes masked right-hand sides
        mg.apply(e, z)
        e.ravel()[k] = 0.0
        M[:, k] = z.ravel()
    np.testing.assert_allclose(M, expected, atol=1e-12 * np.abs(expected).max())


@dtype_param
def test_post_smooth_in_place(dtype):
    """The cycle calls post_smooth with the residual array as the result (r is x)."""
    shape = (2, 33, 40)
    rng = _rng(20)
    b, e, r, ae = (rng.standard_normal(shape).astype(dtype) for _ in range(4))
    mask = _mask(rng, shape)
    x_ref, bx_ref = ref.post_smooth(b, e, r, ae, mask, 0.03)
    bx = G.post_smooth(b, e, r, ae, mask, dtype(0.03), r)
    _close(r, x_ref, dtype)
    assert bx == pytest.approx(bx_ref, rel=1e-5)


def test_thin_image_coarsens_along_its_long_side():
    """A 3-row image is coarsened down to at most 64 cells (a row stays a row) rather than
    stopping at a short side with a huge dense coarsest level; it solves to MPRGP's optimum."""
    prob = _problem((1, 3, 3000), 9)
    mg = MaskedMultigrid(prob.hessian, (1, 3, 3000), np.float64)
    assert mg.shapes[-1][1] * mg.shapes[-1][2] <= 64 and mg.shapes[-1][1] == 1
    start = prob.heuristic()
    a = _active_set(prob, start.copy(), tol=1e-9, maxiter=20000)
    m = _mprgp(prob, start.copy(), tol=1e-9, maxiter=50000)
    assert a.status == 0 and a.steps["newton"] > 0
    assert prob.terms(a.x)[0] == pytest.approx(prob.terms(m.x)[0], rel=1e-10)


# ---------------------------------------------------------------------------
# the solver: hand-over to MPRGP, dtypes and memory layouts, warm starts
# ---------------------------------------------------------------------------

def test_fallback_keeps_counting_iterations_and_respects_maxiter():
    """After a hand-over to MPRGP the callback's ``nit`` continues from the active-set
    iterations, and ``maxiter`` bounds the total."""
    prob = _problem((3, 40, 48), 6)
    seen = []

    def cb(nit, x, g, opt):
        seen.append(nit)
        return False

    a = _active_set(prob, prob.heuristic(), tol=1e-9, maxiter=20000, scale=4.0, stall=2,
                    callback=cb)
    assert a.steps["expansion"] + a.steps["cg"] > 0          # it did fall back
    assert seen == sorted(seen) and len(set(seen)) == len(seen) and seen[-1] <= a.nit
    capped = _active_set(prob, prob.heuristic(), tol=1e-9, maxiter=12, max_outer=2)
    assert capped.status == 1 and capped.nit == 12 and capped.steps["newton"] == 2


def test_indefinite_preconditioner_falls_back(monkeypatch):
    """A smoothing step past 2 / L makes the cycle indefinite: CG's ``r . z`` or ``p . Ap``
    check hands the run to MPRGP, which reaches the same optimum."""
    import functools

    from gradfusion._solvers import active_set as AS

    monkeypatch.setattr(AS, "MaskedMultigrid", functools.partial(MaskedMultigrid, omega=3.5))
    prob = _problem((2, 30, 26), 7)
    a = _active_set(prob, prob.heuristic(), tol=1e-9, maxiter=20000)
    m = _mprgp(prob, prob.heuristic(), tol=1e-9, maxiter=20000)
    assert a.status == 0 and a.steps["expansion"] + a.steps["cg"] > 0
    assert prob.terms(a.x)[0] == pytest.approx(prob.terms(m.x)[0], rel=1e-10)


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
def test_active_set_solve_in_float32_and_fortran_order(dtype):
    """The solver keeps the dtype; a Fortran-ordered start still gets C-ordered work vectors."""
    prob = _problem((2, 40, 36), 10, dtype=dtype)
    start = np.asfortranarray(prob.heuristic())
    a = _active_set(prob, start, tol=2e-4 if dtype == np.float32 else 1e-9, maxiter=5000)
    assert a.x.dtype == dtype and a.status == 0 and a.steps["newton"] > 0
    assert a.steps["inner_cg"] > 0 and a.steps["expansion"] == 0    # no fallback


@pytest.mark.parametrize("name", ["astronaut", "coffee", "chelsea"])
def test_warm_start_from_a_neighbouring_problem_needs_no_fallback(name):
    """From the optimum at level weight 0.01, the first Newton step at weight 0 raises the
    projected gradient 60x before it falls; judged against the start, three such steps once
    counted as a stall and handed over to MPRGP (3 Newton steps, then 5-20 MPRGP
    expansions on these 192x192 photographs)."""
    from skimage import data, img_as_float
    from skimage.transform import resize

    I = resize(img_as_float(getattr(data, name)())[..., :3], (192, 192), anti_aliasing=True)
    P = np.clip(0.45 * I ** 1.8 * np.array([0.75, 0.85, 1.15]), 0, 1)
    near = gradfusion.solve(I, P, 0.7, level_weight=0.01, method="active-set")
    res = gradfusion.solve(I, P, 0.7, x0=near.residual, method="active-set")
    assert res.success
    assert res.steps["cg"] + res.steps["expansion"] + res.steps["proportioning"] == 0


@pytest.mark.parametrize("name", ["astronaut", "coffee"])
def test_inner_solves_aiming_at_the_gap_test_keep_the_answer(monkeypatch, name):
    """Settled inner solves stop on the gap test's predicted estimate (``GAP_STOP``,
    ``GAP_EXTEND``) instead of ``inner_rtol``: a warm-started solve (the optimum of a proposal
    1% brighter, as in a video) reaches the same objective, to ``tol``, as with the rule off."""
    from skimage import data, img_as_float
    from skimage.transform import resize

    from gradfusion._solvers import active_set

    I = resize(img_as_float(getattr(data, name)())[..., :3], (160, 192), anti_aliasing=True)
    P = np.clip(0.45 * I ** 1.8 * np.array([0.75, 0.85, 1.15]), 0, 1)
    near = gradfusion.solve(I, np.clip(1.01 * P, 0, 1), 0.7, method="active-set")
    aimed = gradfusion.solve(I, P, 0.7, x0=near.residual, method="active-set")
    monkeypatch.setattr(active_set, "SETTLED", -1.0)        # never settled: inner_rtol only
    plain = gradfusion.solve(I, P, 0.7, x0=near.residual, method="active-set")
    assert aimed.success and plain.success
    assert aimed.gap <= 1e-6 and plain.gap <= 1e-6
    assert aimed.fun == pytest.approx(plain.fun, rel=2e-6)
    # measured: astronaut 2 / 2 Newton steps, coffee 1 / 2 (its one inner solve went on
    # to pass the check)
    assert aimed.steps["newton"] <= plain.steps["newton"]


def test_doomed_checks_are_skipped(monkeypatch):
    """After a settled inner solve whose own prediction was above the gap test's threshold
    the test is skipped (it would fail): on warm-started frames of a pan (8 frames of
    160x224, the first frame 2 px from the last) fewer checks, the same Newton steps and
    the same answers as with every check run."""
    from skimage import data, img_as_float
    import gradfusion._solvers.active_set as AS
    from gradfusion._solvers.gap import GapTest

    scene = img_as_float(data.astronaut())
    rng = np.random.default_rng(0)
    images, proposals = [], []
    for t in range(8):
        I = np.ascontiguousarray(scene[100:260, 100 + 2 * t:324 + 2 * t])
        images.append(I)
        proposals.append(np.clip(0.45 * I ** 2.2 * (1 + 0.01 * rng.standard_normal()) + 0.02,
                                 0, 1))
    checks = []
    check = GapTest.check

    def counted(self, *args, **kwargs):
        checks.append(1)
        return check(self, *args, **kwargs)

    monkeypatch.setattr(GapTest, "check", counted)
    runs = {}
    for doomed in (None, AS.DOOMED):
        monkeypatch.setattr(AS, "DOOMED", doomed)
        checks.clear()
        frames = list(gradfusion.solve_sequence(images, proposals, 0.7, motion="translation",
                                                method="active-set"))
        runs[doomed] = (len(checks), [r.steps["newton"] for r in frames],
                        [r.fun for r in frames])
    (n_all, newton_all, fun_all), (n_rule, newton_rule, fun_rule) = runs[None], runs[AS.DOOMED]
    assert n_rule < n_all and newton_rule == newton_all
    np.testing.assert_allclose(fun_rule, fun_all, rtol=1e-12)
