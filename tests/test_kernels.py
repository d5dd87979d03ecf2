"""Every Numba kernel agrees with its plain NumPy reference in ``reference.py``."""

import numpy as np
import pytest

import reference as ref  # noqa: E402
from helpers import assert_close, assert_close_sum, make_rng, rtol  # noqa: E402

from gradfusion import _stencils as st  # noqa: E402
from gradfusion._solvers import _kernels as kern  # noqa: E402

DTYPES = [np.float32, np.float64]
SHAPES = [(1, 1, 1), (1, 2, 3), (1, 5, 1), (3, 7, 9), (2, 16, 11),
          # frame-only and one-pixel-interior images (the stencils special-case
          # the one-pixel frame)
          (1, 2, 2), (2, 3, 3), (1, 4, 2), (1, 1, 6)]
# (3, 1, 1) puts one pixel at 0, one at its upper bound and one free;
# (4, 65, 47) gives the parallel reductions several chunks per thread
SOLVER_SHAPES = SHAPES + [(3, 1, 1), (4, 65, 47)]
REDUCTION_SHAPES = SHAPES + [(4, 65, 47)]
MODES = [st.ZERO, st.REFLECT]
MODE_IDS = {st.ZERO: "zero", st.REFLECT: "reflect"}
TAPS = [(1.0, -2.0, 1.0), (-1.0, 1.0), (0.5,), (0.25, -1.0, 0.5, 2.0)]

dtype_param = pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
shape_param = pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(map(str, s)))
solver_shape_param = pytest.mark.parametrize(
    "shape", SOLVER_SHAPES, ids=lambda s: "x".join(map(str, s)))
mode_param = pytest.mark.parametrize("mode", MODES, ids=lambda m: MODE_IDS[m])
taps_param = pytest.mark.parametrize("taps", TAPS, ids=lambda t: "taps" + str(len(t)))


def rand(rng, shape, dtype, lo=-1.0, hi=1.0):
    """Uniform random C-contiguous array of ``dtype``."""
    return np.ascontiguousarray(rng.uniform(lo, hi, size=shape).astype(dtype))


# ---------------------------------------------------------------------------
# Sanity checks of the references themselves
# ---------------------------------------------------------------------------

@shape_param
@mode_param
def test_reference_sobel_correlate_matches_padding(shape, mode):
    rng = make_rng(1, shape, mode)
    u = rng.standard_normal(shape)
    gx, gy = ref.sobel_forward(u, mode)
    px, py = ref.sobel_forward_padded(u, mode)
    np.testing.assert_allclose(gx, px, rtol=1e-13, atol=1e-13)
    np.testing.assert_allclose(gy, py, rtol=1e-13, atol=1e-13)


def test_reference_sobel_kernel_orientation():
    # a ramp increasing to the right has negative gx ("left minus right"),
    # a ramp increasing downwards has negative gy ("top minus bottom")
    j = np.arange(5.0)
    u = np.broadcast_to(j, (1, 4, 5)).copy()
    gx, gy = ref.sobel_forward(u, ref.ZERO)
    assert np.all(gx[0, 1:-1, 1:-1] == -8.0)
    assert np.all(gy[0, 1:-1, 1:-1] == 0.0)
    gx, gy = ref.sobel_forward(np.swapaxes(u, 1, 2).copy(), ref.ZERO)
    assert np.all(gy[0, 1:-1, 1:-1] == -8.0)
    assert np.all(gx[0, 1:-1, 1:-1] == 0.0)


@shape_param
@mode_param
def test_reference_sobel_adjoint_is_adjoint(shape, mode):
    rng = make_rng(2, shape, mode)
    u = rng.standard_normal(shape)
    yx, yy = rng.standard_normal(shape), rng.standard_normal(shape)
    gx, gy = ref.sobel_forward(u, mode)
    lhs = np.sum(gx * yx) + np.sum(gy * yy)
    rhs = np.sum(u * ref.sobel_adjoint(yx, yy, mode))
    assert abs(lhs - rhs) <= 1e-12 * (abs(lhs) + u.size)


@shape_param
def test_reference_difference_adjoints(shape):
    rng = make_rng(3, shape)
    u = rng.standard_normal(shape)
    yx, yy = rng.standard_normal(shape), rng.standard_normal(shape)
    dx, dy = ref.forward_difference(u)
    lhs = np.sum(dx * yx) + np.sum(dy * yy)
    rhs = np.sum(u * ref.forward_difference_adjoint(yx, yy))
    assert abs(lhs - rhs) <= 1e-12 * (abs(lhs) + u.size)
    for taps in TAPS:
        t = np.asarray(taps)
        dx, dy = ref.difference_forward(u, t)
        lhs = np.sum(dx * yx) + np.sum(dy * yy)
        rhs = np.sum(u * ref.difference_adjoint(yx, yy, t))
        assert abs(lhs - rhs) <= 1e-12 * (abs(lhs) + u.size)


def test_reference_extension_matrix():
    E = ref.extension_matrix(3)
    np.testing.assert_array_equal(E @ np.array([1.0, 2.0, 3.0]), [1, 1, 2, 3, 3])
    np.testing.assert_array_equal(ref.extension_matrix(1) @ np.array([7.0]), [7, 7, 7])


# ---------------------------------------------------------------------------
# Stencil kernels
# ---------------------------------------------------------------------------

@dtype_param
@shape_param
@mode_param
def test_sobel_forward(dtype, shape, mode):
    rng = make_rng(10, shape, dtype, mode)
    u = rand(rng, shape, dtype)
    gx = np.full(shape, np.nan, dtype)
    gy = np.full(shape, np.nan, dtype)
    st.sobel_forward(u, gx, gy, mode)
    ex, ey = ref.sobel_forward(u, mode)
    scale = 8.0 * np.abs(u).max()
    assert_close(gx, ex, dtype, scale)
    assert_close(gy, ey, dtype, scale)


@dtype_param
@shape_param
@mode_param
def test_sobel_adjoint(dtype, shape, mode):
    rng = make_rng(11, shape, dtype, mode)
    yx = rand(rng, shape, dtype)
    yy = rand(rng, shape, dtype)
    out = np.full(shape, np.nan, dtype)
    st.sobel_adjoint(yx, yy, out, mode)
    expected = ref.sobel_adjoint(yx, yy, mode)
    # with reflection an edge pixel collects up to 4 copies of each tap
    scale = 4.0 * 16.0 * max(np.abs(yx).max(), np.abs(yy).max())
    assert_close(out, expected, dtype, scale)


