"""The LinearOperator wrappers of gradfusion.operators against assembled sparse matrices.

Layout: an operator maps the image flattened in C order from its natural
layout (``(H, W)``, or 3-D with channels on ``channel_axis``) to the stacked
gradients ``(2, *image_shape)`` flattened, x-gradient first.
"""

import numba
import numpy as np
import pytest
import scipy.sparse as sp

from gradfusion.operators import (
    DifferenceFilter,
    ForwardDifference,
    SobelGradient,
)
from helpers import assert_close, assert_close_sum, dtype_param, rtol

#: the dtypes of dtype_param, in its order (test_forward_and_adjoint_... seeds by the index)
DTYPES = [np.float32, np.float64]

# (image_shape, channel_axis)
LAYOUTS = [
    ((1, 1), -1),
    ((2, 3), -1),
    ((5, 1), -1),
    ((1, 4), -1),
    ((6, 7), -1),
    ((4, 5, 3), -1),     # (H, W, C)
    ((2, 4, 5), 0),      # (C, H, W)
    ((4, 2, 5), 1),      # (H, C, W)
    ((3, 1, 2), -1),
]

# Sobel cross-correlation weights, written out: KX[a][b] multiplies the pixel
# at row offset a - 1 and column offset b - 1; KY is the transpose.
KX = ((1.0, 0.0, -1.0),
      (2.0, 0.0, -2.0),
      (1.0, 0.0, -1.0))
KY = tuple(tuple(KX[b][a] for b in range(3)) for a in range(3))


def _make(kind, image_shape, channel_axis, dtype):
    """Construct the operator named by ``kind``."""
    if kind == "sobel-zero":
        return SobelGradient(image_shape, channel_axis=channel_axis, boundary="zero", dtype=dtype)
    if kind == "sobel-reflect":
        return SobelGradient(image_shape, channel_axis=channel_axis, boundary="reflect",
                             dtype=dtype)
    if kind == "forward":
        return ForwardDifference(image_shape, channel_axis=channel_axis, dtype=dtype)
    if kind == "diff-121":
        return DifferenceFilter(image_shape, taps=(1.0, -2.0, 1.0), channel_axis=channel_axis,
                                dtype=dtype)
    if kind == "diff-11":
        return DifferenceFilter(image_shape, taps=(-1.0, 1.0), channel_axis=channel_axis,
                                dtype=dtype)
    raise AssertionError(kind)


KINDS = ["sobel-zero", "sobel-reflect", "forward", "diff-121", "diff-11"]


def _reflect(k, n):
    """Half-sample symmetric index of ``k`` for an axis of length ``n`` (|overhang| <= n)."""
    if k < 0:
        return -k - 1
    if k >= n:
        return 2 * n - k - 1
    return k


def _stencil_entries(kind, i, j, H, W):
    """Yield ``(component, src_i, src_j, weight)`` of the two gradient rows at pixel (i, j)."""
    if kind.startswith("sobel"):
        for a in range(3):
            for b in range(3):
                si, sj = i + a - 1, j + b - 1
                if not (0 <= si < H and 0 <= sj < W):
                    if kind == "sobel-zero":
                        continue
                    si, sj = _reflect(si, H), _reflect(sj, W)
                if KX[a][b]:
                    yield 0, si, sj, KX[a][b]
                if KY[a][b]:
                    yield 1, si, sj, KY[a][b]
    elif kind == "forward":
        if j + 1 < W:
            yield 0, i, j + 1, 1.0
            yield 0, i, j, -1.0
        if i + 1 < H:
            yield 1, i + 1, j, 1.0
            yield 1, i, j, -1.0
    else:
        taps = (1.0, -2.0, 1.0) if kind == "diff-121" else (-1.0, 1.0)
        k = len(taps) - 1
        for m, t in enumerate(taps):
            if j < W - k:
                yield 0, i, j + m, t
            if i < H - k:
                yield 1, i + m, j, t


