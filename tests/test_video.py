"""gradfusion.solve_sequence, the warps (their Numba kernels against the NumPy references of
tests/reference.py) and motion estimate under it, flicker, frame files, the ``gradfusion video``
command: small sequences cut from scikit-image photographs."""

import os

import numpy as np
import pytest
from skimage import data, img_as_float

import gradfusion
import reference
from gradfusion import io, video
from gradfusion._video import _kernels as warp_kernels
from gradfusion.cli import main
from gradfusion.metrics import flicker
from helpers import assert_close, dtype_param, twin_param

ALPHA = 0.7


def _photo(name="astronaut"):
    return img_as_float(getattr(data, name)()).astype(np.float32)


def pan(n=5, size=(48, 64), steps=None, seed=0, noise=0.01):
    """``(images, proposals, motions)``: a window panning over a photograph, proposals made
    per frame with a per-frame gain jitter (a network's flicker)."""
    rng = np.random.default_rng(seed)
    photo = _photo()
    H, W = size
    steps = rng.integers(1, 5, size=n) if steps is None else np.broadcast_to(steps, n)
    x, y = 100, 180
    images, motions = [], [None]
    for t in range(n):
        if t:
            x += int(steps[t])
            motions.append(np.array([[1.0, 0, -steps[t]], [0, 1, 0], [0, 0, 1]]))
        images.append(np.ascontiguousarray(photo[y:y + H, x:x + W]))
    proposals = [np.clip((0.45 + noise * rng.standard_normal()) * I ** 2.2 + 0.02, 0, 1)
                 .astype(np.float32) for I in images]
    return images, proposals, motions


@pytest.fixture(scope="module")
def sequence():
    return pan()


@pytest.fixture(scope="module")
def cold(sequence):
    images, proposals, _ = sequence
    return [gradfusion.solve(I, P, ALPHA, tol=1e-10) for I, P in zip(images, proposals)]


# --------------------------------------------------------------------------- exact answers


@pytest.mark.parametrize("motion", [None, "translation", "true"])
@pytest.mark.parametrize("method", ["mprgp", "active-set"])
def test_every_frame_is_its_own_optimum(sequence, cold, motion, method):
    images, proposals, motions = sequence
    m = motions if motion == "true" else motion
    results = list(gradfusion.solve_sequence(images, proposals, ALPHA, motion=m, method=method))
    assert [r.frame for r in results] == list(range(len(images)))
    for r, c in zip(results, cold):
        assert r.success and r.budget_status == "unlimited" and r.within_budget
        assert abs(r.fun - c.fun) <= 1e-6 * c.fun
        assert r.output.dtype == np.float32 and r.output.shape == images[0].shape
        assert 0 <= r.residual.min() and r.residual.max() <= 1 - ALPHA + 1e-6
    assert results[0].warm == "cold" and np.isnan(results[0].transform).all()
    expected = {None: "previous", "translation": "translation", "true": "transform"}[motion]
    assert all(r.warm == expected for r in results[1:])


def test_translation_is_estimated_and_warm_start_follows(sequence):
    images, proposals, motions = sequence
    results = list(gradfusion.solve_sequence(images, proposals, ALPHA, motion="translation"))
    for r, m in zip(results[1:], motions[1:]):
        np.testing.assert_array_equal(r.transform, m)
        assert r.exposed == pytest.approx(abs(m[0, 2]) / images[0].shape[1])


@pytest.mark.parametrize("dy, dx", [(0, 3), (-2, 1), (4, -4), (1.5, 0.0)])
def test_estimate_translation(dy, dx):
    photo = _photo("coffee")
    shift = np.array([[1, 0, dx], [0, 1, dy], [0, 0, 1.0]])
    previous = photo[100:260, 150:350]
    current, valid = video.warp(previous, shift)
    current = np.where(valid[..., None], current, previous)        # fill the strip
    est = video.estimate_translation(previous, current)
    integer = float(dy).is_integer() and float(dx).is_integer()
    assert est == ((dy, dx) if integer else pytest.approx((dy, dx), abs=0.25))


