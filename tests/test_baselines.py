"""StayPositive baselines: losses against direct evaluation, global optimality, references."""

import os

import numpy as np
import pytest

from gradfusion import gradient_error, solve
from gradfusion.baselines import (STAY_POSITIVE_PENALTY, heuristic, stay_positive,
                                  stay_positive_loss, stay_positive_pixels)

from helpers import make_pair

PENALTY = STAY_POSITIVE_PENALTY


def _norm(x):
    lo, hi = x.min(), x.max()
    return (x - lo) / (hi - lo) if hi > lo else np.zeros_like(x)


def _direct_loss(I, P, R, alpha, penalty=PENALTY):
    """The StayPositive loss written out (channels last, alpha scalar or per channel)."""
    I, P, R = (np.asarray(z, dtype=np.float64) for z in (I, P, R))
    alpha = np.asarray(alpha, dtype=np.float64)
    u = 1.0 - alpha
    Rc = np.minimum(np.maximum(R, 0.0), u)
    O = alpha * I + Rc
    return float(np.mean(np.abs(_norm(P) - _norm(O))) + penalty * np.mean(np.abs(Rc - R)))


def _affine_losses(I, P, alpha, a, b, penalty=PENALTY):
    """Loss of R = a P + b for arrays of (a, b) (vectorised over the first axes)."""
    a = np.asarray(a, dtype=np.float64)[..., None]
    b = np.asarray(b, dtype=np.float64)[..., None]
    p = P.ravel()[None]
    lo = (alpha * I).ravel()[None]
    u = np.broadcast_to(1.0 - np.asarray(alpha, dtype=np.float64), I.shape).ravel()[None]
    R = a * p + b
    Rc = np.minimum(np.maximum(R, 0.0), u)
    O = lo + Rc
    mn, mx = O.min(axis=-1, keepdims=True), O.max(axis=-1, keepdims=True)
    span = mx - mn
    N = np.where(span > 0, (O - mn) / np.where(span > 0, span, 1.0), 0.0)
    return np.mean(np.abs(_norm(P).ravel()[None] - N), axis=-1) + \
        penalty * np.mean(np.abs(Rc - R), axis=-1)


def _subgradient(I, P, R, alpha, penalty=PENALTY):
    """A subgradient of the loss in R (what autograd computes for the authors' code)."""
    n = R.size
    u = 1.0 - alpha
    inside = (R > 0) & (R < u)
    O = alpha * I + np.clip(R, 0, u)
    imin, imax = np.argmin(O), np.argmax(O)
    mn, mx = O.flat[imin], O.flat[imax]
    D = mx - mn
    z = (O - mn) / D
    e = np.sign(z - _norm(P)) / n
    g = e / D
    g.flat[imin] += np.sum(e * (z - 1.0)) / D
    g.flat[imax] += -np.sum(e * z) / D
    return g * inside + penalty / n * (np.where(R > u, 1.0, 0.0) - np.where(R < 0, 1.0, 0.0))


def _adam(grad, loss, x0, lr, iters):
    """Adam (PyTorch defaults); returns the best loss over the iterates."""
    x = np.array(x0, dtype=np.float64)
    m = np.zeros_like(x)
    v = np.zeros_like(x)
    best = loss(x)
    for k in range(1, iters + 1):
        g = grad(x)
        m = 0.9 * m + 0.1 * g
        v = 0.999 * v + 0.001 * g * g
        x = x - lr * (m / (1 - 0.9 ** k)) / (np.sqrt(v / (1 - 0.999 ** k)) + 1e-8)
        best = min(best, loss(x))
    return best


# --------------------------------------------------------------------------- the loss