def assemble(kind, image_shape, channel_axis):
    """Assemble the operator as a float64 ``scipy.sparse`` CSR matrix, pixel by pixel."""
    image_shape = tuple(image_shape)
    n = int(np.prod(image_shape))
    if len(image_shape) == 2:
        C, (H, W) = 1, image_shape

        def flat(c, i, j):
            return i * W + j
    else:
        axis = channel_axis % 3
        spatial = [d for d in range(3) if d != axis]
        C = image_shape[axis]
        H, W = image_shape[spatial[0]], image_shape[spatial[1]]

        def flat(c, i, j):
            idx = [0, 0, 0]
            idx[axis], idx[spatial[0]], idx[spatial[1]] = c, i, j
            return (idx[0] * image_shape[1] + idx[1]) * image_shape[2] + idx[2]

    rows, cols, vals = [], [], []
    for c in range(C):
        for i in range(H):
            for j in range(W):
                for comp, si, sj, w in _stencil_entries(kind, i, j, H, W):
                    rows.append(comp * n + flat(c, i, j))
                    cols.append(flat(c, si, sj))
                    vals.append(w)
    # duplicates (folded reflection taps) are summed by the conversion
    return sp.coo_matrix((vals, (rows, cols)), shape=(2 * n, n)).tocsr()


def _scale(M):
    """The size of ``M``'s products with inputs of size 1: the largest row sum of ``|M|``
    (at least 1); ``assert_close`` takes ``atol = rtol * scale``."""
    return max(1.0, abs(M).sum(axis=1).max())


@pytest.fixture
def one_numba_thread():
    """Run the test's parallel kernels on one thread (restored afterwards).

    Probing calls a kernel once per unit vector; on a loaded machine every
    launch of the OpenMP thread pool can cost milliseconds, so these
    many-tiny-call tests run serially.  The parallel code paths are covered
    by the dot tests here and by ``test_kernels.py``.
    """
    saved = numba.get_num_threads()
    numba.set_num_threads(1)
    try:
        yield
    finally:
        numba.set_num_threads(saved)


layout_param = pytest.mark.parametrize(
    "image_shape,channel_axis", LAYOUTS,
    ids=["x".join(map(str, s)) + f"ax{a}" for s, a in LAYOUTS])
kind_param = pytest.mark.parametrize("kind", KINDS)


# ---------------------------------------------------------------------------
# (a) dot test, (b) sparse assembly, (c) probing
# ---------------------------------------------------------------------------

@kind_param
@dtype_param
@layout_param
def test_shape_and_dtype(kind, dtype, image_shape, channel_axis):
    op = _make(kind, image_shape, channel_axis, dtype)
    n = int(np.prod(image_shape))
    assert op.shape == (2 * n, n)
    assert op.dtype == np.dtype(dtype)
    x = np.ones(n, dtype)
    y = op.matvec(x)
    assert y.shape == (2 * n,) and y.dtype == np.dtype(dtype)
    z = op.rmatvec(np.ones(2 * n, dtype))
    assert z.shape == (n,) and z.dtype == np.dtype(dtype)


@kind_param
@dtype_param
@layout_param
def test_dot_test(kind, dtype, image_shape, channel_axis):
    op = _make(kind, image_shape, channel_axis, dtype)
    rng = np.random.default_rng([7, len(kind), np.dtype(dtype).itemsize, *image_shape])
    n = op.shape[1]
    for _ in range(3):
        x = rng.standard_normal(n).astype(dtype)
        y = rng.standard_normal(2 * n).astype(dtype)
        ax = op.matvec(x).astype(np.float64)
        aty = op.rmatvec(y).astype(np.float64)
        lhs = float(ax @ y.astype(np.float64))
        rhs = float(x.astype(np.float64) @ aty)
        # |<Ax, y>| <= ||A|| ||x|| ||y||, and ||A|| <= 16 for all of these stencils
        scale = 16.0 * np.linalg.norm(x.astype(np.float64)) * np.linalg.norm(y.astype(np.float64))
        assert_close_sum(lhs, rhs, dtype, scale, what="kernel")