def test_translation_tracker_reuses_each_frame_spectrum(monkeypatch):
    """Along a sequence each frame's half-resolution spectrum is computed once (as the current
    frame, then kept as the next estimate's previous one) and the estimates are those of
    estimate_translation; frames that are not the last call's current frame get their own."""
    from gradfusion._video import motion as _motion

    photo = _photo("coffee")
    frames = [np.ascontiguousarray(photo[100 + t:260 + t, 150 + 2 * t:350 + 2 * t])
              for t in range(5)]
    expected = [video.estimate_translation(a, b) for a, b in zip(frames, frames[1:])]
    calls = []
    spectrum = _motion._spectrum
    monkeypatch.setattr(_motion, "_spectrum", lambda a: calls.append(a.shape) or spectrum(a))
    tracker = _motion.TranslationTracker()
    assert [tracker(a, b) for a, b in zip(frames, frames[1:])] == expected
    half = [s for s in calls if s == (80, 100)]
    assert len(half) == len(frames)                 # not 2 per estimate
    calls.clear()
    views = [f[:, :] for f in frames[:3]]           # fresh views: no key matches ...
    tracker(views[0], views[1])
    tracker(views[1][:, :], views[2])
    assert len([s for s in calls if s == (80, 100)]) == 4
    calls.clear()                                   # ... unless the caller names the frames
    tracker(views[0], views[1], keys=(frames[0], frames[1]))
    tracker(views[1][:, :], views[2], keys=(frames[1], frames[2]))
    assert len([s for s in calls if s == (80, 100)]) == 3


def test_solve_sequence_estimates_with_one_spectrum_per_frame(monkeypatch):
    from gradfusion._video import motion as _motion

    images, proposals, motions = pan(n=4, size=(128, 136))
    calls = []
    spectrum = _motion._spectrum
    monkeypatch.setattr(_motion, "_spectrum", lambda a: calls.append(a.shape) or spectrum(a))
    results = list(gradfusion.solve_sequence(images, proposals, ALPHA, motion="translation",
                                             maxiter=5))
    assert calls.count((64, 68)) == len(images)     # half resolution, once per frame
    for r, m in zip(results[1:], motions[1:]):
        np.testing.assert_array_equal(r.transform, m)


def test_warp_integer_shift_is_exact_and_marks_the_strip():
    a = np.random.default_rng(3).random((10, 12, 3))
    moved, valid = video.warp(a, [[1, 0, -2], [0, 1, 1], [0, 0, 1]])
    np.testing.assert_array_equal(moved[1:, :-2], a[:-1, 2:])
    assert not valid[0].any() and not valid[:, -2:].any() and valid[1:, :-2].all()
    assert (moved[~valid] == 0).all()


def test_flow_field_equals_its_translation():
    a = np.random.default_rng(4).random((9, 11))
    flow = np.zeros((2, 9, 11))
    flow[1] = -1.0                   # pixel p shows the previous frame at p + (0, -1)
    by_flow, v1 = video.warp(a, flow)
    by_matrix, v2 = video.warp(a, [[1, 0, 1], [0, 1, 0], [0, 0, 1]])
    np.testing.assert_array_equal(by_flow, by_matrix)
    np.testing.assert_array_equal(v1, v2)


def test_callable_motion_and_skimage_transform(sequence, cold):
    from skimage.transform import EuclideanTransform

    images, proposals, motions = sequence
    seen = []

    def tracker(frame, previous, current):
        seen.append((frame, previous is images[frame - 1], current is images[frame]))
        return EuclideanTransform(translation=(motions[frame][0, 2], 0))

    results = list(gradfusion.solve_sequence(images, proposals, ALPHA, motion=tracker))
    assert seen == [(t, True, True) for t in range(1, len(images))]
    for r, c in zip(results, cold):
        assert abs(r.fun - c.fun) <= 1e-6 * c.fun
    assert all(r.warm == "transform" for r in results[1:])


def test_frames_are_read_lazily(sequence):
    images, proposals, _ = sequence
    pulled = []

    def lazy():
        for t, I in enumerate(images):
            pulled.append(t)
            yield I

    run = gradfusion.solve_sequence(lazy(), iter(proposals), ALPHA)
    assert pulled == []                              # nothing read before the first next()
    next(run)
    assert pulled == [0]
    next(run)
    assert pulled == [0, 1]