@dtype_param
@shape_param
@mode_param
def test_sobel_forward_adjoint_dot(dtype, shape, mode):
    """Kernel pair passes the dot test <S u, y> == <u, S^T y>."""
    rng = make_rng(12, shape, dtype, mode)
    u = rand(rng, shape, dtype)
    yx, yy = rand(rng, shape, dtype), rand(rng, shape, dtype)
    gx, gy = np.empty_like(u), np.empty_like(u)
    st.sobel_forward(u, gx, gy, mode)
    out = np.empty_like(u)
    st.sobel_adjoint(yx, yy, out, mode)
    lhs = np.sum(gx.astype(float) * yx) + np.sum(gy.astype(float) * yy)
    rhs = np.sum(u.astype(float) * out)
    assert abs(lhs - rhs) <= rtol("kernel", dtype) * 64.0 * u.size


@dtype_param
@shape_param
def test_forward_difference(dtype, shape):
    rng = make_rng(13, shape, dtype)
    u = rand(rng, shape, dtype)
    dx = np.full(shape, np.nan, dtype)
    dy = np.full(shape, np.nan, dtype)
    st.forward_difference(u, dx, dy)
    ex, ey = ref.forward_difference(u)
    assert_close(dx, ex, dtype, 2.0)
    assert_close(dy, ey, dtype, 2.0)


@dtype_param
@shape_param
def test_forward_difference_adjoint(dtype, shape):
    rng = make_rng(14, shape, dtype)
    yx, yy = rand(rng, shape, dtype), rand(rng, shape, dtype)
    out = np.full(shape, np.nan, dtype)
    st.forward_difference_adjoint(yx, yy, out)
    assert_close(out, ref.forward_difference_adjoint(yx, yy), dtype, 4.0)


@dtype_param
@shape_param
@taps_param
def test_difference_forward(dtype, shape, taps):
    rng = make_rng(15, shape, dtype, len(taps))
    u = rand(rng, shape, dtype)
    t = np.asarray(taps, dtype=dtype)
    dx = np.full(shape, np.nan, dtype)
    dy = np.full(shape, np.nan, dtype)
    st.difference_forward(u, t, dx, dy)
    ex, ey = ref.difference_forward(u, t)
    scale = np.abs(t).sum()
    assert_close(dx, ex, dtype, scale)
    assert_close(dy, ey, dtype, scale)


@dtype_param
@shape_param
@taps_param
def test_difference_adjoint(dtype, shape, taps):
    rng = make_rng(16, shape, dtype, len(taps))
    yx, yy = rand(rng, shape, dtype), rand(rng, shape, dtype)
    t = np.asarray(taps, dtype=dtype)
    out = np.full(shape, np.nan, dtype)
    st.difference_adjoint(yx, yy, t, out)
    assert_close(out, ref.difference_adjoint(yx, yy, t), dtype, 2.0 * np.abs(t).sum())


@dtype_param
@pytest.mark.parametrize("shape", REDUCTION_SHAPES, ids=lambda s: "x".join(map(str, s)))
def test_clip_channels(dtype, shape):
    rng = make_rng(17, shape, dtype)
    x = rand(rng, shape, dtype, -0.5, 1.5)
    upper = rng.uniform(0.3, 1.0, size=shape[0]).astype(dtype)
    # exact bound values must pass through untouched
    x.reshape(-1)[::4] = 0.0
    x[:, 0, 0] = upper
    out = np.full(shape, np.nan, dtype)
    total = st.clip_channels(x, upper, out)
    expected, expected_total = ref.clip_channels(x, upper)
    assert_close(out, expected, dtype, 1.0)
    assert np.all(out >= 0) and np.all(out <= upper[:, None, None])
    assert_close_sum(total, expected_total, dtype, expected_total + x.size * 1e-3)


@dtype_param
@pytest.mark.parametrize("shape", REDUCTION_SHAPES, ids=lambda s: "x".join(map(str, s)))
@mode_param
def test_sobel_energy(dtype, shape, mode):
    rng = make_rng(18, shape, dtype, mode)
    d = rand(rng, shape, dtype)
    energy = st.sobel_energy(d, mode)
    expected = ref.sobel_energy(d, mode)
    # small absolute floor: with reflection a 1x1 image has zero energy, which
    # the reference only reproduces up to round-off
    assert_close_sum(energy, expected, dtype, expected + 1e-12 * d.size)


@dtype_param
@shape_param
def test_output_difference(dtype, shape):
    rng = make_rng(19, shape, dtype)
    image = rand(rng, shape, dtype, 0.0, 1.0)
    proposal = rand(rng, shape, dtype, 0.0, 1.0)
    residual = rand(rng, shape, dtype, 0.0, 0.5)
    alpha = rng.uniform(0.2, 0.8, size=shape[0]).astype(dtype)
    out = np.full(shape, np.nan, dtype)
    squares = st.output_difference(image, proposal, residual, alpha, out)
    assert_close(out, ref.output_difference(image, proposal, residual, alpha), dtype, 3.0)
    # the returned sum of squares is that of the stored values, in float64
    expected = float(np.sum(out.astype(np.float64) ** 2))
    assert squares == pytest.approx(expected, rel=1e-13, abs=1e-300)


# ---------------------------------------------------------------------------
# Solver kernels
# ---------------------------------------------------------------------------

def box_state(rng, shape, dtype):
    """``(x, g, upper)`` with a mix of pixels at 0, at ``upper[c]`` and free.

    ``g`` has both signs everywhere and a few exact zeros.
    """
    C = shape[0]
    n = int(np.prod(shape))
    upper = rng.uniform(0.3, 1.0, size=C).astype(dtype)
    cats = rng.permutation(np.arange(n) % 3).reshape(shape)
    if shape == (3, 1, 1):
        cats = np.arange(3).reshape(shape)
    hi = np.broadcast_to(upper[:, None, None], shape)
    free = (hi * rng.uniform(0.05, 0.95, size=shape)).astype(dtype)
    x = np.where(cats == 0, dtype(0), np.where(cats == 1, hi, free)).astype(dtype)
    g = rand(rng, shape, dtype)
    g.reshape(-1)[::5] = 0.0
    x = np.ascontiguousarray(x)
    g = np.ascontiguousarray(g)
    # sanity of the construction
    assert np.all(x >= 0) and np.all(x <= hi)
    return x, g, upper


def test_box_state_covers_all_cases():
    rng = make_rng(0)
    x, g, upper = box_state(rng, (3, 7, 9), np.float64)
    lower, at_upper, free = ref.box_masks(x, upper)
    assert lower.any() and at_upper.any() and free.any()
    assert np.any(g[lower] > 0) and np.any(g[lower] < 0)
    assert np.any(g[at_upper] > 0) and np.any(g[at_upper] < 0)