@pytest.mark.usefixtures("one_numba_thread")
@kind_param
@layout_param
def test_matvec_matches_assembled(kind, image_shape, channel_axis):
    dtype = np.float64
    op = _make(kind, image_shape, channel_axis, dtype)
    M = assemble(kind, image_shape, channel_axis)
    rng = np.random.default_rng([8, len(kind), *image_shape])
    x = rng.standard_normal(op.shape[1])
    y = rng.standard_normal(op.shape[0])
    scale = _scale(M) * np.abs(x).max()
    assert_close(op.matvec(x), M @ x, dtype, scale)
    assert_close(op @ x, M @ x, dtype, scale)
    scale = _scale(M.T) * np.abs(y).max()
    assert_close(op.rmatvec(y), M.T @ y, dtype, scale)
    assert_close(op.T @ y, M.T @ y, dtype, scale)


@kind_param
def test_hermitian_adjoint(kind):
    image_shape = (4, 5)
    op = _make(kind, image_shape, -1, np.float64)
    M = assemble(kind, image_shape, -1)
    y = np.random.default_rng([13, len(kind)]).standard_normal(op.shape[0])
    assert_close(op.H @ y, M.T @ y, np.float64)
    assert_close(op.adjoint().matvec(y), M.T @ y, np.float64)


@pytest.mark.usefixtures("one_numba_thread")
@kind_param
@dtype_param
@layout_param
def test_probed_dense_matches_assembled(kind, dtype, image_shape, channel_axis):
    op = _make(kind, image_shape, channel_axis, dtype)
    M = assemble(kind, image_shape, channel_axis).toarray()
    m, n = op.shape
    eye_n = np.eye(n, dtype=dtype)
    dense = np.column_stack([op.matvec(e) for e in eye_n])
    assert_close(dense, M, dtype, _scale(M))
    eye_m = np.eye(m, dtype=dtype)
    dense_t = np.column_stack([op.rmatvec(e) for e in eye_m])
    assert_close(dense_t, M.T, dtype, _scale(M))
    # block products go through _matmat / _rmatmat
    assert_close(op.matmat(eye_n), M, dtype, _scale(M))
    assert_close(op.rmatmat(eye_m), M.T, dtype, _scale(M))


def test_assembly_sanity():
    """The test's own assembly: hand-checked entries on a 3x3 image."""
    M = assemble("sobel-zero", (3, 3), -1).toarray()
    # gx at the centre pixel: [1 0 -1; 2 0 -2; 1 0 -1] over the 3x3 image
    np.testing.assert_array_equal(M[4].reshape(3, 3), np.array(KX))
    np.testing.assert_array_equal(M[9 + 4].reshape(3, 3), np.array(KY))
    # reflect: corner pixel gx gets the folded left column minus right column
    R = assemble("sobel-reflect", (3, 3), -1).toarray()
    np.testing.assert_array_equal(R[0].reshape(3, 3), [[3, -3, 0], [1, -1, 0], [0, 0, 0]])
    F = assemble("forward", (1, 3), -1).toarray()
    np.testing.assert_array_equal(F[:3], [[-1, 1, 0], [0, -1, 1], [0, 0, 0]])
    np.testing.assert_array_equal(F[3:], 0)
    D = assemble("diff-121", (1, 4), -1).toarray()
    np.testing.assert_array_equal(D[:4], [[1, -2, 1, 0], [0, 1, -2, 1], [0, 0, 0, 0],
                                          [0, 0, 0, 0]])