def test_unchanged_frame_reuses_the_answer(sequence):
    images, proposals, _ = sequence
    results = list(gradfusion.solve_sequence([images[0]] * 3, [proposals[0]] * 3, ALPHA))
    assert [r.warm for r in results] == ["cold", "unchanged", "unchanged"]
    assert results[1].nit == 0 and results[1].fun == results[0].fun
    np.testing.assert_array_equal(results[2].output, results[0].output)
    assert results[2].output is not results[0].output


@pytest.mark.parametrize("layout", ["gray", "channels-first", "uint8"])
def test_layouts(sequence, layout):
    images, proposals, motions = sequence
    if layout == "gray":
        images, proposals, axis = [I[..., 0] for I in images], [P[..., 0] for P in proposals], -1
    elif layout == "channels-first":
        images = [np.moveaxis(I, -1, 0) for I in images]
        proposals = [np.moveaxis(P, -1, 0) for P in proposals]
        axis = 0
    else:
        images = [np.round(I * 255).astype(np.uint8) for I in images]
        proposals = [np.round(P * 255).astype(np.uint8) for P in proposals]
        axis = -1
    results = list(gradfusion.solve_sequence(images, proposals, ALPHA, motion=motions,
                                             channel_axis=axis))
    for r, I, P in zip(results, images, proposals):
        ref = gradfusion.solve(I, P, ALPHA, channel_axis=axis, tol=1e-10)
        assert r.output.shape == I.shape and abs(r.fun - ref.fun) <= 1e-6 * ref.fun
        assert r.output.dtype == (np.float64 if layout == "uint8" else np.float32)


def test_alpha_map_with_a_moving_start(sequence):
    """A per-pixel transmission: the exposed strip starts from the clip under the map."""
    images, proposals, motions = sequence
    amap = np.full(images[0].shape[:2], 0.7)
    amap[:, :20] = 0.6
    results = list(gradfusion.solve_sequence(images, proposals, amap, motion=motions,
                                             budget=30.0))
    assert results[0].warm == "clip"
    for r, I, P in zip(results, images, proposals):
        ref = gradfusion.solve(I, P, amap, tol=1e-10)
        assert abs(r.fun - ref.fun) <= 1e-6 * ref.fun


# --------------------------------------------------------------------------- the warp kernels

#: what ``out`` holds before a warp: no source value (those are in [-1, 1]), so a pixel the
#: kernel wrote is told from one it left alone
UNTOUCHED = 5.0

WARP_SHAPES = [(9, 11, 3), (16, 13, 1), (2, 5, 2), (1, 7, 3), (6, 1, 2), (1, 1, 1)]
warp_shape_param = pytest.mark.parametrize("shape", WARP_SHAPES,
                                           ids=lambda s: "x".join(map(str, s)))


def _shift(dy, dx):
    """The ``inverse`` of a translation: output pixel ``(y, x)`` reads the source at
    ``(y + dy, x + dx)``."""
    return np.array([[1.0, 0.0, dx], [0.0, 1.0, dy], [0.0, 0.0, 1.0]])


def _about_centre(H, W, A):
    """The 2x2 linear map ``A`` (acting on (col, row)) applied about the grid's centre."""
    c = np.array([(W - 1) / 2, (H - 1) / 2])
    m = np.eye(3)
    m[:2, :2] = A
    m[:2, 2] = c - A @ c
    return m


def _rotation(degrees):
    t = np.radians(degrees)
    return np.array([[np.cos(t), -np.sin(t)], [np.sin(t), np.cos(t)]])


#: the ``inverse`` argument of warp_homography (output pixel -> source point) for an (H, W)
#: grid: points inside, on and outside the grid
HOMOGRAPHIES = {
    "identity": lambda H, W: np.eye(3),
    "integer-shift": lambda H, W: _shift(2, -3),
    "fractional-shift": lambda H, W: _shift(-0.25, 1.625),
    "zoom-in": lambda H, W: _about_centre(H, W, 0.7 * np.eye(2)),       # every point inside
    "zoom-out": lambda H, W: _about_centre(H, W, 1.3 * np.eye(2)),      # a frame outside
    "rotation": lambda H, W: _about_centre(H, W, _rotation(12.0)),      # corners outside
    "projective": lambda H, W: np.array([[0.95, 0.08, 0.6], [-0.05, 1.04, -0.3],
                                         [0.012, -0.008, 1.0]]),
    # the third coordinate 0.5 x - 1 vanishes on column 2 and is negative left of it
    "horizon": lambda H, W: np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.5, 0.0, -1.0]]),
}