@dtype_param
@solver_shape_param
@pytest.mark.parametrize("abar", [0.7, 1.0 / 128.0])
def test_projected_gradient_measures(dtype, shape, abar):
    rng = make_rng(30, shape, dtype)
    x, g, upper = box_state(rng, shape, dtype)
    got = kern.projected_gradient_measures(x, g, upper, abar)
    exp = ref.projected_gradient_measures(x, g, upper, abar)
    assert len(got) == 4
    beta2, ptp, gp_inf, gp2 = got
    g64 = g.astype(np.float64)
    assert_close_sum(beta2, exp[0], dtype, exp[0])
    assert_close_sum(ptp, exp[1], dtype, float(np.sum(np.abs(g64) ** 2)))
    assert_close(gp_inf, exp[2], dtype, np.abs(g64).max())
    assert_close_sum(gp2, exp[3], dtype, exp[3])


@dtype_param
@solver_shape_param
def test_free_gradient(dtype, shape):
    rng = make_rng(31, shape, dtype)
    x, g, upper = box_state(rng, shape, dtype)
    out = np.full(shape, np.nan, dtype)
    kern.free_gradient(x, g, upper, out)
    assert_close(out, ref.free_gradient(x, g, upper), dtype, 1.0)


@dtype_param
@solver_shape_param
def test_chopped_gradient(dtype, shape):
    rng = make_rng(32, shape, dtype)
    x, g, upper = box_state(rng, shape, dtype)
    out = np.full(shape, np.nan, dtype)
    kern.chopped_gradient(x, g, upper, out)
    assert_close(out, ref.chopped_gradient(x, g, upper), dtype, 1.0)


@dtype_param
@solver_shape_param
@pytest.mark.parametrize("direction", ["random", "free_only", "inward", "zero"])
def test_max_feasible_step(dtype, shape, direction):
    rng = make_rng(33, shape, dtype, len(direction))
    x, _, upper = box_state(rng, shape, dtype)
    lower, at_upper, free = ref.box_masks(x, upper)
    p = rand(rng, shape, dtype)
    if direction == "free_only":
        p = np.where(free, p, 0).astype(dtype)
    elif direction == "inward":
        # x - a p moves into the box from both bounds: unbounded there
        p = np.where(lower, -np.abs(p), np.where(at_upper, np.abs(p), p)).astype(dtype)
    elif direction == "zero":
        p = np.zeros(shape, dtype)
    p = np.ascontiguousarray(p)
    step = kern.max_feasible_step(x, p, upper)
    expected = ref.max_feasible_step(x, p, upper)
    if np.isinf(expected):
        assert np.isinf(step) and step > 0
    else:
        assert_close(step, expected, dtype, 0.0)
        assert step >= 0
        # the step is feasible and maximal
        y = x.astype(float) - step * p.astype(float)
        hi = upper.astype(float)[:, None, None]
        tol = 1e-6 if dtype == np.float32 else 1e-12
        assert np.all(y >= -tol) and np.all(y <= hi + tol)
    if direction == "zero":
        assert np.isinf(step)


@dtype_param
@solver_shape_param
def test_dot(dtype, shape):
    rng = make_rng(34, shape, dtype)
    a, b = rand(rng, shape, dtype), rand(rng, shape, dtype)
    got = kern.dot(a, b)
    assert_close_sum(got, ref.dot(a, b), dtype, float(np.sum(np.abs(a.astype(float) * b))))


@dtype_param
@solver_shape_param
def test_step_and_update(dtype, shape):
    rng = make_rng(35, shape, dtype)
    x, g, upper = box_state(rng, shape, dtype)
    p, ap = rand(rng, shape, dtype), rand(rng, shape, dtype, -8.0, 8.0)
    p0, ap0 = p.copy(), ap.copy()
    step = 0.3125
    ex, eg = ref.step_and_update(x, g, p, ap, step)
    xk, gk = x.copy(), g.copy()
    assert kern.step_and_update(xk, gk, p, ap, step) is None
    assert_close(xk, ex, dtype, 1.0 + step)
    assert_close(gk, eg, dtype, 1.0 + 8.0 * step)
    np.testing.assert_array_equal(p, p0)
    np.testing.assert_array_equal(ap, ap0)


@dtype_param
@solver_shape_param
def test_projected_step(dtype, shape):
    rng = make_rng(36, shape, dtype)
    x, g, upper = box_state(rng, shape, dtype)
    d = rand(rng, shape, dtype)
    step = 0.75
    expected = ref.projected_step(x, d, upper, step)
    xk = x.copy()
    kern.projected_step(xk, d, upper, step)
    assert_close(xk, expected, dtype, 1.0 + step)
    assert np.all(xk >= 0) and np.all(xk <= upper[:, None, None])


@dtype_param
@solver_shape_param
def test_residual_gradient(dtype, shape):
    rng = make_rng(38, shape, dtype)
    ax, b = rand(rng, shape, dtype), rand(rng, shape, dtype)
    out = np.full(shape, np.nan, dtype)
    kern.residual_gradient(ax, b, out)
    assert_close(out, ref.residual_gradient(ax, b), dtype, 2.0)


@dtype_param
@solver_shape_param
def test_cg_scalars(dtype, shape):
    rng = make_rng(39, shape, dtype)
    x, g, upper = box_state(rng, shape, dtype)
    p, ap, b = rand(rng, shape, dtype), rand(rng, shape, dtype), rand(rng, shape, dtype)
    got = kern.cg_scalars(x, g, p, ap, b)
    want = ref.cg_scalars(x, g, p, ap, b)
    for k, (a, e, other) in enumerate(zip(got, want, (ap, g, g, b))):
        lhs = p if k < 2 else x
        mag = float(np.sum(np.abs(lhs.astype(float) * other)))
        assert_close_sum(a, e, dtype, mag)


@dtype_param
@solver_shape_param
def test_conjugate_direction_measures(dtype, shape):
    rng = make_rng(41, shape, dtype)
    x, g, upper = box_state(rng, shape, dtype)
    p = rand(rng, shape, dtype)
    ep, emeasures = ref.conjugate_direction_measures(x, g, upper, p, -0.4375, 0.7)
    pk = p.copy()
    got = kern.conjugate_direction_measures(x, g, upper, pk, -0.4375, 0.7)
    assert_close(pk, ep, dtype, 1.5)
    assert len(got) == len(emeasures) == 5
    mag = float(np.sum(np.asarray(g, float) ** 2)) + 1.0
    for a, e in zip(got, emeasures):
        assert_close_sum(a, e, dtype, mag)


@dtype_param
@solver_shape_param
def test_gradient_and_dots(dtype, shape):
    rng = make_rng(43, shape, dtype)
    x, _, upper = box_state(rng, shape, dtype)
    _check_gradient_and_dots(rng, shape, dtype, x, upper)