@pytest.mark.parametrize("shape", [(7, 9), (6, 8, 3)])
def test_loss_matches_direct_evaluation(shape):
    I, P = make_pair(shape, seed=1)
    R = np.random.default_rng(2).uniform(-0.2, 0.5, shape)      # violates both bounds
    assert stay_positive_loss(I, P, R, 0.7) == pytest.approx(_direct_loss(I, P, R, 0.7), rel=1e-13)
    alpha = np.array([0.6, 0.7, 0.8]) if len(shape) == 3 else 0.65
    assert stay_positive_loss(I, P, R, alpha, penalty=3.0) == pytest.approx(
        _direct_loss(I, P, R, alpha, 3.0), rel=1e-13)


def test_loss_constant_output_normalises_to_zero():
    I = np.full((4, 5), 0.5)
    P = np.random.default_rng(3).random((4, 5))
    R = np.full((4, 5), 0.1)                # O constant: N(O) = 0
    assert stay_positive_loss(I, P, R, 0.7) == pytest.approx(np.mean(_norm(P)), rel=1e-14)


def test_loss_refuses_bad_arguments():
    """The exception types (the messages are in test_errors.py)."""
    I, P = make_pair((5, 5), seed=4)
    with pytest.raises(ValueError):
        stay_positive_loss(I, P, np.zeros((5, 4)), 0.7)
    with pytest.raises(ValueError):
        stay_positive_loss(I, P, np.full((5, 5), np.nan), 0.7)
    with pytest.raises(ValueError):
        stay_positive_loss(I, P, np.zeros((5, 5)), 0.7, penalty=-1)
    with pytest.raises(ValueError):
        stay_positive_loss(I, P, np.zeros((5, 5)), 1.0)


# --------------------------------------------------------------------------- two parameters


@pytest.mark.parametrize("shape", [(10, 12), (9, 11, 3)])
@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.uint8])
def test_two_param_fun_is_the_loss_of_its_params(shape, dtype):
    I, P = make_pair(shape, seed=5)
    if dtype == np.uint8:
        I, P = (np.round(z * 255).astype(np.uint8) for z in (I, P))
        If, Pf = I / 255.0, P / 255.0
    else:
        I, P = I.astype(dtype), P.astype(dtype)
        If, Pf = I.astype(np.float64), P.astype(np.float64)
    res = stay_positive(I, P, 0.7, grid=24)
    a, b = res.params
    assert res.loss == pytest.approx(_direct_loss(If, Pf, a * Pf + b, 0.7), rel=1e-9)
    assert res.loss == pytest.approx(res.fidelity + PENALTY * res.violation, rel=1e-12)
    np.testing.assert_allclose(res.residual, np.clip(a * Pf + b, 0, 0.3), atol=1e-6)
    assert res.output.dtype == (np.float32 if dtype == np.float32 else np.float64)


@pytest.mark.parametrize("seed", [6, 7])
def test_two_param_is_global_on_a_dense_grid(seed):
    """No point of a dense 481 x 481 grid over a generous box beats the answer."""
    I, P = make_pair((6, 7, 3), seed=seed)
    res = stay_positive(I, P, 0.7)
    a_grid = np.linspace(-3.0, 3.0, 481)
    b_grid = np.linspace(-2.0, 2.0, 481)
    best = np.inf
    for a in a_grid:
        best = min(best, float(_affine_losses(I, P, 0.7, np.full_like(b_grid, a), b_grid).min()))
    assert res.loss <= best + 1e-12
    # and the box of the grid contains the answer's own domain
    assert abs(res.params[0]) < 3.0 and abs(res.params[1]) < 2.0


def test_two_param_beats_adam():
    """The authors' optimiser (Adam, lr 1e-3, 1000 iterations) from a = 1, b = 0 does worse."""
    I, P = make_pair((12, 12, 3), seed=9)
    res = stay_positive(I, P, 0.7)

    def loss(th):
        return _affine_losses(I, P, 0.7, th[0], th[1]).item()

    def grad(th):
        g = _subgradient(I, P, th[0] * P + th[1], 0.7)
        return np.array([np.sum(g * P), np.sum(g)])

    adam = _adam(grad, loss, [1.0, 0.0], 1e-3, 1000)
    assert res.loss <= adam + 1e-12