def _flow(rng, H, W, amplitude, still=0.0):
    """A random ``(2, H, W)`` flow field, uniform in ``[-amplitude, amplitude]``, each component
    0 with probability ``still`` (so that 1-pixel-high or -wide sources keep valid points)."""
    flow = rng.uniform(-amplitude, amplitude, (2, H, W))
    flow[rng.random((2, H, W)) < still] = 0.0
    return flow


FLOWS = {
    "small": dict(amplitude=0.4),             # within half a pixel: few points outside
    "large": dict(amplitude=3.0),             # a few pixels: many points outside
    "mixed": dict(amplitude=2.0, still=0.5),  # half the components zero (integer points)
}


def _source(rng, shape, dtype):
    return rng.uniform(-1.0, 1.0, shape).astype(dtype)


def _warp(kernel, twin, src, motion, out=None):
    """``(out, valid)`` of ``kernel``'s ``twin`` (``out`` filled with :data:`UNTOUCHED` unless
    given; ``valid`` filled with 7, neither 0 nor 1)."""
    if out is None:
        out = np.full(src.shape, UNTOUCHED, src.dtype)
    valid = np.full(src.shape[:2], 7, np.uint8)
    getattr(kernel, twin)(src, motion, out, valid)
    return out, valid


def _assert_agree(out, valid, expected, expected_valid, src):
    """``valid`` is the reference's mask (0/1), ``out`` agrees with the reference where it is
    1 (the shared tolerance) and still holds :data:`UNTOUCHED` where it is 0."""
    assert valid.dtype == np.uint8
    np.testing.assert_array_equal(valid, expected_valid.astype(np.uint8))
    outside = ~expected_valid
    assert (out[outside] == UNTOUCHED).all()
    assert_close(out[~outside], expected[~outside], src.dtype, scale=np.abs(src).max())


def _homography_case(name, rng, shape):
    inverse = HOMOGRAPHIES[name](*shape[:2])
    return warp_kernels.warp_homography, inverse, reference.warp_homography


def _flow_case(name, rng, shape):
    return warp_kernels.warp_flow, _flow(rng, *shape[:2], **FLOWS[name]), reference.warp_flow


WARP_CASES = ([pytest.param(_homography_case, n, id=f"homography-{n}") for n in HOMOGRAPHIES]
              + [pytest.param(_flow_case, n, id=f"flow-{n}") for n in FLOWS])


@twin_param
@dtype_param
@warp_shape_param
@pytest.mark.parametrize("case, name", WARP_CASES)
def test_warp_kernel_matches_reference(case, name, shape, dtype, twin, rng):
    """Each warp kernel (a homography's inverse map, a flow field) against its NumPy
    reference."""
    src = _source(rng, shape, dtype)
    kernel, motion, ref_warp = case(name, rng, shape)
    out, valid = _warp(kernel, twin, src, motion)
    _assert_agree(out, valid, *ref_warp(src, motion, warp_kernels.EDGE), src)


def _motion(kind, dy, dx, hw):
    """The homography or the constant flow field reading the source at ``(y + dy, x + dx)``."""
    if kind == "homography":
        return warp_kernels.warp_homography, _shift(dy, dx)
    return warp_kernels.warp_flow, np.stack([np.full(hw, float(dy)), np.full(hw, float(dx))])


@twin_param
@dtype_param
@pytest.mark.parametrize("kind", ["homography", "flow"])
@pytest.mark.parametrize("dy, dx", [(0, 0), (2, -3), (-1, 4), (-8, 0)])
def test_warp_integer_translation_copies_exactly(dy, dx, kind, dtype, twin, rng):
    """The weights are exactly 0 and 1: the source's values, bit for bit, on the rectangle
    that stays in view (found by hand, not by the reference); nothing written elsewhere."""
    H, W = 9, 11
    src = _source(rng, (H, W, 3), dtype)
    kernel, motion = _motion(kind, dy, dx, (H, W))
    out, valid = _warp(kernel, twin, src, motion)
    rows = slice(max(-dy, 0), H - max(dy, 0))
    cols = slice(max(-dx, 0), W - max(dx, 0))
    expected_valid = np.zeros((H, W), np.uint8)
    expected_valid[rows, cols] = 1
    np.testing.assert_array_equal(valid, expected_valid)
    np.testing.assert_array_equal(
        out[rows, cols], src[rows.start + dy:rows.stop + dy, cols.start + dx:cols.stop + dx])
    assert (out[valid == 0] == UNTOUCHED).all()