def _check_gradient_and_dots(rng, shape, dtype, x, upper):
    """``gradient_and_dots`` against its reference at ``x`` (per-channel or per-pixel bounds)."""
    ax, b, v = rand(rng, shape, dtype), rand(rng, shape, dtype), rand(rng, shape, dtype)
    eg, edots = ref.gradient_and_dots(ax, b, x, upper, v)
    g = np.empty_like(x)
    got = kern.gradient_and_dots(ax, b, x, upper, v, g)
    assert_close(g, eg, dtype, 2.0)
    mag = float(np.sum(np.abs(x.astype(float)) * (np.abs(ax) + 2 * np.abs(b) + np.abs(v)))) + 1.0
    for a, e in zip(got, edots):
        assert_close_sum(a, e, dtype, mag)
    return ax, b, v


@dtype_param
@pytest.mark.parametrize("shape", SHAPES + [(2, 5, 5), (1, 6, 9), (3, 12, 17)],
                         ids=lambda s: "x".join(map(str, s)))
@mode_param
@pytest.mark.parametrize("taps", TAPS[:3], ids=lambda t: "taps" + str(len(t)))
@pytest.mark.parametrize("weight", [0.0, 0.4])
def test_normal_matvec(dtype, shape, mode, taps, weight):
    """The fused Hessian (interior 5x5 kernel + frame kernel) against S^T S + w D^T D."""
    v = np.random.default_rng([31, *shape]).random(shape).astype(dtype)
    out = np.empty_like(v)
    st.normal_matvec(v, out, mode, weight, np.asarray(taps, dtype))
    expected = ref.normal_matvec(v, mode, weight, taps)
    assert_close(out, expected, dtype, scale=64.0)


@dtype_param
@pytest.mark.parametrize("shape", [(1, 4, 4), (2, 3, 9), (2, 5, 5), (3, 12, 17)],
                         ids=lambda s: "x".join(map(str, s)))
def test_normal_matvec_dot(dtype, shape):
    """``dot=True``: the same product, and ``v . A v`` (float64) from the same pass; images
    under 5x5 take the single-pixel path."""
    v = np.random.default_rng([32, *shape]).random(shape).astype(dtype)
    taps = np.asarray((1.0, -2.0, 1.0), dtype)
    out, out_dot = np.empty_like(v), np.empty_like(v)
    st.normal_matvec(v, out, st.ZERO, 0.4, taps)
    d = st.normal_matvec(v, out_dot, st.ZERO, 0.4, taps, dot=True)
    np.testing.assert_array_equal(out_dot, out)
    assert isinstance(d, float)
    expected = float(np.dot(v.ravel().astype(np.float64), out.ravel().astype(np.float64)))
    assert_close_sum(d, expected, dtype, expected)


@mode_param
@pytest.mark.parametrize("shape", [(1, 5, 5), (2, 6, 9), (1, 9, 23)], ids=lambda s: "x".join(map(str, s)))
def test_frame_rows_are_bitwise_the_single_point_path(mode, shape):
    """A frame row's interior columns are accumulated stencil entry by stencil entry, in the
    order of :func:`_frame_point`: the same float sums, bit for bit."""
    v = np.random.default_rng([33, *shape]).random(shape)
    C, H, W = shape
    table = st._frame_table(int(mode), 0.4, (1.0, -2.0, 1.0))
    for c in range(C):
        for i in (0, 1, H - 2, H - 1):
            row = np.full(W, np.nan)
            st._frame_row(v, c, i, table, row)
            expected = [st._frame_point(v, c, i, j, H, W, table) for j in range(W)]
            np.testing.assert_array_equal(row, expected)


@dtype_param
@pytest.mark.parametrize("shape", [(1, 4, 4), (2, 5, 5), (3, 12, 17)],
                         ids=lambda s: "x".join(map(str, s)))
@mode_param
@pytest.mark.parametrize("shift", [0.6, 7.0])
def test_normal_matvec_shift(dtype, shape, mode, shift):
    """``shift`` (the level term's ``2 lam``) adds ``shift * v`` everywhere, the frame included,
    in the fused pass and in the class stencils of the sparse corrections."""
    v = np.random.default_rng([34, *shape]).random(shape).astype(dtype)
    taps = (1.0, -2.0, 1.0)
    out = np.empty_like(v)
    st.normal_matvec(v, out, mode, 0.4, np.asarray(taps, dtype), shift=shift)
    assert_close(out, ref.normal_matvec(v, mode, 0.4, taps, shift=shift), dtype, scale=64.0)
    if min(shape[1:]) >= 5:
        table, rows, cols = st.hessian_columns(shape, mode, 0.4, taps, shift=shift)
        plain, _, _ = st.hessian_columns(shape, mode, 0.4, taps)
        np.testing.assert_allclose(table - plain, shift * _centre_impulses(), atol=1e-12)


def _centre_impulses():
    e = np.zeros((5, 5, 5, 5))
    e[:, :, 2, 2] = 1.0
    return e


@dtype_param
@pytest.mark.parametrize("shape", [(1, 3, 4), (3, 12, 17), (2, 300, 301)],
                         ids=lambda s: "x".join(map(str, s)))
@pytest.mark.parametrize("per_channel", [False, True])
def test_add_diagonal(dtype, shape, per_channel):
    """``out += d v`` with a map per channel or one for all (serial and parallel twins)."""
    rng = np.random.default_rng([35, *shape, per_channel])
    v = rand(rng, shape, dtype)
    d = rng.random((shape[0] if per_channel else 1,) + shape[1:]).astype(dtype)
    out = rand(rng, shape, dtype)
    expected, expected_dot = ref.add_diagonal(v, d, out)
    got = out.copy()
    assert st.add_diagonal(v, d, got) is got
    assert_close(got, expected, dtype)
    got = out.copy()
    dot = st.add_diagonal(v, d, got, dot=True)
    assert_close(got, expected, dtype)
    assert_close_sum(dot, expected_dot, dtype, expected_dot)


def test_normal_matvec_refuses_long_filters():
    v = np.zeros((1, 8, 8))
    with pytest.raises(ValueError, match="at most 3 taps, got 4"):
        st.normal_matvec(v, np.empty_like(v), st.ZERO, 1.0, np.ones(4))


@dtype_param
@pytest.mark.parametrize("width", [1, 7, 8, 9, 16, 23])
def test_row_extrema_find_the_extreme_at_every_position(dtype, width):
    """The inf-norm is reduced per row in 8 lanes plus a scalar tail (:func:`_row_max`), the
    feasible step by a running minimum: the extreme value is found wherever it sits."""
    rng = make_rng(60, (width,), dtype)
    upper = np.array([0.5], dtype)
    for pos in range(width):
        x = np.full((1, 1, width), 0.25, dtype)        # all free
        g = (0.01 * rng.uniform(-1, 1, size=(1, 1, width))).astype(dtype)
        g[0, 0, pos] = -3.0
        _, _, gp_inf, _ = kern.projected_gradient_measures(x, g, upper, 0.03)
        assert gp_inf == pytest.approx(3.0, rel=rtol("kernel", dtype))
        p = np.full((1, 1, width), 1e-3, dtype)
        p[0, 0, pos] = 2.0                                # the first bound reached: x / p = 0.125
        step = kern.max_feasible_step(x, p, upper)
        assert step == pytest.approx(0.125, rel=rtol("kernel", dtype))