def test_docstring_examples():
    g = SobelGradient((4, 5)) @ np.ones(20)
    np.testing.assert_array_equal(g.reshape(2, 4, 5)[0, 1:-1, 1:-1], 0.0)
    d = ForwardDifference((1, 3)) @ np.array([0.0, 1.0, 3.0])
    np.testing.assert_array_equal(d.reshape(2, 1, 3)[0], [[1.0, 2.0, 0.0]])
    d = DifferenceFilter((1, 4)) @ np.array([1.0, -1.0, 1.0, -1.0])
    np.testing.assert_array_equal(d.reshape(2, 1, 4)[0], [[4.0, -4.0, 0.0, 0.0]])


def test_layout_x_gradient_first_and_channel_axis():
    """A horizontal ramp lands in the first block; channels are independent."""
    H, W, C = 4, 6, 3
    ramp = np.arange(W, dtype=float)[None, :] * np.ones((H, 1))
    img = np.stack([ramp, 2 * ramp, np.zeros((H, W))], axis=-1)      # (H, W, C)
    g = (ForwardDifference((H, W, C), channel_axis=-1) @ img.ravel()).reshape(2, H, W, C)
    np.testing.assert_array_equal(g[0, :, :-1, 0], 1.0)
    np.testing.assert_array_equal(g[0, :, :-1, 1], 2.0)
    np.testing.assert_array_equal(g[0, :, -1, :], 0.0)
    np.testing.assert_array_equal(g[1], 0.0)
    np.testing.assert_array_equal(g[..., 2], 0.0)
    img0 = np.moveaxis(img, -1, 0)                                       # (C, H, W)
    g0 = (ForwardDifference((C, H, W), channel_axis=0) @ img0.ravel()).reshape(2, C, H, W)
    np.testing.assert_array_equal(g0, np.moveaxis(g, -1, 1))


# ---------------------------------------------------------------------------
# (d) null space of the Sobel pair
# ---------------------------------------------------------------------------

def _nyquist_patterns(H, W, rng):
    """The documented interior null-space patterns of the Sobel pair."""
    y = np.arange(H)[:, None]
    x = np.arange(W)[None, :]
    b = rng.standard_normal((H, 1))
    c = rng.standard_normal((1, W))
    return {
        "b(y)(-1)^x": b * (-1.0) ** x,
        "c(x)(-1)^y": c * (-1.0) ** y,
        "checkerboard": (-1.0) ** (x + y) * np.ones((H, W)),
    }


@pytest.mark.parametrize("boundary", ["zero", "reflect"])
@pytest.mark.parametrize("shape", [(6, 7), (9, 4), (3, 3)])
def test_sobel_blind_to_nyquist_patterns_in_interior(boundary, shape):
    H, W = shape
    rng = np.random.default_rng([9, H, W])
    op = SobelGradient(shape, boundary=boundary)
    pats = _nyquist_patterns(H, W, rng)
    pats["constant"] = np.full((H, W), 0.37)
    for name, u in pats.items():
        g = (op @ u.ravel()).reshape(2, H, W)
        np.testing.assert_allclose(g[:, 1:-1, 1:-1], 0.0, atol=1e-12, err_msg=name)
        if boundary == "zero":
            # the zero padding breaks the pattern on the border
            assert np.abs(g).max() > 0.1, name


def test_sobel_reflect_blind_to_constants_everywhere():
    op = SobelGradient((5, 6), boundary="reflect")
    np.testing.assert_allclose(op @ np.full(30, 0.8), 0.0, atol=1e-14)


def test_sobel_blind_to_nyquist_patterns_per_channel():
    H, W, C = 6, 5, 2
    rng = np.random.default_rng(10)
    pats = list(_nyquist_patterns(H, W, rng).values())
    img = np.stack(pats[:2], axis=-1)
    g = (SobelGradient((H, W, C)) @ img.ravel()).reshape(2, H, W, C)
    np.testing.assert_allclose(g[:, 1:-1, 1:-1, :], 0.0, atol=1e-12)