@dtype_param
@pytest.mark.parametrize("kind", ["homography", "flow"])
def test_warp_points_outside_the_grid_are_invalid_and_untouched(kind, dtype, rng):
    """A shift by (2.5, -3.25) on a 9x11 grid: rows 0-5 and columns 4-10 read inside the
    source, the rest outside."""
    src = _source(rng, (9, 11, 2), dtype)
    kernel, motion = _motion(kind, 2.5, -3.25, (9, 11))
    out, valid = _warp(kernel, "serial", src, motion)
    expected_valid = np.zeros((9, 11), np.uint8)
    expected_valid[:6, 4:] = 1
    np.testing.assert_array_equal(valid, expected_valid)
    assert (out[valid == 0] == UNTOUCHED).all()
    assert (out[valid == 1] != UNTOUCHED).all()


#: (dy, dx) pushing the source points a distance d outward across each side of the grid
SIDES = {"top": (-1, 0), "bottom": (1, 0), "left": (0, -1), "right": (0, 1)}


@pytest.mark.parametrize("side", list(SIDES))
@pytest.mark.parametrize("kind", ["homography", "flow"])
@pytest.mark.parametrize("factor", [0.5, 2.0])
def test_warp_edge_tolerance(factor, kind, side, rng):
    """Points ``factor * EDGE`` outside one side of the grid: within EDGE they take the edge
    pixels exactly, beyond it they have no value; every other point is inside."""
    H, W = 5, 6
    src = _source(rng, (H, W, 2), np.float64)
    d = factor * warp_kernels.EDGE
    dy, dx = (d * s for s in SIDES[side])
    kernel, motion = _motion(kind, dy, dx, (H, W))
    out, valid = _warp(kernel, "serial", src, motion)
    edge = {"top": np.s_[0], "bottom": np.s_[-1], "left": np.s_[:, 0], "right": np.s_[:, -1]}[side]
    expected_valid = np.ones((H, W), np.uint8)
    expected_valid[edge] = factor < 1
    np.testing.assert_array_equal(valid, expected_valid)
    if factor < 1:
        np.testing.assert_array_equal(out[edge], src[edge])
    else:
        assert (out[edge] == UNTOUCHED).all()
    warp = reference.warp_homography if kind == "homography" else reference.warp_flow
    _assert_agree(out, valid, *warp(src, motion, warp_kernels.EDGE), src)


@twin_param
@dtype_param
@pytest.mark.parametrize("kind", ["homography", "flow"])
def test_warp_kernels_take_moveaxis_views(kind, dtype, twin, rng):
    """A channels-first stack, its output and a flow stored (H, W, 2) are warped through
    non-contiguous views: the output lands in the stack's own memory, bit for bit what
    contiguous copies give, and agrees with the reference."""
    C, H, W = 3, 10, 12
    stack = _source(rng, (C, H, W), dtype)
    src = np.moveaxis(stack, 0, -1)
    target = np.full((C, H, W), UNTOUCHED, dtype)
    out = np.moveaxis(target, 0, -1)
    if kind == "homography":
        kernel, motion = warp_kernels.warp_homography, HOMOGRAPHIES["rotation"](H, W)
        expected = reference.warp_homography(src, motion, warp_kernels.EDGE)
    else:
        kernel = warp_kernels.warp_flow
        motion = np.moveaxis(rng.uniform(-2.0, 2.0, (H, W, 2)), -1, 0)
        expected = reference.warp_flow(src, motion, warp_kernels.EDGE)
    assert not (src.flags.c_contiguous or out.flags.c_contiguous)
    _, valid = _warp(kernel, twin, src, motion, out=out)
    assert np.shares_memory(out, target)
    _assert_agree(out, valid, *expected, src)
    copy, copy_valid = _warp(kernel, twin, np.ascontiguousarray(src), np.ascontiguousarray(motion))
    np.testing.assert_array_equal(valid, copy_valid)
    np.testing.assert_array_equal(out, copy)


