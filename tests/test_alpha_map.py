"""Alpha maps: a transmission per pixel (or per pixel and channel), bounds 0 <= R <= 1 - alpha(x).

The answer must be the exact optimum of the same objective as with a scalar alpha, with the
bounds taken pixel by pixel: against scipy.optimize.lsq_linear with per-variable bounds, the
KKT conditions per pixel, a constant map against the scalar, a per-channel map against the
per-channel sequence, float32 bounds rounded down, warm starts, coarse-to-fine, and the
functions that pass alpha through (heuristic, evaluate, tradeoff, solve_many).
"""

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.optimize import lsq_linear

import gradfusion
from gradfusion import DifferenceFilter, SobelGradient, baselines
from gradfusion._problem import round_down

from helpers import make_pair

LEVEL = 0.3            # the default level weight ("perceptual")
REG = 0.4              # the default regulariser weight


def _alpha_map(shape, seed, low=0.3, high=0.85):
    """A smooth map (a dimming gradient) plus a little noise, in (low, high)."""
    rng = np.random.default_rng(seed)
    H, W = shape[:2]
    y, x = np.mgrid[0:H, 0:W]
    base = low + (high - low) * (0.5 + 0.4 * np.sin(x / W * 3 + y / H * 2))
    if len(shape) == 3:
        base = base[..., None] + 0.05 * np.arange(shape[2]) - 0.05
    return np.clip(base + 0.02 * rng.standard_normal(base.shape), low, high)


def _operator(H, W, boundary, level, gradient_weight=None):
    """``A`` with ``F = (1/m) ||A (O - P)||^2`` for one channel (``m`` added by the caller)."""
    S = sp.csr_matrix(SobelGradient((H, W), boundary=boundary) @ np.eye(H * W))
    if gradient_weight is not None:
        g = np.sqrt(np.asarray(gradient_weight, dtype=np.float64).ravel())
        S = sp.diags(np.concatenate([g, g])) @ S
    D = sp.csr_matrix(DifferenceFilter((H, W)) @ np.eye(H * W))
    blocks = [S, np.sqrt(REG) * D]
    if np.ndim(level) or level:            # a level-weight map, or a scalar one
        blocks.append(sp.diags(np.sqrt(2 * np.broadcast_to(level, (H, W)).ravel())))
    return sp.vstack(blocks).tocsr()


def _channels(a):
    return a if a.ndim == 3 else a[..., None]


def _per_channel(alpha, shape):
    """``alpha`` broadcast to ``(H, W, C)``."""
    H, W = shape[:2]
    C = shape[2] if len(shape) == 3 else 1
    a = np.asarray(alpha, dtype=np.float64)
    if a.ndim == 2:
        a = a[..., None]
    return np.broadcast_to(a, (H, W, C))


def _reference(I, P, alpha, boundary, level=LEVEL, gradient_weight=None):
    """The optimum by bounded least squares (BVLS), bounds per pixel and channel."""
    Ic, Pc = _channels(I), _channels(P)
    H, W, C = Ic.shape
    a = _per_channel(alpha, I.shape)
    A = _operator(H, W, boundary, level, gradient_weight).toarray()
    R = np.empty((H, W, C))
    for c in range(C):
        t = (Pc[..., c] - a[..., c] * Ic[..., c]).ravel()
        upper = (1.0 - a[..., c]).ravel()
        res = lsq_linear(A, A @ t, bounds=(np.zeros_like(upper), upper), method="bvls",
                         tol=1e-14)
        R[..., c] = res.x.reshape(H, W)
    return R.reshape(I.shape)


def _objective(I, P, R, alpha, boundary, level=LEVEL, gradient_weight=None):
    Ic, Pc, Rc = _channels(I), _channels(P), _channels(np.asarray(R, dtype=np.float64))
    H, W, C = Ic.shape
    a = _per_channel(alpha, I.shape)
    A = _operator(H, W, boundary, level, gradient_weight)
    d = a * Ic + Rc - Pc
    return sum(float(np.sum((A @ d[..., c].ravel()) ** 2)) for c in range(C)) / (2 * d.size)