@dtype_param
@solver_shape_param
def test_project_step_update(dtype, shape):
    rng = make_rng(61, shape, dtype)
    x, g, upper = box_state(rng, shape, dtype)
    p, ap = rand(rng, shape, dtype), rand(rng, shape, dtype)
    step = 0.75
    b = rand(rng, shape, dtype)
    esaved, ex, eg, eclips = ref.project_step_update(x, g, p, ap, upper, step)
    xk, gk, saved = x.copy(), g.copy(), np.empty_like(x)
    row_clips = np.full((shape[0] * shape[1], 3), -1, dtype=np.int64)
    total, *dots = kern.project_step_update(xk, gk, p, ap, b, upper, step, saved, row_clips)
    np.testing.assert_array_equal(saved, x)
    assert_close(xk, ex, dtype, 2.0)
    assert_close(gk, eg, dtype, 2.0)
    # (x.g, x.b, phi(x).Ap) at the new point, with the updated (unclipped-point) gradient
    mag = float(np.sum(np.abs(eg)) + np.sum(np.abs(b)) + np.sum(np.abs(eg * ap))) + 1.0
    for a, e in zip(dots, ref.objective_dots(xk, gk, b, upper, ap)):
        assert_close_sum(a, e, dtype, mag)
    if dtype == np.float64:            # float32 rounding may decide a borderline clip
        np.testing.assert_array_equal(row_clips, eclips)
        assert total == eclips[:, 0].sum()
    assert total == row_clips[:, 0].sum()
    has = row_clips[:, 0] > 0           # the span holds the row's clips, and none means (0, W, 0)
    assert np.all(row_clips[has, 1] < row_clips[has, 2])
    assert np.all(row_clips[~has] == [0, shape[2], 0])


@pytest.mark.parametrize("shape", [(1, 5, 5), (2, 6, 9), (3, 12, 17), (1, 9, 5)],
                         ids=lambda s: "x".join(map(str, s)))
@mode_param
@pytest.mark.parametrize("weight, taps", [(0.0, (0.0,)), (0.4, (1.0, -2.0, 1.0)),
                                          (1.5, (-1.0, 1.0))], ids=["bare", "nyquist", "grad"])
@dtype_param
def test_sparse_correction_adds_the_operator_columns(dtype, weight, taps, mode, shape):
    """``g + A d`` for the clipped variables, against a dense product: every border class
    (rows/columns 0, 1, interior, n-2, n-1) is clipped somewhere."""
    rng = make_rng(62, shape, dtype, mode, int(10 * weight))
    C, H, W = shape
    upper = np.full(C, 0.5, dtype)
    saved = (upper[0] * rng.uniform(0.1, 0.9, size=shape)).astype(dtype)
    p = (0.01 * rng.uniform(-1, 1, size=shape)).astype(dtype)
    big = rng.random(shape) < 0.3                # these leave the box: clipped
    p[big] = np.where(rng.random(int(big.sum())) < 0.5, 2.0, -2.0).astype(dtype)
    step = 1.0
    x, g = saved.copy(), rand(rng, shape, dtype)
    ap = np.zeros_like(x)
    row_clips = np.zeros((C * H, 3), dtype=np.int64)
    kern.project_step_update(x, g, p, ap, np.zeros_like(x), upper, step, np.empty_like(x),
                             row_clips)
    assert row_clips[:, 0].sum() == big.sum()      # exactly the large moves were clipped
    expected = ref.sparse_correction(x, saved, p, step, g, mode, weight, taps)
    table, rows, cols = st.hessian_columns(shape, mode, weight, np.asarray(taps, dtype))
    v = rand(rng, shape, dtype)                    # stands for A p in the returned phi.Ap change
    before = ref.objective_dots(x, g, np.zeros_like(x), upper, v)
    dxg, dfv, a_f = kern.sparse_correction(x, saved, p, step, upper, row_clips, table, rows,
                                           cols, g, v)
    assert_close(g, expected, dtype, 64.0)
    # the first bound along -p from saved is a clipped variable's
    assert a_f == kern.max_feasible_step(saved, p, upper) < step
    assert a_f == pytest.approx(ref.max_feasible_step(saved, p, upper), rel=rtol("kernel", dtype))
    after = ref.objective_dots(x, expected, np.zeros_like(x), upper, v)
    mag = float(np.sum(np.abs(expected)) + np.sum(np.abs(expected * v))) + 1.0
    assert_close_sum(dxg, after[0] - before[0], dtype, mag)
    assert_close_sum(dfv, after[2] - before[2], dtype, mag)


@pytest.mark.parametrize("shape", [(1, 5, 5), (3, 9, 14), (2, 17, 6)],
                         ids=lambda s: "x".join(map(str, s)))
@mode_param
@pytest.mark.parametrize("weight, taps", [(0.0, (0.0,)), (0.4, (1.0, -2.0, 1.0))],
                         ids=["bare", "nyquist"])
@dtype_param
def test_add_columns_adds_the_operator_columns_of_the_moved_variables(dtype, weight, taps,
                                                                      mode, shape):
    """``g + A (x - saved)`` for the variables an active-set update moved, against a dense
    product: every border class is moved somewhere, and rows without a move are skipped."""
    rng = make_rng(66, shape, dtype, mode, int(10 * weight))
    C, H, W = shape
    upper = np.full(C, 0.5, dtype)
    x = (upper[0] * rng.uniform(0.05, 0.95, size=shape)).astype(dtype)
    g = rand(rng, shape, dtype)
    g[:, 1] = 0.0                                 # row 1 holds: nothing moves there
    saved, mask = np.empty_like(x), np.ones(shape, dtype=np.uint8)
    moves = np.zeros((C * H, 3), dtype=np.int64)
    moved = mgk.active_set(x, g, upper, dtype(1.0), mask, saved, moves)[1]
    assert 0 < moved < x.size and moves[1, 0] == 0
    g0 = rand(rng, shape, dtype)
    expected = ref.add_columns(g0, x, saved, mode, weight, taps)
    table, rows, cols = st.hessian_columns(shape, mode, weight, np.asarray(taps, dtype))
    kern.add_columns(x, saved, moves, table, rows, cols, g0)
    assert_close(g0, expected, dtype, 64.0)


