"""Re-solving a window around a local change (solve's ``changed``, solve_sequence on a still
scene): the cropped operator, the window solve, the whole solve's answer and the frames."""

import numpy as np
import pytest
from skimage import data, img_as_float

import gradfusion
from gradfusion import video
from gradfusion._problem import Hessian
from gradfusion._stencils import REFLECT, ZERO
from gradfusion._solvers import window as win
from gradfusion._solvers.gap import GapTest
from gradfusion.synthesis import objective_problem
from gradfusion._validation import prepare_pair


def _scene(shape=(64, 80)):
    """A photograph (astronaut, float64 RGB) cut to ``shape``, and its night-like proposal."""
    I = img_as_float(data.astronaut())[100:100 + shape[0], 180:180 + shape[1]]
    P = np.clip(0.45 * I ** 2.2 * np.array([0.8, 0.9, 1.15]) + 0.02, 0, 1)
    return np.ascontiguousarray(I), P


def _patch(P, t, size=12):
    """``P`` with a bright square moved ``t`` steps across it (an overlay, a moving object)."""
    Q = P.copy()
    y, x = 20 + 2 * t, 24 + 3 * t
    Q[y:y + size, x:x + size] = np.clip(Q[y:y + size, x:x + size] + 0.3, 0, 1)
    return Q


def _changed(P, Q):
    return np.any(P != Q, axis=2)


@pytest.mark.parametrize("mode", [REFLECT, ZERO])
@pytest.mark.parametrize("maps", ["none", "level", "gradient"])
@pytest.mark.parametrize("window", [(5, 14, 6, 17), (0, 9, 3, 12), (7, 16, 10, 19)])
def test_window_operator_is_the_restriction(rng, mode, maps, window):
    """On variables held at zero in the ring, the crop's operator is the whole grid's ``A``
    restricted to the window, whatever lies beyond the ring (and where the window meets the
    grid's border, that border's own handling)."""
    C, H, W = 2, 16, 19
    diagonal = 0.4 * rng.random((1, H, W)) if maps == "level" else None
    weight = 0.5 + rng.random((C, H, W)) if maps == "gradient" else None
    A = Hessian(mode, 0.1, (1.0, -2.0, 1.0), 0.6, diagonal, weight)
    r0, r1, c0, c1 = window
    R0, R1 = max(r0 - win.RING, 0), min(r1 + win.RING, H)
    C0, C1 = max(c0 - win.RING, 0), min(c1 + win.RING, W)
    crop = A.window(slice(R0, R1), slice(C0, C1))
    v = rng.standard_normal((C, H, W))              # anything beyond the ring
    ring = np.zeros((C, H, W), bool)
    ring[:, R0:R1, C0:C1] = True
    ring[:, r0:r1, c0:c1] = False
    v[ring] = 0.0
    whole = A.matvec(v, np.empty_like(v))
    part = crop.matvec(np.ascontiguousarray(v[:, R0:R1, C0:C1]), np.empty((C, R1 - R0, C1 - C0)))
    np.testing.assert_allclose(part[:, r0 - R0:r1 - R0, c0 - C0:c1 - C0],
                               whole[:, r0:r1, c0:c1], rtol=1e-12, atol=1e-12)


def test_window_box():
    assert win.window_box((10, 20, 30, 40), (200, 300), margin=8) == (2, 28, 22, 48)
    assert win.window_box((0, 5, 295, 300), (200, 300), margin=8) == (0, 13, 287, 300)
    assert win.window_box((0, 200, 0, 100), (200, 300), margin=8) is None     # too large


def test_gap_reference():
    """With a ``reference`` the gap is relative to it, not to the point's objective."""
    A = Hessian(REFLECT, 0.1, (1.0, -2.0, 1.0), 0.6)
    t = np.full((1, 6, 6), 0.5)
    b = A.matvec(t, np.empty_like(t))
    x = np.zeros_like(t)
    g = A.matvec(x, np.empty_like(x)) - b
    plain = GapTest(A, b, t, np.array([1.0]), 1e-6)
    scaled = GapTest(A, b, t, np.array([1.0]), 1e-6, reference=1e3)
    out, z = np.empty_like(x), np.empty_like(x)
    plain.check(x, g, out, z)
    scaled.check(x, g, out, z)
    est, phi = plain.last[:2]
    assert plain.value == pytest.approx(est / phi)
    assert scaled.value == pytest.approx(est / 1e3)
    assert scaled.threshold() == pytest.approx(1e-6 * 1e3 + scaled.last[2])


def _problem(I, P, alpha=0.7):
    Ic, Pc, a, axis, _ = prepare_pair(I, P, alpha, -1)
    return objective_problem(Ic, Pc, a, axis)