@pytest.mark.parametrize("shape", [(6, 7), (9, 4), (3, 3)])
def test_second_difference_sees_nyquist_patterns(shape):
    H, W = shape
    rng = np.random.default_rng([11, H, W])
    op = DifferenceFilter(shape, taps=(1.0, -2.0, 1.0))
    for name, u in _nyquist_patterns(H, W, rng).items():
        d = (op @ u.ravel()).reshape(2, H, W)
        # [1, -2, 1] on (-1)^t gives 4 (-1)^t: the valid part is 4 u itself
        if name != "c(x)(-1)^y":
            np.testing.assert_allclose(d[0, :, :W - 2], 4.0 * u[:, :W - 2], atol=1e-12,
                                       err_msg=name)
        if name != "b(y)(-1)^x":
            np.testing.assert_allclose(d[1, :H - 2, :], 4.0 * u[:H - 2, :], atol=1e-12,
                                       err_msg=name)
        energy = float(np.sum(d ** 2))
        assert energy >= 16.0 * min(np.sum(u[:, :W - 2] ** 2), np.sum(u[:H - 2] ** 2)) - 1e-9
        assert energy > 1e-3, name
    # constants, however, are blind to every difference filter
    np.testing.assert_allclose(op @ np.full(H * W, 0.5), 0.0, atol=1e-14)


# ---------------------------------------------------------------------------
# (e) constructor validation: the exception types over many bad values (each message is a
#     row of test_errors.py)
# ---------------------------------------------------------------------------

ALL_CLASSES = [SobelGradient, ForwardDifference, DifferenceFilter]


@pytest.mark.parametrize("boundary", ["wrap", "Zero", "", None, "constant"])
def test_bad_boundary(boundary):
    with pytest.raises(ValueError):
        SobelGradient((4, 5), boundary=boundary)


@pytest.mark.parametrize("cls", ALL_CLASSES)
@pytest.mark.parametrize("image_shape", [(5,), (2, 3, 4, 5), (0, 4), (4, 0), (3, -1), (),
                                         (2, 0, 3)])
def test_bad_image_shape(cls, image_shape):
    with pytest.raises(ValueError):
        cls(image_shape)


@pytest.mark.parametrize("cls", ALL_CLASSES)
@pytest.mark.parametrize("channel_axis", [None, 3, -4])
def test_bad_channel_axis(cls, channel_axis):
    with pytest.raises(ValueError):
        cls((4, 5, 3), channel_axis=channel_axis)


@pytest.mark.parametrize("cls", ALL_CLASSES)
def test_non_integer_channel_axis_rejected(cls):
    with pytest.raises(TypeError):
        cls((4, 5, 3), channel_axis=1.5)


@pytest.mark.parametrize("cls", ALL_CLASSES)
@pytest.mark.parametrize("dtype", [np.int32, np.int64, np.float16, np.complex128, bool])
def test_bad_dtype(cls, dtype):
    with pytest.raises(TypeError):
        cls((4, 5), dtype=dtype)


@pytest.mark.parametrize("cls", ALL_CLASSES)
@pytest.mark.parametrize("dtype", ["float32", "float64", np.dtype("f4"), float])
def test_good_dtype_spellings(cls, dtype):
    assert cls((3, 4), dtype=dtype).dtype == np.dtype(dtype)


@pytest.mark.parametrize("taps", [(), [[1.0, -1.0]], (1.0, np.nan), (np.inf, 1.0)])
def test_bad_taps(taps):
    with pytest.raises(ValueError):
        DifferenceFilter((4, 5), taps=taps)


def test_two_d_shape_ignores_channel_axis():
    a = SobelGradient((4, 5), channel_axis=None)
    b = SobelGradient((4, 5), channel_axis=0)
    x = np.random.default_rng(12).standard_normal(20)
    np.testing.assert_array_equal(a @ x, b @ x)