def test_hessian_columns_none_below_five():
    assert st.hessian_columns((1, 4, 9), st.ZERO, 0.4, (1.0, -2.0, 1.0)) is None
    assert st.hessian_columns((1, 9, 4), st.ZERO, 0.4, (1.0, -2.0, 1.0)) is None


@dtype_param
def test_gradient_and_dots_in_place(dtype):
    """The solver passes ``g`` as ``ax`` (``g = A x``, then ``g -= b`` in place)."""
    shape = (3, 17, 23)
    rng = make_rng(64, shape, dtype)
    x, _, upper = box_state(rng, shape, dtype)
    ax, b, v = rand(rng, shape, dtype), rand(rng, shape, dtype), rand(rng, shape, dtype)
    g_sep = np.empty_like(x)
    want = kern.gradient_and_dots(ax, b, x, upper, v, g_sep)
    g = ax.copy()
    got = kern.gradient_and_dots(g, b, x, upper, v, g)
    np.testing.assert_array_equal(g, g_sep)
    assert got == pytest.approx(want, rel=1e-12)


@dtype_param
@pytest.mark.parametrize("shape", REDUCTION_SHAPES, ids=lambda s: "x".join(map(str, s)))
@taps_param
def test_difference_energy(dtype, shape, taps):
    rng = make_rng(20, shape, dtype, len(taps))
    u = rand(rng, shape, dtype)
    energy = st.difference_energy(u, np.asarray(taps, dtype=dtype))
    dx, dy = ref.difference_forward(u, np.asarray(taps))
    expected = float(np.sum(dx * dx) + np.sum(dy * dy))
    assert_close_sum(energy, expected, dtype, expected + 1e-12 * u.size)


# ---------------------------------------------------------------------------
# Per-pixel bounds (an alpha map): every kernel that reads ``upper`` (or ``alpha``) takes a
# (C, H, W) or (1, H, W) array as well as a (C,) one, and agrees with its reference
# ---------------------------------------------------------------------------

from gradfusion._solvers import _mg_kernels as mgk  # noqa: E402

MAP_SHAPES = [(1, 1, 1), (1, 2, 3), (3, 7, 9), (2, 16, 11), (3, 1, 1), (4, 65, 47)]
map_shape_param = pytest.mark.parametrize("shape", MAP_SHAPES, ids=lambda s: "x".join(map(str, s)))
shared_param = pytest.mark.parametrize("shared", [False, True], ids=["per-channel-map", "one-map"])


def box_state_map(rng, shape, dtype, shared):
    """``(x, g, upper)`` as :func:`box_state`, with one upper bound per pixel (and channel,
    unless ``shared``: then ``upper`` is ``(1, H, W)``, one bound for every channel)."""
    C, H, W = shape
    upper = rand(rng, (1 if shared else C, H, W), dtype, 0.3, 1.0)
    hi = np.broadcast_to(upper, shape)
    cats = rng.permutation(np.arange(C * H * W) % 3).reshape(shape)
    if shape == (3, 1, 1):
        cats = np.arange(3).reshape(shape)
    free = (hi * rng.uniform(0.05, 0.95, size=shape)).astype(dtype)
    x = np.ascontiguousarray(np.where(cats == 0, dtype(0), np.where(cats == 1, hi, free)),
                             dtype=dtype)
    g = rand(rng, shape, dtype)
    g.reshape(-1)[::5] = 0.0
    assert np.all(x >= 0) and np.all(x <= hi)
    return x, g, upper


@dtype_param
@map_shape_param
@shared_param
def test_clip_channels_map(dtype, shape, shared):
    rng = make_rng(70, shape, dtype, shared)
    x = rand(rng, shape, dtype, -0.5, 1.5)
    upper = rand(rng, (1 if shared else shape[0],) + shape[1:], dtype, 0.3, 1.0)
    x[:, 0, 0] = upper[:, 0, 0]                      # exact bound values pass untouched
    out = np.full(shape, np.nan, dtype)
    total = st.clip_channels(x, upper, out)
    expected, expected_total = ref.clip_channels(x, upper)
    np.testing.assert_array_equal(out, expected.astype(dtype))
    assert_close_sum(total, expected_total, dtype, expected_total + x.size * 1e-3)


@dtype_param
@map_shape_param
@shared_param
def test_output_difference_map(dtype, shape, shared):
    rng = make_rng(71, shape, dtype, shared)
    image, proposal = rand(rng, shape, dtype, 0.0, 1.0), rand(rng, shape, dtype, 0.0, 1.0)
    residual = rand(rng, shape, dtype, 0.0, 0.5)
    alpha = rand(rng, (1 if shared else shape[0],) + shape[1:], dtype, 0.2, 0.8)
    out = np.full(shape, np.nan, dtype)
    st.output_difference(image, proposal, residual, alpha, out)
    assert_close(out, ref.output_difference(image, proposal, residual, alpha), dtype, 3.0)


