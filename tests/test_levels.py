"""The level term of gradfusion.solve: exactness against an assembled reference, limits, trade-off."""

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.optimize import lsq_linear

import gradfusion
from gradfusion import DifferenceFilter, SobelGradient
from gradfusion.baselines import heuristic

from helpers import make_pair


def _weight_map(kind, shape, seed):
    """A level weight of ``kind``: a scalar, one value per pixel, or per pixel and channel."""
    rng = np.random.default_rng(seed)
    if kind == "scalar":
        return 0.3
    if kind == "pixel":
        return rng.uniform(0.0, 1.0, shape[:2])
    return rng.uniform(0.0, 1.0, shape)


def _channel_weights(weight, shape):
    """``(H, W, C)`` level weights from a scalar or a map."""
    C = shape[2] if len(shape) == 3 else 1
    w = np.asarray(weight, dtype=np.float64)
    if w.ndim == 2:
        w = w[..., None]
    return np.broadcast_to(w, shape[:2] + (C,))


def _stacked_operator(shape, boundary, reg_weight, lam):
    """``[S; sqrt(w) D; diag(sqrt(2 lam))]`` of one channel, assembled independently of the solver.

    The objective is ``1/m ||M (O - P)||^2`` summed over channels, ``m = 2 C H W``: the
    level term ``mean(lam (O - P)^2) = 1/m sum 2 lam (O - P)^2``.
    """
    H, W = shape[:2]
    blocks = [sp.csr_matrix(SobelGradient((H, W), boundary=boundary) @ np.eye(H * W))]
    if reg_weight:
        blocks.append(np.sqrt(reg_weight) * sp.csr_matrix(DifferenceFilter((H, W)) @ np.eye(H * W)))
    blocks.append(sp.diags(np.sqrt(2.0 * lam.ravel())))
    return sp.vstack(blocks).tocsr()


def _reference(I, P, alpha, weight, boundary, reg_weight):
    """``(R, F)``: the bounded least-squares optimum by scipy's BVLS, and its objective."""
    shape = I.shape
    C = shape[2] if I.ndim == 3 else 1
    Ic, Pc = I.reshape(shape[:2] + (C,)), P.reshape(shape[:2] + (C,))
    lam = _channel_weights(weight, shape)
    R = np.empty(shape[:2] + (C,))
    total = 0.0
    for c in range(C):
        M = _stacked_operator(shape, boundary, reg_weight, lam[..., c])
        t = (Pc[..., c] - alpha * Ic[..., c]).ravel()
        res = lsq_linear(M.toarray(), M @ t, bounds=(0.0, 1.0 - alpha), method="bvls",
                         tol=1e-14)
        R[..., c] = res.x.reshape(shape[:2])
        total += float(np.sum((M @ (res.x - t)) ** 2))
    return R.reshape(shape), total / (2 * I.size)


@pytest.mark.parametrize("kind", ["scalar", "pixel", "pixel-channel"])
@pytest.mark.parametrize("method", ["active-set", "mprgp"])
@pytest.mark.parametrize("boundary", ["zero", "reflect"])
def test_matches_bounded_least_squares_reference(kind, method, boundary):
    shape = (11, 9, 3)
    I, P = make_pair(shape, seed=[15, len(kind), len(method)], kind="dark")
    weight = _weight_map(kind, shape, seed=7)
    res = gradfusion.solve(I, P, 0.7, boundary=boundary, level_weight=weight, method=method,
                           tol=1e-20)
    assert res.success, res.message
    R_ref, f_ref = _reference(I, P, 0.7, weight, boundary, gradfusion.DEFAULT_REG_WEIGHT)
    assert res.fun == pytest.approx(f_ref, rel=1e-8)
    np.testing.assert_allclose(res.residual, R_ref, atol=1e-6)


def test_grayscale_map_matches_reference():
    I, P = make_pair((10, 12), seed=16, kind="dark")
    weight = _weight_map("pixel", (10, 12), seed=8)
    res = gradfusion.solve(I, P, 0.6, level_weight=weight, regularizer=None, tol=1e-11,
                           boundary="zero")
    R_ref, f_ref = _reference(I, P, 0.6, weight, "zero", 0.0)
    assert res.fun == pytest.approx(f_ref, rel=1e-8)
    np.testing.assert_allclose(res.residual, R_ref, atol=1e-6)