def test_two_param_per_alpha_channel_and_per_channel_option():
    I, P = make_pair((10, 10, 3), seed=10)
    alpha = np.array([0.6, 0.7, 0.8])
    shared = stay_positive(I, P, alpha, grid=32)
    assert shared.loss == pytest.approx(
        _direct_loss(I, P, shared.params[0] * P + shared.params[1], alpha), rel=1e-10)
    per = stay_positive(I, P, alpha, per_channel=True, grid=32)
    assert per.params.shape == (3, 2)
    R = per.params[:, 0] * P + per.params[:, 1]
    assert per.loss == pytest.approx(_direct_loss(I, P, R, alpha), rel=1e-10)
    assert per.loss <= shared.loss + 1e-12


def test_two_param_constant_proposal():
    I = np.random.default_rng(11).random((6, 6))
    P = np.full((6, 6), 0.4)
    res = stay_positive(I, P, 0.7, grid=16)
    assert res.loss == pytest.approx(_direct_loss(I, P, res.params[0] * P + res.params[1], 0.7))
    assert res.violation == 0.0


# --------------------------------------------------------------------------- all pixels


@pytest.mark.parametrize("shape", [(9, 10), (8, 9, 3)])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_pixels_fun_is_the_direct_loss_and_within_its_bound(shape, dtype):
    I, P = make_pair(shape, seed=12, dtype=dtype)
    res = stay_positive_pixels(I, P, 0.7)
    assert np.all(res.residual >= 0) and np.all(res.residual <= np.float32(0.3) + 1e-7)
    assert res.loss == pytest.approx(_direct_loss(I, P, res.residual, 0.7), rel=1e-6, abs=1e-9)
    assert res.violation == 0.0
    assert res.lower_bound <= res.loss + 1e-12
    assert res.loss_gap <= 2.0 / I.size + 1e-9


def test_pixels_beats_adam_and_long_subgradient_runs():
    I, P = make_pair((10, 11, 3), seed=13)
    res = stay_positive_pixels(I, P, 0.7)
    u = 0.3

    def loss(R):
        return _direct_loss(I, P, R, 0.7)

    def grad(R):
        return _subgradient(I, P, R, 0.7)

    heur = np.clip(P - 0.7 * I, 0, u)
    adam = _adam(grad, loss, heur, 1e-2, 1000)            # the authors' settings
    best = loss(heur)
    R = heur.copy()
    for k in range(1, 4001):                               # projected subgradient, 1/sqrt(k)
        g = grad(R)
        R = np.clip(R - 0.05 / np.sqrt(k) * g / (np.linalg.norm(g) + 1e-300), 0, u)
        best = min(best, loss(R))
    assert res.loss <= adam + 1e-12
    assert res.loss <= best + 1e-12
    assert res.loss < adam                                 # and strictly better here


def test_pixels_matches_brute_force_on_four_pixels():
    rng = np.random.default_rng(14)
    I = rng.random((2, 2))
    P = rng.random((2, 2))
    res = stay_positive_pixels(I, P, 0.7)
    g = np.linspace(0.0, 0.3, 41)
    R = np.stack(np.meshgrid(g, g, g, g, indexing="ij"), axis=-1).reshape(-1, 4)
    O = 0.7 * I.ravel() + R
    mn, mx = O.min(axis=1, keepdims=True), O.max(axis=1, keepdims=True)
    N = np.where(mx > mn, (O - mn) / np.where(mx > mn, mx - mn, 1), 0.0)
    brute = np.mean(np.abs(_norm(P).ravel() - N), axis=1).min()
    assert res.loss <= brute + 1e-12
    assert res.lower_bound <= res.loss