@pytest.mark.parametrize("method", ["active-set", "mprgp"])
@pytest.mark.parametrize("boundary", ["zero", "reflect"])
@pytest.mark.parametrize("kind", ["pixel", "pixel-channel", "gray"])
def test_matches_bounded_least_squares_reference(kind, boundary, method):
    """The optimum with an alpha map is scipy's BVLS optimum with per-pixel bounds (coarse to
    fine from 5 pixels: the coarse scales see the map's area averages)."""
    shape = {"pixel": (12, 10, 3), "pixel-channel": (12, 10, 3), "gray": (11, 13)}[kind]
    I, P = make_pair(shape, seed=[3, len(kind), len(boundary)])
    alpha = _alpha_map(shape if kind == "pixel-channel" else shape[:2], seed=4)
    res = gradfusion.solve(I, P, alpha, boundary=boundary, method=method, tol=1e-12,
                           min_size=5)
    assert res.success, res.message
    assert len(res.levels) > 1                      # coarse scales ran, with the map
    a = _per_channel(alpha, shape).reshape(shape)
    assert np.all(res.residual >= 0) and np.all(res.residual <= 1 - a)
    np.testing.assert_array_equal(res.output, a * I + res.residual)
    R_ref = _reference(I, P, alpha, boundary)
    f_ref = _objective(I, P, R_ref, alpha, boundary)
    assert res.fun == pytest.approx(f_ref, rel=1e-7)
    assert _objective(I, P, res.residual, alpha, boundary) == pytest.approx(res.fun, rel=1e-9)
    np.testing.assert_allclose(res.residual, R_ref, atol=1e-5)


@pytest.mark.parametrize("method", ["active-set", "mprgp"])
def test_with_level_and_gradient_weight_maps(method):
    """An alpha map beside a level-weight map and a gradient weight: still BVLS's optimum."""
    shape = (12, 11)
    I, P = make_pair(shape, seed=5)
    alpha = _alpha_map(shape, seed=6)
    rng = np.random.default_rng(7)
    G = rng.uniform(0.2, 3.0, size=shape)
    lam = rng.uniform(0.05, 1.0, size=shape)
    res = gradfusion.solve(I, P, alpha, level_weight=lam, gradient_weight=G, method=method,
                           tol=1e-12, min_size=5)
    assert res.success
    R_ref = _reference(I, P, alpha, "reflect", level=lam, gradient_weight=G)
    f_ref = _objective(I, P, R_ref, alpha, "reflect", level=lam, gradient_weight=G)
    assert res.fun == pytest.approx(f_ref, rel=1e-7)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("method", ["active-set", "mprgp"])
@pytest.mark.parametrize("boundary", ["zero", "reflect"])
def test_constant_map_is_the_scalar(boundary, method, dtype):
    """A map of one value gives the scalar alpha's answer (it is solved as the scalar: bit
    for bit)."""
    I, P = make_pair((40, 36, 3), seed=8, dtype=dtype)
    scalar = gradfusion.solve(I, P, 0.65, boundary=boundary, method=method, min_size=8)
    for alpha in (np.full((40, 36), 0.65), np.full((40, 36, 1), 0.65),
                  np.full((40, 36, 3), 0.65)):
        res = gradfusion.solve(I, P, alpha, boundary=boundary, method=method, min_size=8)
        assert res.residual.dtype == dtype
        np.testing.assert_array_equal(res.residual, scalar.residual)
        np.testing.assert_array_equal(res.output, scalar.output)
        assert res.fun == scalar.fun


@pytest.mark.parametrize("method", ["active-set", "mprgp"])
def test_per_channel_map_is_the_per_channel_sequence(method):
    I, P = make_pair((30, 34, 3), seed=9)
    alpha = (0.55, 0.7, 0.8)
    seq = gradfusion.solve(I, P, alpha, method=method, min_size=8)
    res = gradfusion.solve(I, P, np.broadcast_to(np.array(alpha), I.shape), method=method,
                           min_size=8)
    np.testing.assert_array_equal(res.residual, seq.residual)
    assert res.fun == seq.fun


@pytest.mark.parametrize("method", ["active-set", "mprgp"])
def test_kkt_conditions_per_pixel(method):
    """At the answer the gradient is >= 0 where R = 0, <= 0 where R = 1 - alpha(x) and 0
    between, pixel by pixel."""
    shape = (16, 14, 3)
    I, P = make_pair(shape, seed=10)
    alpha = _alpha_map(shape, seed=11)
    res = gradfusion.solve(I, P, alpha, boundary="zero", method=method, tol=1e-20)
    R = res.residual
    upper = 1 - alpha
    assert np.all(R >= 0) and np.all(R <= upper)
    A = _operator(16, 14, "zero", LEVEL)
    bound_hits = 0
    for c in range(3):
        d = (alpha[..., c] * I[..., c] + R[..., c] - P[..., c]).ravel()
        g = (A.T @ (A @ d)).reshape(R.shape[:2])
        lower, top = R[..., c] <= 0, R[..., c] >= upper[..., c]
        free = ~lower & ~top
        scale = np.abs(A.T @ (A @ P[..., c].ravel())).max()
        assert np.all(g[lower] >= -1e-9 * scale)
        assert np.all(g[top] <= 1e-9 * scale)
        assert np.abs(g[free]).max(initial=0) <= 1e-9 * scale
        bound_hits += int(top.sum())
    assert bound_hits > 0                         # the per-pixel upper bounds are active