def test_solve_window_holds_the_rest():
    """The window solve changes nothing outside the window and leaves the window at its own
    optimum: the projected gradient there is small against the start's."""
    I, P = _scene()
    prev = gradfusion.solve(I, _patch(P, 0), 0.7)
    problem = _problem(I, _patch(P, 1))
    x = np.ascontiguousarray(np.moveaxis(prev.residual, -1, 0)).copy()
    start = x.copy()
    box = (18, 36, 22, 42)
    window = (10, 44, 14, 50)
    state, products, seconds = win.solve_window(problem, x, window, tol=1e-6, maxiter=200)
    assert state.status == 0 and state.nit > 0 and products > 1 and seconds > 0
    outside = np.ones(x.shape, bool)
    outside[:, 10:44, 14:50] = False
    np.testing.assert_array_equal(x[outside], start[outside])
    assert np.all(x >= 0) and np.all(x <= 0.3 + 1e-12)

    def projected(x):
        g = problem.matvec(x, np.empty_like(x)) - problem.b
        g = np.where((x <= 0) & (g > 0), 0.0, g)
        g = np.where((x >= problem.upper_field) & (g < 0), 0.0, g)
        return np.abs(g[:, 10:44, 14:50]).max()

    assert box[0] >= 10 and projected(x) < 1e-2 * projected(start)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_changed_gives_the_same_answer_sooner(dtype):
    """With ``changed`` the solve re-solves a window first: the same objective as a cold
    solve (1e-6, the default tol), in fewer whole-image iterations than without it."""
    I, P = _scene((192, 224))
    I, P = I.astype(dtype), P.astype(dtype)
    prev = gradfusion.solve(I, _patch(P, 0), 0.7)
    Q = _patch(P, 2)
    local = gradfusion.solve(I, Q, 0.7, x0=prev.residual, changed=_changed(_patch(P, 0), Q))
    plain = gradfusion.solve(I, Q, 0.7, x0=prev.residual)
    exact = gradfusion.solve(I.astype(np.float64), Q.astype(np.float64), 0.7, tol=1e-11)
    assert local.success and local.steps["window"] > 0 and plain.steps["window"] == 0
    # the patch's two places span rows 20-36 and columns 24-42; 32 pixels more, clipped at 0
    assert len(local.levels) == 2 and local.levels[0]["shape"] == (68, 74)
    assert local.nit < plain.nit             # the whole image's iterations (MPRGP at this size)
    assert (local.fun - exact.fun) / exact.fun < 1e-6
    assert local.residual.dtype == dtype


def test_changed_without_window():
    """Nothing changed, or a change too wide for a window: the solve is the plain one."""
    I, P = _scene()
    prev = gradfusion.solve(I, P, 0.7)
    none = gradfusion.solve(I, P, 0.7, x0=prev.residual, changed=np.zeros(P.shape[:2], bool))
    wide = gradfusion.solve(I, 0.9 * P, 0.7, x0=prev.residual,
                            changed=np.ones(P.shape[:2], bool))
    plain = gradfusion.solve(I, 0.9 * P, 0.7, x0=prev.residual)
    assert none.steps["window"] == 0 and len(none.levels) == 1
    assert wide.steps["window"] == 0 and len(wide.levels) == 1
    assert wide.fun == plain.fun and wide.nit == plain.nit


@pytest.mark.parametrize("layout", ["rgb", "gray", "channels_first"])
def test_sequence_changed_box(rng, layout):
    """solve_sequence's change detection: the bounding box of every pixel whose image or
    proposal changed, in any layout."""
    shape = {"rgb": (20, 24, 3), "gray": (20, 24), "channels_first": (3, 20, 24)}[layout]
    axis = 0 if layout == "channels_first" else -1
    image = rng.random(shape)
    proposal = rng.random(shape)
    later_image, later_proposal = image.copy(), proposal.copy()
    if layout == "channels_first":
        later_image[1, 3, 5] += 0.1
        later_proposal[2, 11, 17] -= 0.1
    else:
        later_image[3, 5] += 0.1
        later_proposal[11, 17] -= 0.1
    box = video._changed_box(later_image, later_proposal, (image, proposal, None), axis)
    assert box == (3, 12, 5, 18)
    expected = np.zeros((20, 24), bool)
    expected[3:12, 5:18] = True
    np.testing.assert_array_equal(video._box_mask(box, (20, 24)), expected)
    assert video._changed_box(image, proposal, (image, proposal, None), axis) is None
    assert not video._box_mask(None, (20, 24)).any()


@pytest.mark.parametrize("edges, expected", [
    ((np.s_[0, 7], np.s_[19, 2], np.s_[4, 0], np.s_[9, 23]), (0, 20, 0, 24)),   # all four
    ((np.s_[0, 7], np.s_[19, 2], np.s_[4, 0]), (0, 20, 0, 8)),                   # three
    ((np.s_[2, 0], np.s_[5, 23]), (2, 6, 0, 24)),                                # two
])
def test_sequence_changed_box_at_the_borders(rng, edges, expected):
    """A change on all four borders is the whole frame without a full comparison (a moving
    camera, a lighting ramp); one on fewer borders still gets its exact box."""
    image = rng.random((20, 24, 3))
    later = image.copy()
    for at in edges:
        later[at] += 0.1
    assert video._changed_box(later, image, (image, image, None), -1) == expected
    assert video._changed_box(image, later, (image, image, None), -1) == expected