def test_pixels_constant_output_when_it_is_best():
    """Intervals with a common point and a constant proposal: O constant, loss 0."""
    I = np.full((3, 4), 0.5)
    P = np.full((3, 4), 0.2)
    res = stay_positive_pixels(I, P, 0.7)
    assert res.loss == 0.0


# --------------------------------------------------------------------------- common


@pytest.mark.parametrize("method", ["stay_positive", "stay_positive_pixels", "heuristic"])
def test_result_fields_like_solve(method):
    I, P = make_pair((10, 10, 3), seed=15)
    fn = {"stay_positive": lambda: stay_positive(I, P, 0.7, grid=16),
          "stay_positive_pixels": lambda: stay_positive_pixels(I, P, 0.7),
          "heuristic": lambda: heuristic(I, P, 0.7)}[method]
    r = fn()
    for key in ("output", "residual", "x", "fun", "bare_objective", "regularization",
                "level_error", "nit", "nfev", "success", "status", "message", "time"):
        assert key in r
    np.testing.assert_allclose(r.output, 0.7 * I + r.residual, atol=1e-12)
    assert r.bare_objective == pytest.approx(gradient_error(P, r.output), rel=1e-10)
    assert r.success and r.status == 0
    # the terms of solve's default objective at the baseline's residual (no iteration from it)
    at = solve(I, P, 0.7, x0=r.residual, maxiter=0)
    np.testing.assert_array_equal(at.residual, r.residual)
    assert r.regularization == pytest.approx(at.regularization, rel=1e-12) and r.regularization > 0
    assert r.level_error == pytest.approx(at.level_error, rel=1e-12)
    assert r["fun"] == pytest.approx(at.fun, rel=1e-12)     # solve's objective, every method
    assert r.x is r.residual or np.array_equal(r.x, r.residual)


def test_channel_axis_and_grayscale():
    I, P = make_pair((9, 8, 3), seed=16)
    a = stay_positive_pixels(I, P, 0.7)
    b = stay_positive_pixels(np.moveaxis(I, -1, 0), np.moveaxis(P, -1, 0), 0.7, channel_axis=0)
    np.testing.assert_allclose(np.moveaxis(b.residual, 0, -1), a.residual, atol=1e-12)
    g = stay_positive(I[..., 0], P[..., 0], 0.7, grid=16)
    assert g.output.shape == (9, 8) and g.params.shape == (2,)


def test_bad_arguments_raise():
    """The exception types (the messages are in test_errors.py)."""
    I, P = make_pair((6, 6), seed=17)
    with pytest.raises(ValueError):
        stay_positive(I, P, 0.7, grid=2)
    with pytest.raises(ValueError):
        stay_positive(I, P, 0.7, penalty=np.inf)
    with pytest.raises(ValueError):
        stay_positive(I, P, 0.7, penalty=0.0)
    with pytest.raises(ValueError):
        stay_positive_pixels(I, P, 0.7, xtol=0)
    with pytest.raises(ValueError):
        stay_positive_pixels(I, P[:5], 0.7)
    with pytest.raises(TypeError):
        stay_positive(I, P.astype(np.int32), 0.7)


def test_staypositive_demo_pair(shared_data):
    from skimage.util import img_as_float

    from gradfusion.io import read_image

    d = os.path.join(shared_data, "staypositive_demo")
    I = img_as_float(read_image(os.path.join(d, "demoA_input.png")))
    P = img_as_float(read_image(os.path.join(d, "demoB_proposal.png")))
    res = stay_positive_pixels(I, P, 0.7)
    assert res.loss_gap <= 2.0 / I.size
    assert res.loss == pytest.approx(stay_positive_loss(I, P, res.residual, 0.7), rel=1e-12)
    two = stay_positive(I, P, 0.7, grid=16)
    assert two.loss == pytest.approx(
        stay_positive_loss(I, P, two.params[0] * P + two.params[1], 0.7), rel=1e-10)
    assert res.loss < two.loss          # a free residual per pixel fits better than two numbers
