"""The gradient weight of gradfusion.solve: a per-pixel weight on the Sobel term, exact and multigrid-solved."""

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.optimize import lsq_linear

import gradfusion
from gradfusion import DifferenceFilter, SobelGradient

from helpers import make_pair


def _weights(kind, shape, seed):
    """A gradient weight per pixel or per pixel and channel, from 0.05 to 4."""
    rng = np.random.default_rng(seed)
    return rng.uniform(0.05, 4.0, shape[:2] if kind == "pixel" else shape)


def _reference(I, P, alpha, G, boundary, reg_weight, lam):
    """``(R, F)`` by scipy's BVLS on ``[sqrt(G) S; sqrt(w) D; sqrt(2 lam) I]`` per channel,
    assembled from the public operators, independently of the solver."""
    shape = I.shape
    H, W = shape[:2]
    C = shape[2] if I.ndim == 3 else 1
    Ic, Pc = I.reshape(H, W, C), P.reshape(H, W, C)
    Gc = np.broadcast_to(G.reshape(H, W, -1), (H, W, C))
    S = sp.csr_matrix(SobelGradient((H, W), boundary=boundary) @ np.eye(H * W))
    D = sp.csr_matrix(DifferenceFilter((H, W)) @ np.eye(H * W))
    R = np.empty((H, W, C))
    total = 0.0
    for c in range(C):
        g = np.sqrt(np.tile(Gc[..., c].ravel(), 2))
        blocks = [sp.diags(g) @ S, np.sqrt(reg_weight) * D]
        if lam:
            blocks.append(np.sqrt(2.0 * lam) * sp.eye(H * W))
        M = sp.vstack(blocks).tocsr()
        t = (Pc[..., c] - alpha * Ic[..., c]).ravel()
        res = lsq_linear(M.toarray(), M @ t, bounds=(0.0, 1.0 - alpha), method="bvls",
                         tol=1e-14)
        R[..., c] = res.x.reshape(H, W)
        total += float(np.sum((M @ (res.x - t)) ** 2))
    return R.reshape(shape), total / (2 * I.size)


@pytest.mark.parametrize("kind", ["pixel", "pixel-channel"])
@pytest.mark.parametrize("method", ["active-set", "mprgp"])
@pytest.mark.parametrize("boundary", ["zero", "reflect"])
@pytest.mark.parametrize("lam", [0.0, 0.3])
def test_matches_bounded_least_squares_reference(kind, method, boundary, lam):
    shape = (11, 9, 3)
    I, P = make_pair(shape, seed=[31, len(kind), len(method)], kind="dark")
    G = _weights(kind, shape, seed=[5, int(10 * lam)])
    res = gradfusion.solve(I, P, 0.7, boundary=boundary, gradient_weight=G, level_weight=lam,
                           method=method, tol=1e-20)
    assert res.success, res.message
    R_ref, f_ref = _reference(I, P, 0.7, G, boundary, gradfusion.DEFAULT_REG_WEIGHT, lam)
    assert res.fun == pytest.approx(f_ref, rel=1e-8)
    np.testing.assert_allclose(res.residual, R_ref, atol=1e-6)


def test_grayscale_matches_reference():
    I, P = make_pair((10, 12), seed=32, kind="dark")
    G = _weights("pixel", (10, 12), seed=6)
    res = gradfusion.solve(I, P, 0.6, gradient_weight=G, tol=1e-20, boundary="zero",
                           level_weight=0.0)
    R_ref, f_ref = _reference(I, P, 0.6, G, "zero", gradfusion.DEFAULT_REG_WEIGHT, 0.0)
    assert res.fun == pytest.approx(f_ref, rel=1e-8)
    np.testing.assert_allclose(res.residual, R_ref, atol=1e-6)


@pytest.mark.parametrize("kind", ["pixel", "pixel-channel"])
def test_multigrid_levels_with_weights(kind):
    """At a size where the active-set method's multigrid has several levels (coarse weights:
    area averages) and the coarse-to-fine driver downsamples the map, it reaches MPRGP's
    optimum."""
    shape = (96, 80, 3)
    I, P = make_pair(shape, seed=33, kind="dark")
    G = _weights(kind, shape, seed=7)
    a = gradfusion.solve(I, P, 0.7, gradient_weight=G, method="active-set", tol=1e-14)
    m = gradfusion.solve(I, P, 0.7, gradient_weight=G, method="mprgp", tol=1e-14)
    assert a.success and m.success
    assert a.fun == pytest.approx(m.fun, rel=1e-9)
    np.testing.assert_allclose(a.residual, m.residual, atol=1e-5)


def test_ones_are_the_paper_term():
    I, P = make_pair((40, 36, 3), seed=34, kind="dark")
    a = gradfusion.solve(I, P, 0.7, gradient_weight=np.ones((40, 36)), tol=1e-12)
    b = gradfusion.solve(I, P, 0.7, tol=1e-12)
    np.testing.assert_allclose(a.output, b.output, atol=1e-7)
    assert a.fun == pytest.approx(b.fun, rel=1e-10)


def test_uniform_weight_rescales_the_other_terms():
    """``G = 2`` everywhere is ``2 (f + (w/2) reg + (lam/2) level)``: the optimum of half the
    regulariser and level weights."""
    I, P = make_pair((40, 36, 3), seed=35, kind="dark")
    a = gradfusion.solve(I, P, 0.7, gradient_weight=np.full((40, 36), 2.0), level_weight=0.4,
                         tol=1e-12)
    b = gradfusion.solve(I, P, 0.7, reg_weight=gradfusion.DEFAULT_REG_WEIGHT / 2,
                         level_weight=0.2, tol=1e-12)
    np.testing.assert_allclose(a.output, b.output, atol=1e-6)
    assert a.fun == pytest.approx(2 * b.fun, rel=1e-8)


def test_result_terms():
    """``fun`` has the weighted Sobel term, ``bare_objective`` the paper's unweighted one."""
    I, P = make_pair((20, 18, 3), seed=36, kind="dark")
    G = _weights("pixel-channel", I.shape, seed=8)
    res = gradfusion.solve(I, P, 0.7, gradient_weight=G)
    S = SobelGradient(I.shape, boundary=gradfusion.DEFAULT_BOUNDARY)
    grads = (S @ (res.output - P).ravel()).reshape((2,) + I.shape)
    weighted = np.sum(G * grads ** 2) / (2 * I.size)
    assert res.bare_objective == pytest.approx(np.sum(grads ** 2) / (2 * I.size), rel=1e-10)
    assert res.fun == pytest.approx(
        weighted + gradfusion.DEFAULT_REG_WEIGHT * res.regularization + 0.3 * res.level_error,
        rel=1e-10)


def test_weight_moves_the_error_out_of_the_region():
    """A region of interest keeps more of the proposal's gradients than without weights."""
    I, P = make_pair((48, 48, 3), seed=37, kind="dark")
    G = np.ones((48, 48))
    G[12:36, 12:36] = 20.0
    S = SobelGradient(I.shape)

    def region_error(O):
        g = (S @ (O - P).ravel()).reshape((2,) + I.shape)
        return float(np.mean(g[:, 12:36, 12:36] ** 2))

    weighted = gradfusion.solve(I, P, 0.7, gradient_weight=G)
    plain = gradfusion.solve(I, P, 0.7)
    assert region_error(weighted.output) < 0.7 * region_error(plain.output)