@pytest.mark.parametrize("shape", [(7, 9, 2), (1, 6, 1), (5, 1, 3)],
                         ids=lambda s: "x".join(map(str, s)))
def test_reference_bilinear_matches_map_coordinates(shape, rng):
    """The tent-weight sum of the reference is scipy's linear spline interpolation at the
    valid points (clamped onto the grid), and NaN elsewhere."""
    from scipy import ndimage

    H, W, C = shape
    src = rng.standard_normal(shape)
    # a side of one pixel: points within 2 EDGE of its row or column, half of them valid
    sy = rng.uniform(-0.5, H - 0.5, 40) if H > 1 else rng.uniform(-2e-3, 2e-3, 40)
    sx = rng.uniform(-0.5, W - 0.5, 40) if W > 1 else rng.uniform(-2e-3, 2e-3, 40)
    values, valid = reference.bilinear_at(src, sy, sx, 1e-3)
    assert valid.any() and not valid.all()
    ys, xs = np.clip(sy, 0, H - 1), np.clip(sx, 0, W - 1)
    for c in range(C):
        expected = ndimage.map_coordinates(src[..., c], [ys, xs], order=1, mode="nearest")
        np.testing.assert_allclose(values[valid, c], expected[valid], rtol=1e-13, atol=1e-13)
    assert np.isnan(values[~valid]).all()


# --------------------------------------------------------------------------- budgets


def test_iteration_budget_on_a_static_scene_never_loses_ground():
    """Every frame the same: each stops at its budget, the next continues, the error falls."""
    images, proposals, _ = pan(n=1, size=(64, 80))
    exact = gradfusion.solve(images[0], proposals[0], ALPHA, tol=1e-10).fun
    results = list(gradfusion.solve_sequence(images * 12, proposals * 12, ALPHA,
                                             budget_iterations=3, method="mprgp"))
    gaps = [(r.fun - exact) / exact for r in results]
    assert all(r.nit <= 3 and r.within_budget for r in results)
    assert results[0].warm == "cold" and results[0].budget_status == "stopped"
    assert all(b <= a * (1 + 1e-6) + 1e-12 for a, b in zip(gaps, gaps[1:]))    # no drift
    assert gaps[-1] < 0.1 * gaps[0]


def test_time_budget_reports_status_and_first_frame_starts_from_the_clip(sequence):
    images, proposals, _ = sequence
    results = list(gradfusion.solve_sequence(images, proposals, ALPHA, budget=10.0,
                                             motion="translation"))
    assert results[0].warm == "clip"
    for r in results:
        assert r.budget == 10.0 and r.budget_status in ("converged", "stopped")
        assert r.within_budget == (r.time <= 10.0)
        assert r.budget_status == ("converged" if r.status == 0 else "stopped")


def test_a_tiny_time_budget_stops_every_frame(sequence):
    images, proposals, _ = sequence
    results = list(gradfusion.solve_sequence(images, proposals, ALPHA, budget=1e-6,
                                             method="mprgp"))
    assert all(r.budget_status == "stopped" and r.status == 2 and not r.within_budget
               for r in results)
    for r in results:          # the best feasible iterate, its optimality; no estimate after the stop
        assert np.isnan(r.gap) and np.isfinite(r.optimality) and r.optimality > 0
        assert 0 <= r.residual.min() and r.residual.max() <= 0.3 + 1e-6


def test_result_fields_do_not_depend_on_the_options(sequence):
    images, proposals, motions = sequence
    keys = None
    for options in ({}, {"motion": "translation"}, {"motion": motions}, {"budget": 1.0},
                    {"budget_iterations": 2}):
        for r in gradfusion.solve_sequence(images[:3], proposals[:3], ALPHA, **options):
            assert r.transform.shape == (3, 3) and isinstance(r.within_budget, bool)
            assert keys is None or set(r) == keys
            keys = set(r)
    for r in gradfusion.solve_sequence([images[0]] * 2, [proposals[0]] * 2, ALPHA):
        assert set(r) == keys