# ---------------------------------------------------------------------------
# (f) the channels-first products (one gradient-operator abstraction: Poisson editing's
#     gradient and divergence are ForwardDifference's)
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("kind", KINDS)
@dtype_param
@pytest.mark.parametrize("C", [1, 3])
def test_forward_and_adjoint_are_the_flattened_products(kind, dtype, C):
    """``gradients``/``gradients_adjoint`` on (C, H, W) arrays are ``matvec``/``rmatvec`` of the operator
    on a channels-first layout, bitwise, and adjoint to each other (a dot test)."""
    H, W = 6, 7
    op = _make(kind, (C, H, W), 0, dtype)
    rng = np.random.default_rng([31, C, DTYPES.index(dtype)])
    u = rng.standard_normal((C, H, W)).astype(dtype)
    gx, gy = op.gradients(u)
    assert gx.dtype == gy.dtype == dtype
    np.testing.assert_array_equal(np.stack([gx, gy]).ravel(), op @ u.ravel())
    y = rng.standard_normal((2, C, H, W)).astype(dtype)
    out = op.gradients_adjoint(y[0], y[1])
    np.testing.assert_array_equal(out.ravel(), op.rmatvec(y.ravel()))
    lhs = np.vdot(np.stack([gx, gy]).astype(np.float64), y.astype(np.float64))
    rhs = np.vdot(u.astype(np.float64), out.astype(np.float64))
    tol = 10 * rtol("kernel", dtype)
    assert lhs == pytest.approx(rhs, rel=tol, abs=tol * abs(lhs))


def test_poisson_gradient_and_divergence_are_forward_difference():
    """gradfusion.poisson's gradient and its divergence (reconstruct's right-hand side) are
    ForwardDifference's products, bitwise, and equal their NumPy definitions."""
    from gradfusion import poisson

    x = np.random.default_rng(32).random((6, 8, 3))
    op = ForwardDifference(x.shape)
    np.testing.assert_array_equal(poisson.gradient(x), (op @ x.ravel()).reshape((2,) + x.shape))
    expected = np.zeros((2,) + x.shape)
    expected[0, :, :-1] = np.diff(x, axis=1)
    expected[1, :-1, :] = np.diff(x, axis=0)
    np.testing.assert_array_equal(poisson.gradient(x), expected)
    g = np.random.default_rng(33).standard_normal((2, 3, 6, 8))
    div = np.zeros((3, 6, 8))
    div[:, :, :-1] -= g[0, :, :, :-1]
    div[:, :, 1:] += g[0, :, :, :-1]
    div[:, :-1, :] -= g[1, :, :-1, :]
    div[:, 1:, :] += g[1, :, :-1, :]
    np.testing.assert_array_equal(ForwardDifference((3, 6, 8), channel_axis=0).gradients_adjoint(*g), div)


@pytest.mark.parametrize("boundary", ["reflect", "zero"])
@pytest.mark.parametrize("reg_weight, shift", [(0.0, 0.0), (0.25, 0.0), (0.25, 0.6)],
                         ids=["bare", "nyquist", "level"])
def test_solver_hessian_is_the_normal_operator_of_the_public_operators(boundary, reg_weight,
                                                                       shift):
    """The solver's fused Hessian pass (``gradfusion._problem.Hessian``) is
    ``S^T S + w D^T D + shift I`` of the public :class:`SobelGradient` and
    :class:`DifferenceFilter`: one gradient-operator abstraction, the solver's kernel a fused
    form of it."""
    from gradfusion._problem import BOUNDARY_MODES, REGULARIZER_TAPS, Hessian

    shape = (3, 11, 13)
    taps = REGULARIZER_TAPS["nyquist"]
    v = np.random.default_rng(34).standard_normal(shape)
    S = SobelGradient(shape, boundary=boundary, channel_axis=0)
    D = DifferenceFilter(shape, taps=taps, channel_axis=0)
    expected = (S.rmatvec(S.matvec(v.ravel())) + reg_weight * D.rmatvec(D.matvec(v.ravel()))
                + shift * v.ravel()).reshape(shape)
    out = np.empty_like(v)
    Hessian(BOUNDARY_MODES[boundary], reg_weight, taps, shift).matvec(v, out)
    assert_close(out, expected, np.float64, 16.0)