@pytest.mark.parametrize("method", ["active-set", "mprgp"])
def test_float32_bounds_are_rounded_down(method):
    """float32 stays float32 and R never exceeds 1 - alpha(x) (each bound rounded down, as
    for a scalar alpha); the answer agrees with float64's to float32 rounding."""
    shape = (48, 40, 3)
    I, P = make_pair(shape, seed=12)
    P = np.clip(P + 0.5 * (np.random.default_rng(13).random(shape) > 0.7), 0, 1)   # bright
    alpha = _alpha_map(shape[:2], seed=14)
    res32 = gradfusion.solve(I.astype(np.float32), P.astype(np.float32), alpha, method=method)
    res64 = gradfusion.solve(I, P, alpha, method=method)
    assert res32.residual.dtype == np.float32 and res32.output.dtype == np.float32
    upper = 1.0 - alpha[..., None]
    R = res32.residual.astype(np.float64)
    assert np.all(R >= 0) and np.all(R <= upper)
    at_bound = R == round_down(np.broadcast_to(upper, shape), np.float32).astype(np.float64)
    assert at_bound.any()                          # the rounded bound is reached, not passed
    assert res32.fun == pytest.approx(res64.fun, rel=1e-5)


@pytest.mark.parametrize("method", ["active-set", "mprgp"])
def test_warm_start_and_single_scale_reach_the_same_optimum(method):
    shape = (40, 44, 3)
    I, P = make_pair(shape, seed=15)
    alpha = _alpha_map(shape, seed=16)
    cold = gradfusion.solve(I, P, alpha, method=method, tol=1e-12, min_size=8)
    assert len(cold.levels) > 1
    single = gradfusion.solve(I, P, alpha, method=method, tol=1e-12, multiscale=False)
    warm = gradfusion.solve(I, P, alpha, method=method, tol=1e-12, x0=np.full(shape, 0.9))
    for other in (single, warm):
        assert other.fun == pytest.approx(cold.fun, rel=1e-9)
        np.testing.assert_allclose(other.residual, cold.residual, atol=1e-6)


def test_channel_axis_is_honoured():
    I, P = make_pair((20, 18, 3), seed=17)
    alpha = _alpha_map((20, 18, 3), seed=18)
    last = gradfusion.solve(I, P, alpha)
    first = gradfusion.solve(np.moveaxis(I, -1, 0), np.moveaxis(P, -1, 0),
                             np.moveaxis(alpha, -1, 0), channel_axis=0)
    np.testing.assert_allclose(np.moveaxis(first.residual, 0, -1), last.residual, atol=1e-12)


def test_gray_scene_with_rgb_proposal_and_a_map():
    I, P = make_pair((20, 18, 3), seed=19)
    alpha = _alpha_map((20, 18), seed=20)
    res = gradfusion.solve(I[..., 0], P, alpha)
    ref = gradfusion.solve(np.repeat(I[..., :1], 3, axis=-1), P, alpha)
    np.testing.assert_array_equal(res.residual, ref.residual)


# --------------------------------------------------------------------------- pass-through


def test_heuristic_clips_pixel_by_pixel():
    I, P = make_pair((20, 18, 3), seed=21)
    for alpha in (_alpha_map((20, 18), seed=22), _alpha_map((20, 18, 3), seed=23)):
        a = _per_channel(alpha, I.shape)
        res = baselines.heuristic(I, P, alpha)
        np.testing.assert_allclose(res.residual, np.clip(P - a * I, 0, 1 - a), atol=1e-15)
        np.testing.assert_allclose(res.output, a * I + res.residual, atol=1e-15)
        assert np.all(res.residual <= 1 - a)
        # and the solve never does worse than it, in its own objective
        assert gradfusion.solve(I, P, alpha).fun <= res.fun


def test_heuristic_float32_stays_below_the_bound():
    I, P = make_pair((20, 18), seed=24, dtype=np.float32)
    P[:] = 1.0
    alpha = _alpha_map((20, 18), seed=25)
    R = baselines.heuristic(I, P, alpha).residual
    assert R.dtype == np.float32 and np.all(R.astype(np.float64) <= 1 - alpha)