@dtype_param
@map_shape_param
@shared_param
def test_solver_kernels_with_a_bound_map(dtype, shape, shared):
    """Each solver kernel that reads ``upper``, with per-pixel bounds, against its reference."""
    rng = make_rng(72, shape, dtype, shared)
    x, g, upper = box_state_map(rng, shape, dtype, shared)
    hi = np.broadcast_to(upper, shape)
    lower, at_upper, free = ref.box_masks(x, upper)
    assert not shape[1] * shape[2] > 1 or (lower.any() and at_upper.any() and free.any())
    mag_g = float(np.sum(np.asarray(g, float) ** 2)) + 1.0

    got = kern.projected_gradient_measures(x, g, upper, 0.7)
    for a, e in zip(got, ref.projected_gradient_measures(x, g, upper, 0.7)):
        assert_close_sum(a, e, dtype, mag_g)
    out = np.full(shape, np.nan, dtype)
    kern.free_gradient(x, g, upper, out)
    assert_close(out, ref.free_gradient(x, g, upper), dtype, 1.0)
    kern.chopped_gradient(x, g, upper, out)
    assert_close(out, ref.chopped_gradient(x, g, upper), dtype, 1.0)

    p = rand(rng, shape, dtype)
    step = kern.max_feasible_step(x, p, upper)
    expected = ref.max_feasible_step(x, p, upper)
    assert (np.isinf(step) and np.isinf(expected)) or step == pytest.approx(expected,
                                                                           rel=rtol("kernel", dtype))
    xk = x.copy()
    kern.projected_step(xk, p, upper, 0.75)
    assert_close(xk, ref.projected_step(x, p, upper, 0.75), dtype, 2.0)
    assert np.all(xk >= 0) and np.all(xk <= hi)

    pk = p.copy()
    ep, emeasures = ref.conjugate_direction_measures(x, g, upper, p, -0.4375, 0.7)
    got = kern.conjugate_direction_measures(x, g, upper, pk, -0.4375, 0.7)
    assert_close(pk, ep, dtype, 1.5)
    for a, e in zip(got, emeasures):
        assert_close_sum(a, e, dtype, mag_g + float(np.sum(np.abs(p))))

    ax, b, v = _check_gradient_and_dots(rng, shape, dtype, x, upper)

    ap = rand(rng, shape, dtype)
    esaved, ex, eg, eclips = ref.project_step_update(x, g, p, ap, upper, 0.75)
    xk, gk, saved = x.copy(), g.copy(), np.empty_like(x)
    row_clips = np.full((shape[0] * shape[1], 3), -1, dtype=np.int64)
    total, *dots = kern.project_step_update(xk, gk, p, ap, b, upper, 0.75, saved, row_clips)
    assert_close(xk, ex, dtype, 2.0)
    assert_close(gk, eg, dtype, 2.0)
    mag = float(np.sum(np.abs(eg)) + np.sum(np.abs(b)) + np.sum(np.abs(eg * ap))) + 1.0
    for a, e in zip(dots, ref.objective_dots(xk, gk, b, upper, ap)):
        assert_close_sum(a, e, dtype, mag)
    if dtype == np.float64:
        np.testing.assert_array_equal(row_clips, eclips)

    # the gap estimate's pass: its projected gradient is the reference's phi + beta
    target, gp = rand(rng, shape, dtype), np.full(shape, np.nan, dtype)
    phi2, noise, gp2 = kern.gap_measures(x, g, target, b, upper, dtype(3.0), gp)
    egp = ref.free_gradient(x, g, upper) + ref.chopped_gradient(x, g, upper)
    assert_close(gp, egp, dtype, 1.0)
    assert_close_sum(gp2, float(np.sum(egp ** 2)), dtype, mag_g)
    assert_close_sum(phi2, float(np.sum((x.astype(float) - target) * g)), dtype, mag_g + x.size)
    enoise = float(np.sum((3.0 * np.abs(x.astype(float)) + np.abs(b)) ** 2))
    assert_close_sum(noise, enoise, dtype, enoise)

    # the active-set update of the active-set solver
    mask = np.zeros(shape, dtype=np.uint8)
    xa = x.copy()
    moves = np.full((shape[0] * shape[1], 3), -1, dtype=np.int64)
    free_count, moved = mgk.active_set(xa, g, upper, dtype(0.2), mask, np.empty_like(x), moves)
    x_ref, mask_ref, free_ref, moves_ref = ref.active_set(x, g, upper, 0.2)
    np.testing.assert_array_equal(mask, mask_ref)
    np.testing.assert_array_equal(xa, x_ref.astype(dtype))
    np.testing.assert_array_equal(moves, moves_ref)
    assert (free_count, moved) == (free_ref, moves_ref[:, 0].sum())

    # its projection onto the box, recording the moves
    xb = (x + rand(rng, shape, dtype)).astype(dtype)
    xb_ref, moves_ref = ref.project_box(xb, upper)
    moved = mgk.project_box(xb, upper, np.empty_like(x), moves)
    np.testing.assert_array_equal(xb, xb_ref.astype(dtype))
    np.testing.assert_array_equal(moves, moves_ref)
    assert moved == moves_ref[:, 0].sum()


@pytest.mark.parametrize("shape", [(2, 6, 9), (3, 12, 17), (1, 9, 5)],
                         ids=lambda s: "x".join(map(str, s)))
@shared_param
@dtype_param
def test_sparse_correction_with_a_bound_map(dtype, shared, shape):
    """:func:`sparse_correction` with per-pixel bounds: the same update and first bound as a
    dense product and :func:`max_feasible_step` (its free tests read the neighbours' bounds)."""
    rng = make_rng(73, shape, dtype, shared)
    C, H, W = shape
    mode, weight, taps = st.REFLECT, 0.4, (1.0, -2.0, 1.0)
    upper = rand(rng, (1 if shared else C, H, W), dtype, 0.3, 0.8)
    saved = (np.broadcast_to(upper, shape) * rng.uniform(0.1, 0.9, size=shape)).astype(dtype)
    p = (0.01 * rng.uniform(-1, 1, size=shape)).astype(dtype)
    big = rng.random(shape) < 0.3
    p[big] = np.where(rng.random(int(big.sum())) < 0.5, 2.0, -2.0).astype(dtype)
    x, g = saved.copy(), rand(rng, shape, dtype)
    ap = np.zeros_like(x)
    row_clips = np.zeros((C * H, 3), dtype=np.int64)
    kern.project_step_update(x, g, p, ap, np.zeros_like(x), upper, 1.0, np.empty_like(x),
                             row_clips)
    assert row_clips[:, 0].sum() == big.sum()
    expected = ref.sparse_correction(x, saved, p, 1.0, g, mode, weight, taps)
    table, rows, cols = st.hessian_columns(shape, mode, weight, np.asarray(taps, dtype))
    v = rand(rng, shape, dtype)
    before = ref.objective_dots(x, g, np.zeros_like(x), upper, v)
    dxg, dfv, a_f = kern.sparse_correction(x, saved, p, 1.0, upper, row_clips, table, rows,
                                           cols, g, v)
    assert_close(g, expected, dtype, 64.0)
    assert a_f == kern.max_feasible_step(saved, p, upper) < 1.0
    after = ref.objective_dots(x, expected, np.zeros_like(x), upper, v)
    mag = float(np.sum(np.abs(expected)) + np.sum(np.abs(expected * v))) + 1.0
    assert_close_sum(dxg, after[0] - before[0], dtype, mag)
    assert_close_sum(dfv, after[2] - before[2], dtype, mag)


def test_bound_helpers_in_python():
    """The pure-Python bodies of ``bound_row``/``bound_at`` (the kernels use their overloads)."""
    per_channel = np.array([0.3, 0.4])
    per_pixel = np.arange(12.0).reshape(1, 3, 4)
    assert st.bound_at(st.bound_row(per_channel, 1, 2), 3) == 0.4
    assert st.bound_at(st.bound_row(per_pixel, 1, 2), 3) == per_pixel[0, 2, 3]
    assert st.bound_row_near(per_channel, 0.4, 1, 2) == 0.4
    np.testing.assert_array_equal(st.bound_row_near(per_pixel, None, 1, 2), per_pixel[0, 2])