@pytest.mark.parametrize("kind", ["scalar", "pixel", "pixel-channel"])
def test_multigrid_levels_with_weights(kind):
    """At a size where the active-set method runs its multigrid over several levels (and
    the coarse-to-fine driver downsamples the map), it reaches MPRGP's optimum."""
    shape = (96, 80, 3)
    I, P = make_pair(shape, seed=17, kind="dark")
    weight = _weight_map(kind, shape, seed=9)
    a = gradfusion.solve(I, P, 0.7, level_weight=weight, method="active-set", tol=1e-18)
    m = gradfusion.solve(I, P, 0.7, level_weight=weight, method="mprgp", tol=1e-18)
    assert a.success and m.success
    assert a.fun == pytest.approx(m.fun, rel=1e-9)
    np.testing.assert_allclose(a.residual, m.residual, atol=1e-6)


def test_multiscale_reaches_single_scale_optimum():
    I, P = make_pair((90, 70, 3), seed=18, kind="dark")
    a = gradfusion.solve(I, P, 0.7, level_weight=0.5, tol=1e-10)
    b = gradfusion.solve(I, P, 0.7, level_weight=0.5, tol=1e-10, multiscale=False)
    assert a.fun == pytest.approx(b.fun, rel=1e-10)


def test_result_terms():
    """``fun`` adds the weighted level term; ``level_error`` is the unweighted mean square."""
    I, P = make_pair((20, 18, 3), seed=19, kind="dark")
    lam = _weight_map("pixel-channel", I.shape, seed=10)
    res = gradfusion.solve(I, P, 0.7, level_weight=lam)
    d = res.output - P
    assert res.level_error == pytest.approx(np.mean(d ** 2), rel=1e-12)
    level = np.mean(lam * d ** 2)
    assert res.fun == pytest.approx(
        res.bare_objective + gradfusion.DEFAULT_REG_WEIGHT * res.regularization + level, rel=1e-12)


def test_named_settings():
    I, P = make_pair((16, 16, 3), seed=20, kind="dark")
    for name, value in gradfusion.LEVEL_WEIGHTS.items():
        a = gradfusion.solve(I, P, 0.7, level_weight=name, boundary="zero")
        b = gradfusion.solve(I, P, 0.7, level_weight=value, boundary="zero")
        np.testing.assert_array_equal(a.output, b.output)
    assert gradfusion.LEVEL_WEIGHTS["paper"] == 0.0


def test_uniform_map_equals_scalar():
    """A constant map is the scalar weight (two passes instead of one fused pass)."""
    I, P = make_pair((40, 36, 3), seed=21, kind="dark")
    a = gradfusion.solve(I, P, 0.7, level_weight=0.25, tol=1e-10)
    b = gradfusion.solve(I, P, 0.7, level_weight=np.full((40, 36), 0.25), tol=1e-10)
    assert a.fun == pytest.approx(b.fun, rel=1e-10)
    np.testing.assert_allclose(a.output, b.output, atol=1e-7)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_clip_reached_as_weight_grows(dtype):
    """The clip is the minimiser of the level term alone: a large weight reaches it."""
    I, P = make_pair((30, 26, 3), seed=22, dtype=dtype, kind="dark")
    clip = heuristic(I, P, 0.7).output
    gaps = []
    for lam in (1.0, 1e2, 1e4):
        res = gradfusion.solve(I, P, 0.7, level_weight=lam)
        assert res.output.dtype == dtype
        gaps.append(float(np.abs(res.output - clip).max()))
    assert gaps[0] > gaps[1] > gaps[2]
    assert gaps[2] < 1e-3


def test_monotone_tradeoff():
    """Along a sweep the level error falls and the gradient terms rise (a parametric
    minimisation: each weight's optimum is optimal against its neighbours)."""
    I, P = make_pair((48, 40, 3), seed=23, kind="dark")
    rows = []
    for lam in (0.0, 0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 30.0, 300.0):
        res = gradfusion.solve(I, P, 0.7, level_weight=lam, tol=1e-10, boundary="zero")
        gradient = res.bare_objective + gradfusion.DEFAULT_REG_WEIGHT * res.regularization
        rows.append((res.level_error, gradient))
    level, gradient = np.array(rows).T
    assert np.all(np.diff(level) <= 1e-12)
    assert np.all(np.diff(gradient) >= -1e-12)
    clip = np.mean((heuristic(I, P, 0.7).output - P) ** 2)     # the smallest level error
    assert level[-1] - clip < 0.2 * (level[0] - clip)