def test_evaluate_with_a_map():
    I, P = make_pair((40, 36, 3), seed=26)
    alpha = _alpha_map((40, 36), seed=27)
    ev = gradfusion.evaluate(I, P, alpha, lpips=False)
    names = [row["method"] for row in ev.rows]
    assert names == ["heuristic", "gradfusion"]           # StayPositive takes no map
    assert ev.rows[1]["gradient_error"] < ev.rows[0]["gradient_error"]
    assert ev.settings["alpha"].startswith("map (40, 36)")
    assert "alpha map (40, 36)" in ev.format_table()
    with pytest.raises(ValueError):                 # message: test_errors.py
        gradfusion.evaluate(I, P, alpha, methods=["stay_positive"], lpips=False)


def test_tradeoff_with_a_map():
    I, P = make_pair((36, 34, 3), seed=28)
    alpha = _alpha_map((36, 34, 3), seed=29)
    tr = gradfusion.tradeoff(I, P, alpha, level_weights=[0.3])
    clip = baselines.heuristic(I, P, alpha)
    np.testing.assert_allclose(tr.outputs[-1], clip.output)
    np.testing.assert_allclose(tr.outputs[1], gradfusion.solve(I, P, alpha).output, atol=1e-9)
    assert "alpha map (36, 34, 3)" in tr.format_table()


def test_solve_many_with_a_map():
    pairs = [make_pair((24, 20, 3), seed=s) for s in (30, 31)]
    alpha = _alpha_map((24, 20), seed=32)
    results = sorted(gradfusion.solve_many(pairs, alpha, workers=2), key=lambda r: r.index)
    for (I, P), item in zip(pairs, results):
        assert item.error is None
        # (a worker runs with fewer Numba threads: sums in another order, rounding only)
        np.testing.assert_allclose(item.result.residual, gradfusion.solve(I, P, alpha).residual,
                                   rtol=0, atol=1e-12)


@pytest.mark.parametrize("function", [baselines.stay_positive, baselines.stay_positive_pixels])
def test_stay_positive_refuses_a_map(function):
    """Refused before any work; a constant map is a scalar alpha and is accepted."""
    I, P = make_pair((10, 12, 3), seed=33)
    assert function(I, P, np.full((10, 12), 0.7)).loss == function(I, P, 0.7).loss
    I, P = make_pair((10, 12, 3), seed=33)
    with pytest.raises(ValueError):                 # message: test_errors.py
        function(I, P, _alpha_map((10, 12), seed=38))


def test_paper_loss_takes_a_map():
    """paper_loss (clip + penalty) with per-pixel bounds: a residual inside them costs its
    recon term only, one above them the penalty too."""
    I, P = make_pair((14, 12), seed=34)
    alpha = _alpha_map((14, 12), seed=35)
    R = baselines.heuristic(I, P, alpha).residual
    inside = gradfusion.paper_loss(I, P, R, alpha)
    assert inside == pytest.approx(gradfusion.gradient_error(P, alpha * I + R,
                                                             boundary="zero"), rel=1e-12)
    assert gradfusion.paper_loss(I, P, R + 0.5, alpha) > inside


def test_memory_check_counts_the_map():
    I, P = make_pair((64, 64, 3), seed=36)
    plain = gradfusion._memory.estimate_solve_bytes((3, 64, 64), np.float64)
    with pytest.raises(gradfusion.MemoryLimitError):
        gradfusion.solve(I, P, np.full((64, 64, 3), 0.6), max_memory=plain + 1)
    gradfusion.solve(I, P, 0.6, max_memory=plain + 1)


@pytest.mark.parametrize("method", ["active-set", "mprgp"])
def test_a_map_constant_but_for_one_pixel_is_close_to_the_scalar(method):
    """The per-pixel path itself (not collapsed to the scalar) on a map that differs from the
    scalar in one pixel by one ulp: the same optimum to the solver's tolerance."""
    I, P = make_pair((40, 36, 3), seed=37)
    alpha = np.full((40, 36), 0.65)
    alpha[5, 7] = np.nextafter(0.65, 1.0)
    scalar = gradfusion.solve(I, P, 0.65, method=method, tol=1e-12, min_size=8)
    res = gradfusion.solve(I, P, alpha, method=method, tol=1e-12, min_size=8)
    assert res.fun == pytest.approx(scalar.fun, rel=1e-10)
    np.testing.assert_allclose(res.residual, scalar.residual, atol=1e-7)