# --------------------------------------------------------------------------- flicker


def test_flicker_of_a_scaled_sequence_is_the_scale():
    rng = np.random.default_rng(5)
    P = [0.5 + 0.05 * rng.standard_normal((6, 7, 3)) for _ in range(5)]
    assert flicker(proposals=P, outputs=[0.3 * p + 0.1 for p in P]) == pytest.approx(0.3)
    assert flicker(proposals=P, outputs=P) == pytest.approx(1.0)
    static = [np.full((4, 4), 0.5)] * 3
    assert flicker(proposals=static, outputs=static) == 1.0
    assert flicker(proposals=static[:2],
                   outputs=[np.full((4, 4), 0.5), np.full((4, 4), 0.6)]) == np.inf


def test_flicker_is_motion_compensated(sequence):
    images, _, motions = sequence
    jitter = [np.clip(I + 0.01 * k, 0, 1) for k, I in enumerate(images)]
    moving = flicker(proposals=images, outputs=jitter)
    compensated = flicker(proposals=images, outputs=jitter, motion=motions)
    assert moving < 2.0 < compensated       # without compensation the pan hides the jitter


@pytest.mark.parametrize("steps, options", [
    (0, dict(boundary="zero", level_weight=0.0)),          # a fixed camera: any setting
    (0, dict(boundary="reflect", level_weight=0.3)),
    (1, dict(boundary="reflect", level_weight=0.3)),       # a pan: reflected borders
    (None, dict(boundary="reflect", level_weight=0.3)),
])
def test_converged_outputs_do_not_amplify_flicker(steps, options):
    images, proposals, motions = pan(n=5, size=(96, 128), steps=steps)
    outputs = [r.output for r in gradfusion.solve_sequence(images, proposals, ALPHA,
                                                           motion=motions, **options)]
    assert flicker(proposals=proposals, outputs=outputs, motion=motions) <= 1.1


def test_zero_padded_borders_flicker_under_a_pan():
    """The frame's zero-padded border is fixed in the frame while the scene moves under it:
    each frame's exact optimum shifts its light level, 4-7x the proposals' change here."""
    images, proposals, motions = pan(n=5, size=(96, 128), steps=1)
    outputs = [r.output for r in gradfusion.solve_sequence(images, proposals, ALPHA,
                                                           motion=motions, boundary="zero",
                                                           level_weight=0.0)]
    assert flicker(proposals=proposals, outputs=outputs, motion=motions) > 2


# --------------------------------------------------------------------------- files, CLI


def _write_folder(folder, frames):
    os.makedirs(folder)
    for k, f in enumerate(frames):
        io.write_image(os.path.join(folder, f"f{k}.png"), f)


def test_frame_folders_round_trip_in_natural_order(tmp_path):
    frames = [np.full((4, 5, 3), k / 12.0) for k in range(12)]
    _write_folder(tmp_path / "in", frames)
    read = list(video.read_frames(tmp_path / "in"))        # f10 after f9, not after f1
    assert [int(round(f[0, 0, 0] / 255 * 12)) for f in read] == list(range(12))
    assert video.write_frames(tmp_path / "out", read) == 12
    assert sorted(os.listdir(tmp_path / "out"))[:2] == ["000000.png", "000001.png"]


def test_video_file_round_trip(tmp_path):
    pytest.importorskip("imageio_ffmpeg")
    images, _, _ = pan(n=4, size=(48, 64))
    path = tmp_path / "pan.mp4"
    assert video.write_frames(path, images, fps=10) == 4
    assert [n for n in os.listdir(tmp_path)] == ["pan.mp4"]        # no temporary left
    read = list(video.read_frames(path))
    assert len(read) == 4 and read[0].shape == (48, 64, 3)
    for a, b in zip(read, images):             # lossy H.264, pixels within a few levels
        assert np.abs(a / 255.0 - b).mean() < 0.03


def test_video_file_without_the_extra_names_it(tmp_path, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "imageio_ffmpeg", None)
    (tmp_path / "a.mp4").write_bytes(b"x")
    with pytest.raises(video.VideoUnavailableError):
        video.read_frames(tmp_path / "a.mp4")