@pytest.mark.parametrize("alpha", [0.7, (0.6, 0.7, 0.8), "map"])
def test_sequence_warm_start_follows_the_target(rng, alpha):
    """On the changed box the warm start is the previous residual plus the change of
    ``P - alpha I``, clipped into the bounds; elsewhere it is the previous residual."""
    shape = (20, 24, 3)
    a = rng.uniform(0.5, 0.8, shape[:2]) if alpha == "map" else alpha
    A = (a[..., None] if alpha == "map" else np.asarray(a, float)) * np.ones(shape)
    image, proposal = rng.random(shape), rng.random(shape)
    later_image, later_proposal = image.copy(), proposal.copy()
    later_proposal[4:9, 6:15] = np.clip(later_proposal[4:9, 6:15] + 0.5, 0, 1)
    later_image[7, 10] *= 0.5
    x = rng.random(shape) * (1 - A)
    box = (4, 9, 6, 15)
    start = video._follow_target(x, box, later_image, later_proposal, (image, proposal, None),
                                 a, -1)
    change = (later_proposal - A * later_image) - (proposal - A * image)
    expected = x.copy()
    expected[4:9, 6:15] = np.clip(x + change, 0, 1 - A)[4:9, 6:15]
    np.testing.assert_allclose(start, expected, rtol=0, atol=1e-15)
    assert start is not x and not np.shares_memory(start, x)


def test_sequence_on_a_still_scene_solves_windows():
    """A still scene whose proposal changes in one place: every frame after the first
    re-solves a window and ends at a cold solve's objective (1e-6)."""
    I, P = _scene((192, 224))
    proposals = [_patch(P, t) for t in range(4)]
    frames = list(gradfusion.solve_sequence([I] * 4, proposals, 0.7))
    assert frames[0].steps["window"] == 0
    for r, Q in zip(frames[1:], proposals[1:]):
        exact = gradfusion.solve(I, Q, 0.7, tol=1e-11)
        assert r.warm == "previous" and r.steps["window"] > 0 and r.success
        assert (r.fun - exact.fun) / exact.fun < 1e-6


def test_sequence_moving_camera_has_no_window():
    """A moving camera changes every pixel: no window (the warm start is moved instead)."""
    I, P = _scene((64, 96))
    images = [np.ascontiguousarray(np.roll(I, 2 * t, axis=1)) for t in range(3)]
    proposals = [np.ascontiguousarray(np.roll(P, 2 * t, axis=1)) for t in range(3)]
    frames = list(gradfusion.solve_sequence(images, proposals, 0.7, motion="translation"))
    assert all(r.steps["window"] == 0 for r in frames)


def test_window_solve_is_capped(monkeypatch):
    """A window solve stops at its iteration cap (it only moves the whole solve's start): the
    whole solve still ends at its own tol."""
    monkeypatch.setattr(win, "MAX_ITER", 1)
    I, P = _scene((192, 224))
    prev = gradfusion.solve(I, _patch(P, 0), 0.7)
    Q = _patch(P, 2)
    r = gradfusion.solve(I, Q, 0.7, x0=prev.residual, changed=_changed(_patch(P, 0), Q))
    assert r.steps["window"] == 1 and r.levels[0]["nit"] == 1 and r.success


@pytest.mark.parametrize("maps", ["alpha", "level", "gradient"])
def test_changed_with_maps(maps):
    """Alpha, level-weight and gradient-weight maps are cropped with the window: the answer
    is a cold solve's (1e-6)."""
    I, P = _scene((192, 224))
    rows = np.linspace(0.6, 0.8, I.shape[0])[:, None] * np.ones(I.shape[:2])
    options = {"alpha": dict(alpha=rows), "level": dict(level_weight=0.1 + rows),
               "gradient": dict(gradient_weight=2 * rows)}[maps]
    alpha = options.pop("alpha", 0.7)
    prev = gradfusion.solve(I, _patch(P, 0), alpha, **options)
    Q = _patch(P, 2)
    local = gradfusion.solve(I, Q, alpha, x0=prev.residual, changed=_changed(_patch(P, 0), Q),
                             **options)
    exact = gradfusion.solve(I, Q, alpha, tol=1e-11, **options)
    assert local.success and local.steps["window"] > 0
    assert (local.fun - exact.fun) / exact.fun < 1e-6


def test_changed_when_the_display_reproduces_the_proposal():
    """A proposal the display can show exactly (the optimum's objective is 0): the window's
    gap is measured against at least a fraction of displaying nothing, as the whole solve's,
    and it ends in a few iterations (9 here, as with the rounding floor alone)."""
    I, _ = _scene((192, 224))
    P0 = 0.7 * I + 0.1
    P1 = P0.copy()
    P1[30:50, 40:60] += 0.1                  # still within the display's range
    prev = gradfusion.solve(I, P0, 0.7)
    changed = np.zeros(I.shape[:2], bool)
    changed[30:50, 40:60] = True
    r = gradfusion.solve(I, P1, 0.7, x0=prev.residual, changed=changed)
    assert r.success and 0 < r.steps["window"] <= 10
    np.testing.assert_allclose(r.output, P1, atol=1e-3)