# ---------------------------------------------------------------------------
# Grid transfers of the coarse-to-fine driver (2x2 area average, bilinear
# upsampling), against reference.downsample / reference.upsample
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("shape", [(1, 5, 7), (3, 8, 8), (2, 9, 4)])
def test_pyramid_downsample_upsample(shape):
    from gradfusion._solvers.multiscale import downsample, upsample
    a = np.random.default_rng(15).random(shape)
    d = downsample(a)
    assert d.shape == (shape[0], (shape[1] + 1) // 2, (shape[2] + 1) // 2)
    np.testing.assert_allclose(d[:, 0, 0], a[:, :2, :2].mean(axis=(1, 2)))
    u = upsample(d, shape)
    assert u.shape == shape
    # bilinear upsampling of the area averages reproduces an affine ramp away from the edges
    ramp = np.ascontiguousarray(
        (np.arange(8.0)[None, :] + 2 * np.arange(6.0)[:, None])[None])
    back = upsample(downsample(ramp), ramp.shape)
    np.testing.assert_allclose(back[:, 1:-1, 1:-1], ramp[:, 1:-1, 1:-1], atol=1e-12)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(1, 1, 1), (1, 5, 7), (3, 8, 8), (2, 9, 4), (3, 33, 64)],
                         ids=lambda s: "x".join(map(str, s)))
def test_pyramid_kernels_match_numpy_references(dtype, shape):
    """The Numba grid transfers agree bitwise with the NumPy references."""
    from gradfusion._multigrid.transfer import downsample, upsample
    a = np.random.default_rng(16).random(shape).astype(dtype)
    d = downsample(a)
    expected = ref.downsample(a)
    assert d.dtype == expected.dtype == dtype
    np.testing.assert_array_equal(d, expected)
    C, H, W = shape
    for fine in [(C, 2 * H - 1, 2 * W - 1), (C, 2 * H, 2 * W), (C, 2 * H - 1, 2 * W)]:
        u = upsample(a, fine)
        expected = ref.upsample(a, fine)
        assert u.dtype == expected.dtype == dtype
        np.testing.assert_array_equal(u, expected)
    # the kernel has no bounds checks: a shape that is not a 2x upsampling is refused
    for bad in [(C, 2 * H + 1, 2 * W), (C + 1, 2 * H, 2 * W), (C, 2 * H, 2 * W - 2)]:
        with pytest.raises(ValueError, match="is not a 2x upsampling"):
            upsample(a, bad)


# ---------------------------------------------------------------------------
# The StayPositive baseline's loss (gradfusion._baseline_kernels), against
# reference.affine_loss / reference.affine_loss_grid
# ---------------------------------------------------------------------------

from gradfusion import _baseline_kernels as bk  # noqa: E402

#: sample counts: one sample, a few, and more than _jit.SERIAL_CELLS (the grid's parallel twin)
AFFINE_SIZES = [1, 7, 300, 70_000]


def affine_samples(rng, n, channels, alpha=0.7):
    """Compressed StayPositive samples ``(ch, lo, p, u, t, w)`` as the baseline builds them."""
    ch = rng.integers(0, channels, n).astype(np.int64)
    p = rng.random(n)
    lo = alpha * rng.random(n)
    u = np.full(n, 1.0 - alpha)
    t = (p - p.min()) / (p.max() - p.min()) if n > 1 else np.zeros(n)
    w = rng.integers(1, 6, n).astype(np.float64)
    return ch, lo, p, u, t, w


def _affine_magnitude(A, B, ch, p, w, penalty):
    """The size of the loss's terms: 1 for the normalised fidelity, the residual's for the
    violation (weighted means)."""
    R = np.asarray(A)[ch] * p + np.asarray(B)[ch]
    return 1.0 + penalty * float(np.sum(w * np.abs(R)) / np.sum(w))


@pytest.mark.parametrize("n", AFFINE_SIZES)
@pytest.mark.parametrize("channels", [1, 3])
def test_affine_loss(n, channels):
    """Residuals inside the bounds, below 0 and above ``u``, shared and per channel."""
    rng = make_rng(60, n, channels)
    ch, lo, p, u, t, w = affine_samples(rng, n, channels)
    for A, B in [(np.full(channels, 0.2), np.full(channels, 0.05)),       # inside
                 (rng.uniform(-2, 2, channels), rng.uniform(-1, 1, channels)),
                 (np.zeros(channels), np.full(channels, -0.1))]:          # all clipped to 0
        got = bk.affine_loss(A, B, ch, lo, p, u, t, w, 10.0)
        want = ref.affine_loss(A, B, ch, lo, p, u, t, w, 10.0)
        magnitude = _affine_magnitude(A, B, ch, p, w, 10.0)
        for a, e in zip(got, want):
            assert_close_sum(a, e, np.float64, magnitude)


def test_affine_loss_of_a_constant_output():
    """A constant output normalises to 0: the fidelity is the weighted mean of ``t``."""
    rng = make_rng(61)
    ch, _, p, u, t, w = affine_samples(rng, 50, 1)
    lo = np.full(50, 0.35)
    loss, fidelity, violation = bk.affine_loss(np.zeros(1), np.full(1, 0.1), ch, lo, p, u, t,
                                               w, 10.0)
    assert violation == 0.0 and loss == fidelity
    assert fidelity == pytest.approx(np.sum(w * t) / np.sum(w), rel=1e-15)
    assert (loss, fidelity, violation) == pytest.approx(
        ref.affine_loss(np.zeros(1), np.full(1, 0.1), ch, lo, p, u, t, w, 10.0), rel=1e-15)


@pytest.mark.parametrize("n", AFFINE_SIZES)
@pytest.mark.parametrize("channels, which", [(1, -1), (3, -1), (3, 1)])
def test_affine_loss_grid(n, channels, which):
    """Each point against the reference; the serial and parallel twins give the same bits."""
    rng = make_rng(62, n, channels, which + 1)
    ch, lo, p, u, t, w = affine_samples(rng, n, channels)
    As, Bs = rng.uniform(-2, 2, 24), rng.uniform(-1, 1, 24)
    A0, B0 = rng.uniform(-1, 1, channels), rng.uniform(-0.5, 0.5, channels)
    outs = {}
    for twin in ("serial", "parallel"):
        outs[twin] = np.full(As.size, np.nan)
        getattr(bk.affine_loss_grid, twin)(As, Bs, which, A0, B0, ch, lo, p, u, t, w, 10.0,
                                           outs[twin])
    np.testing.assert_array_equal(outs["serial"], outs["parallel"])
    want = ref.affine_loss_grid(As, Bs, which, A0, B0, ch, lo, p, u, t, w, 10.0)
    for g in range(As.size):
        A, B = A0.copy(), B0.copy()
        A[slice(None) if which < 0 else which] = As[g]
        B[slice(None) if which < 0 else which] = Bs[g]
        assert_close_sum(outs["serial"][g], want[g], np.float64,
                         _affine_magnitude(A, B, ch, p, w, 10.0))