def test_failed_video_write_leaves_nothing(tmp_path):
    pytest.importorskip("imageio_ffmpeg")

    def frames():
        yield np.zeros((16, 16, 3))
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        video.write_frames(tmp_path / "cut.mp4", frames())
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("output", ["out", "out.mp4"])
def test_cli_video(tmp_path, capsys, output):
    if output.endswith(".mp4"):
        pytest.importorskip("imageio_ffmpeg")
    images, proposals, _ = pan(n=4, size=(40, 56))
    _write_folder(tmp_path / "I", images)
    _write_folder(tmp_path / "P", proposals)
    out = str(tmp_path / output)
    rc = main(["video", str(tmp_path / "I"), str(tmp_path / "P"), "--alpha", "0.7", "-o", out,
               "--motion", "translation", "--no-progress"])
    captured = capsys.readouterr()
    assert rc == 0, captured.err
    assert "4 frames" in captured.out
    frames = list(video.read_frames(out))
    assert len(frames) == 4
    # the first output, by pixels, against a solve of the same 8-bit frames
    I0 = io.read_image(str(tmp_path / "I" / "f0.png"))
    P0 = io.read_image(str(tmp_path / "P" / "f0.png"))
    expected = gradfusion.solve(I0, P0, 0.7).output
    tolerance = 1.5 if output == "out" else 12
    assert np.abs(frames[0].astype(float) - np.round(expected * 255)).mean() < tolerance
    again = main(["video", str(tmp_path / "I"), str(tmp_path / "P"), "--alpha", "0.7", "-o",
                  out, "--no-progress"])
    assert again == 2 and capsys.readouterr().err.count("\n") == 1   # message: test_errors.py


@pytest.mark.parametrize("budget, expected", [
    ("1e-6", "no gap estimates (every frame stopped by the budget); 0 of 3 within budget, "
             "3 stopped by it"),
    ("30", "0 stopped by it")])
def test_cli_video_summary_under_a_budget(tmp_path, capsys, budget, expected):
    """Frames stopped by a time budget have no gap estimate (NaN): the summary says so
    instead of printing a NaN median."""
    images, proposals, _ = pan(n=3, size=(40, 56))
    _write_folder(tmp_path / "I", images)
    _write_folder(tmp_path / "P", proposals)
    rc = main(["video", str(tmp_path / "I"), str(tmp_path / "P"), "--alpha", "0.7", "-o",
               str(tmp_path / "out"), "--budget", budget, "--no-progress"])
    out = capsys.readouterr().out
    assert rc == 0 and expected in out and "nan" not in out


@pytest.mark.parametrize("gaps, expected", [
    ([1e-7, 3e-7, 2e-7], "gap median 2.0e-07, max 3.0e-07"),
    ([np.nan, 4e-7, np.nan, 2e-7], "gap median 3.0e-07, max 4.0e-07 over the 2 frames with one"),
    ([np.nan, np.nan], "no gap estimates (every frame stopped by the budget)")])
def test_cli_video_gap_summary(gaps, expected):
    from gradfusion.cli import _gap_summary

    assert _gap_summary(gaps) == expected


@pytest.mark.parametrize("motion", [None, "translation"])
def test_frames_solved_in_the_arena_are_the_frames_solved_without(monkeypatch, motion):
    """solve_sequence keeps the solver's work arrays from frame to frame
    (:mod:`gradfusion._workspace`): each frame's answer is bit for bit the one computed with
    new arrays, so no pass reads what an earlier frame left in them."""
    import contextlib

    from gradfusion import _workspace

    rng = np.random.default_rng(50)
    scene = rng.random((72, 110, 3))
    frames = [np.ascontiguousarray(scene[:, 2 * t:2 * t + 96]) for t in range(4)]
    proposals = [np.clip(0.5 * f ** 1.5 + 0.05 * rng.random(f.shape), 0, 1) for f in frames]
    kept = [r.residual for r in gradfusion.solve_sequence(frames, proposals, 0.7, motion=motion,
                                                          method="active-set")]
    monkeypatch.setattr(_workspace, "kept", lambda arena: contextlib.nullcontext())
    new = [r.residual for r in gradfusion.solve_sequence(frames, proposals, 0.7, motion=motion,
                                                         method="active-set")]
    for a, b in zip(kept, new):
        np.testing.assert_array_equal(a, b)
