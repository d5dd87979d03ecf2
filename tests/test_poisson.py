"""Poisson image editing: exact reconstruction, blending against a direct sparse solve, multigrid."""

import warnings

import numpy as np
import pytest
import scipy.sparse as sp
import scipy.sparse.linalg as spl
from scipy import ndimage

from gradfusion import ForwardDifference
from gradfusion._poisson import grid, levels
from gradfusion._poisson import level_kernels as lk
from gradfusion.poisson import blend, color2gray, gradient, reconstruct

# --------------------------------------------------------------------------- references


def _reference_blend(source, target, mask, offset, mixed=False):
    """Perez et al.'s discrete equation assembled pixel by pixel and solved by sparse LU.

    Channels last (or 2-D), float64, unclipped. Mask pixels outside the target
    are dropped; a source gradient across the source border is 0.
    """
    S = np.atleast_3d(np.asarray(source, dtype=np.float64))
    T = np.atleast_3d(np.asarray(target, dtype=np.float64))
    Hs, Ws, C = S.shape
    Ht, Wt, _ = T.shape
    dy, dx = offset
    omega = np.zeros((Ht, Wt), bool)
    for i, j in zip(*np.nonzero(mask)):
        if 0 <= i + dy < Ht and 0 <= j + dx < Wt:
            omega[i + dy, j + dx] = True
    pts = list(zip(*np.nonzero(omega)))
    index = {p: k for k, p in enumerate(pts)}
    rows, cols, vals = [], [], []
    b = np.zeros((len(pts), C))

    def src(i, j):
        si, sj = i - dy, j - dx
        return S[si, sj] if (0 <= si < Hs and 0 <= sj < Ws) else None

    for k, (i, j) in enumerate(pts):
        nbrs = [(i + a, j + c) for a, c in ((-1, 0), (1, 0), (0, -1), (0, 1))
                if 0 <= i + a < Ht and 0 <= j + c < Wt]
        rows.append(k), cols.append(k), vals.append(float(len(nbrs)))
        for qi, qj in nbrs:
            gq = src(qi, qj)
            v = src(i, j) - gq if gq is not None else np.zeros(C)
            if mixed:
                ft = T[i, j] - T[qi, qj]
                v = np.where(np.abs(ft) > np.abs(v), ft, v)
            b[k] += v
            if omega[qi, qj]:
                rows.append(k), cols.append(index[(qi, qj)]), vals.append(-1.0)
            else:
                b[k] += T[qi, qj]
    A = sp.csc_matrix((vals, (rows, cols)), shape=(len(pts),) * 2)
    f = spl.splu(A).solve(b)
    out = T.copy()
    for k, (i, j) in enumerate(pts):
        out[i, j] = f[k]
    return out if np.ndim(target) == 3 else out[..., 0]


def _images(shape_s, shape_t, seed, channels=3):
    rng = np.random.default_rng(seed)
    extra = (channels,) if channels else ()
    S = ndimage.gaussian_filter(rng.random(shape_s + extra), (2, 2, 0)[:2 + bool(channels)])
    T = ndimage.gaussian_filter(rng.random(shape_t + extra), (2, 2, 0)[:2 + bool(channels)])
    return S, T


def _blob_mask(shape, seed, sigma=3.0, level=0.5):
    rng = np.random.default_rng(seed)
    return ndimage.gaussian_filter(rng.random(shape), sigma) > level


# --------------------------------------------------------------------------- reconstruct


@pytest.mark.parametrize("shape", [(1, 1), (1, 9), (7, 1), (5, 7), (64, 48, 3), (257, 130)])
def test_reconstruct_is_exact(shape):
    img = np.random.default_rng(1).random(shape)
    rec = reconstruct(gradient(img), value=img[0, 0])
    assert np.abs(rec - img).max() < 1e-8


def test_reconstruct_anchor_value_and_float32():
    img = np.random.default_rng(2).random((33, 20, 3))
    rec = reconstruct(gradient(img), value=img[-1, 5], anchor=(-1, 5))
    assert np.abs(rec - img).max() < 1e-8
    rec32 = reconstruct(gradient(img.astype(np.float32)), value=img[0, 0])
    assert rec32.dtype == np.float32 and np.abs(rec32 - img).max() < 1e-5
    # per-channel values with channels first
    chw = np.moveaxis(img, -1, 0)
    rec = reconstruct(gradient(chw, channel_axis=0), value=chw[:, 0, 0], channel_axis=0)
    assert np.abs(rec - chw).max() < 1e-8


def test_reconstruct_least_squares_for_a_non_gradient_field():
    rng = np.random.default_rng(4)
    g = rng.standard_normal((2, 12, 10))
    g[0, :, -1] = 0.0
    g[1, -1, :] = 0.0
    x = reconstruct(g)
    op = ForwardDifference((12, 10))
    normal = op.rmatvec(op @ x.ravel() - g.ravel())          # D^T (D x - g) = 0
    assert np.abs(normal).max() < 1e-10
    assert x[0, 0] == pytest.approx(0.0, abs=1e-12)


def test_reconstruct_refuses_bad_arguments():
    """The exception types; the messages are rows of test_errors.py (docs/errors.md)."""
    for exc, call in [
        (ValueError, lambda: reconstruct(np.zeros((3, 4, 4)))),
        (ValueError, lambda: reconstruct(np.zeros((2, 4, 5)), anchor=(4, 0))),
        (ValueError, lambda: reconstruct(np.zeros((2, 4, 5, 3)), value=[1.0, 2.0])),
        (TypeError, lambda: reconstruct(np.zeros((2, 4, 5), dtype=np.int64))),
        (ValueError, lambda: reconstruct(np.full((2, 4, 5), np.nan))),
    ]:
        with pytest.raises(exc):
            call()


# --------------------------------------------------------------------------- blend vs reference


def _holes_mask():
    """A 22x22 square with an X of unmasked pixels and two pin holes."""
    m = np.ones((22, 22), bool)
    m &= ~(np.eye(22, dtype=bool) | np.eye(22, dtype=bool)[::-1])
    m[5, 11] = m[16, 11] = False
    return np.pad(m, 2)


CASES = {
    # name: (source shape, target shape, mask builder, offset)
    "interior": ((20, 24), (40, 44), lambda s: _blob_mask(s, 5), (8, 9)),
    "touches_target_border": ((20, 24), (30, 30), lambda s: np.ones(s, bool), (-3, 12)),
    "holes": ((26, 26), (40, 40), lambda s: _holes_mask(), (5, 6)),
    "components": ((24, 30), (32, 40),
                   lambda s: np.isin(ndimage.label(_blob_mask(s, 7, 2.0, 0.55))[0], [1, 2, 3, 4]),
                   (3, 4)),
    "partly_outside": ((25, 25), (30, 28), lambda s: _blob_mask(s, 8, 2.0, 0.45), (12, -7)),
    "touches_source_border": ((18, 18), (40, 40), lambda s: np.ones(s, bool), (10, 11)),
}


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("method", ["normal", "mixed"])
def test_blend_matches_direct_sparse_solve(case, method):
    shape_s, shape_t, make_mask, offset = CASES[case]
    S, T = _images(shape_s, shape_t, seed=sorted(CASES).index(case))
    mask = make_mask(shape_s)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        res = blend(S, T, mask, offset, guidance=method, rtol=1e-11, clip=False)
    # cropped mask pixels are reported by a warning, and only then (its message: test_errors.py)
    assert (res.n_cropped > 0) == any(issubclass(w.category, UserWarning) for w in caught)
    ref = _reference_blend(S, T, mask, offset, mixed=method == "mixed")
    assert res.success and res.system_residual <= 1e-11
    assert np.abs(res.output - ref).max() < 1e-8
    if case == "partly_outside":
        assert res.n_cropped > 0 and "dropped" in res.message


@pytest.mark.parametrize("channels", [0, 1, 3])
def test_blend_grayscale_and_channels(channels):
    S, T = _images((30, 30), (50, 60), seed=9, channels=channels)
    mask = _blob_mask((30, 30), 10)
    res = blend(S, T, mask, (10, 20), rtol=1e-11, clip=False)
    ref = _reference_blend(S, T, mask, (10, 20))
    assert res.output.shape == T.shape
    assert np.abs(res.output - ref.reshape(T.shape)).max() < 1e-8


def test_blend_multigrid_large_region_matches_reference():
    """A region big enough for several multigrid levels, against the direct solve."""
    S, T = _images((90, 100), (110, 120), seed=11, channels=3)
    yy, xx = np.mgrid[:90, :100]
    mask = ((yy - 45) ** 2 / 40 ** 2 + (xx - 50) ** 2 / 46 ** 2) < 1
    mask &= ~((yy - 45) ** 2 + (xx - 30) ** 2 < 36)           # with a hole
    res = blend(S, T, mask, (9, 8), rtol=1e-11, clip=False)
    assert res.n_levels >= 4
    ref = _reference_blend(S, T, mask, (9, 8))
    assert np.abs(res.output - ref).max() < 1e-8


MASK_ENCODINGS = {
    "bool": lambda m: m,
    "uint8_0_255": lambda m: m.astype(np.uint8) * 255,      # a PNG mask as read from a file
    "uint8_0_1": lambda m: m.astype(np.uint8),
    "uint16_0_65535": lambda m: m.astype(np.uint16) * 65535,
    "int64_0_1": lambda m: m.astype(np.int64),
    "float_0_1": lambda m: m.astype(np.float64),
    "float32_0_0.5": lambda m: m.astype(np.float32) * 0.5,
    "float_soft_edge": lambda m: np.where(m, ndimage.uniform_filter(m.astype(float), 3) + 0.1, 0.0),
}


@pytest.mark.parametrize("encoding", sorted(MASK_ENCODINGS))
def test_blend_takes_any_nonzero_mask(encoding):
    """bool, 0/255, 0/1, float, ...: nonzero is inside, and the result is the same bit for bit."""
    S, T = _images((20, 22), (30, 32), seed=28)
    mask = _blob_mask((20, 22), 29, 2.0, 0.45)
    expect = blend(S, T, mask, (5, 4))
    m = MASK_ENCODINGS[encoding](mask)
    assert np.array_equal(m != 0, mask)
    res = blend(S, T, m, (5, 4))
    np.testing.assert_array_equal(res.output, expect.output)
    assert res.n_unknowns == expect.n_unknowns == mask.sum() and res.nit == expect.nit


def test_blend_dtypes_and_layout():
    S, T = _images((20, 22), (30, 30), seed=12)
    mask = _blob_mask((20, 22), 13, 2.0, 0.45)
    r64 = blend(S, T, mask, (4, 4))
    r32 = blend(S.astype(np.float32), T.astype(np.float32), mask, (4, 4))
    assert r32.output.dtype == np.float32 and r64.output.dtype == np.float64
    np.testing.assert_allclose(r32.output, r64.output, atol=1e-5)
    S8, T8 = (np.round(z * 255).astype(np.uint8) for z in (S, T))
    r8 = blend(S8, T8, mask.astype(np.uint8), (4, 4))
    assert r8.output.dtype == np.float64
    rf = blend(np.moveaxis(S8, -1, 0), np.moveaxis(T8, -1, 0), mask, (4, 4), channel_axis=0)
    np.testing.assert_allclose(np.moveaxis(rf.output, 0, -1), r8.output, atol=1e-12)


# --------------------------------------------------------------------------- properties


def test_blend_reproduces_the_target_when_source_is_target_plus_constant():
    _, T = _images((5, 5), (40, 40), seed=14)
    mask = _blob_mask((40, 40), 15)
    res = blend(T * 0.5 + 0.1, T * 0.5 + 0.4, mask, rtol=1e-12)   # same gradients everywhere
    np.testing.assert_allclose(res.output, T * 0.5 + 0.4, atol=1e-9)


def test_mixed_blend_of_a_flat_source_keeps_the_target():
    _, T = _images((5, 5), (30, 30), seed=16)
    res = blend(np.full((30, 30, 3), 0.3), T, _blob_mask((30, 30), 17), guidance="mixed",
                rtol=1e-12)
    np.testing.assert_allclose(res.output, T, atol=1e-9)


def test_blend_reports_the_true_residual_and_converges_fast():
    S, T = _images((200, 200), (240, 260), seed=18)
    yy, xx = np.mgrid[:200, :200]
    mask = (yy - 100) ** 2 + (xx - 100) ** 2 < 95 ** 2
    res = blend(S, T, mask, (20, 30))
    assert res.success and res.system_residual <= 1e-6
    assert res.nit <= 10                      # multigrid-preconditioned CG: mesh independent
    assert res.system_residuals.shape == (3,)
    assert res.n_unknowns == mask.sum() and res.n_cropped == 0
    short = blend(S, T, mask, (20, 30), rtol=1e-14, maxiter=2)
    assert not short.success and short.status == 1 and short.nit == 2
    assert "iteration limit" in short.message


def test_blend_below_the_attainable_accuracy_says_so():
    """An ``rtol`` below what the dtype allows: the restarts run out before ``maxiter``, which is
    status 2 and its own message, not "iteration limit reached"."""
    S, T = _images((60, 60), (80, 80), seed=19)
    mask = _blob_mask((60, 60), 25)
    res = blend(S, T, mask, (10, 10), rtol=1e-19, maxiter=10_000)   # float64 rounds at ~1e-16
    assert not res.success and res.nit < 10_000
    assert res.status == 2 and res.message.startswith("attainable accuracy reached")
    assert "iteration limit" not in res.message


def test_blend_deprecated_names_still_work_with_a_warning():
    """``method=`` (now ``guidance=``), ``tol=`` (now ``rtol=``) and ``BlendResult.levels`` (now
    ``n_levels``) give the new names' values with a ``FutureWarning``; both spellings of one
    argument are a ``TypeError`` (the messages: test_errors.py)."""
    S, T = _images((20, 20), (30, 30), seed=20)
    mask = _blob_mask((20, 20), 8)
    new = blend(S, T, mask, (5, 5), guidance="mixed")
    with pytest.warns(FutureWarning):
        old = blend(S, T, mask, (5, 5), method="mixed")
    np.testing.assert_array_equal(old.output, new.output)
    with pytest.warns(FutureWarning):
        assert old.levels == new.n_levels
    with pytest.raises(TypeError):
        blend(S, T, mask, (5, 5), guidance="mixed", method="mixed")
    new = blend(S, T, mask, (5, 5), rtol=1e-12)
    with pytest.warns(FutureWarning):
        old = blend(S, T, mask, (5, 5), tol=1e-12)
    np.testing.assert_array_equal(old.output, new.output)
    assert old.nit == new.nit and old.system_residual <= 1e-12
    with pytest.raises(TypeError):
        blend(S, T, mask, (5, 5), rtol=1e-8, tol=1e-8)
    with warnings.catch_warnings():
        warnings.simplefilter("error")                     # the new names do not warn
        blend(S, T, mask, (5, 5), guidance="mixed", rtol=1e-8).n_levels


def test_the_top_level_blend_result_is_a_deprecated_alias():
    """A family's result lives in its module: ``gradfusion.BlendResult`` is
    ``gradfusion.poisson.BlendResult`` with a ``FutureWarning`` (the message: test_errors.py)."""
    import gradfusion

    with pytest.warns(FutureWarning):
        assert gradfusion.BlendResult is gradfusion.poisson.BlendResult
    assert "BlendResult" not in gradfusion.__all__
    with pytest.raises(AttributeError):
        gradfusion.NoSuchName


def test_blend_clip():
    S = np.zeros((20, 20))
    S[8:12, 8:12] = 1.0
    T = np.full((30, 30), 0.9)
    mask = np.zeros((20, 20), bool)
    mask[2:18, 2:18] = True
    unclipped = blend(S, T, mask, (5, 5), clip=False)
    assert unclipped.output.max() > 1.0
    clipped = blend(S, T, mask, (5, 5))
    assert clipped.output.max() <= 1.0 and clipped.output.min() >= 0.0


def test_empty_mask_returns_the_target_and_outside_mask_is_refused():
    S, T = _images((10, 10), (20, 20), seed=19)
    with pytest.warns(UserWarning):
        res = blend(S, T, np.zeros((10, 10), bool))
    np.testing.assert_array_equal(res.output, T)
    assert res.success and res.nit == 0 and "the mask is empty" in res.message
    with pytest.raises(ValueError):
        blend(S, T, np.ones((10, 10), bool), (25, 0))


def test_blend_refuses_bad_arguments():
    """The exception types; the messages are rows of test_errors.py (docs/errors.md)."""
    S, T = _images((10, 10), (20, 20), seed=20)
    m = np.ones((10, 10), bool)
    nan_mask = m.astype(float)
    nan_mask[3, 4] = np.nan
    for exc, call in [
        (ValueError, lambda: blend(T, T, np.ones((20, 20), bool))),     # the whole target
        (ValueError, lambda: blend(S, T, m[:, :9])),
        (ValueError, lambda: blend(S, T, np.ones((10, 10, 3)))),
        (ValueError, lambda: blend(S, T, nan_mask)),
        (TypeError, lambda: blend(S, T, np.full((10, 10), "a"))),
        (TypeError, lambda: blend(S, T, None)),
        (TypeError, lambda: blend(S, T, m, (1.5, 2))),
        (TypeError, lambda: blend(S, T, m, 3)),
        (ValueError, lambda: blend(S, T, m, rtol=0)),
        (ValueError, lambda: blend(S, T, m, maxiter=0)),
        (ValueError, lambda: blend(S, np.zeros((20, 20, 4)), m)),
        (ValueError, lambda: blend(S[..., 0], T, m)),
        (ValueError, lambda: blend(S, T + 2, m)),
    ]:
        with pytest.raises(exc):
            call()


# --------------------------------------------------------------------------- multigrid internals


def _explicit_prolongation(hier, lev):
    kind_f, kind_c = hier.kinds[lev], hier.kinds[lev + 1]
    fi = np.flatnonzero(kind_f.ravel() == grid.UNKNOWN)
    ci = np.flatnonzero(kind_c.ravel() == grid.UNKNOWN)
    P = np.zeros((fi.size, ci.size))
    for k, c in enumerate(ci):
        e = np.zeros((1,) + kind_c.shape)
        e.reshape(-1)[c] = 1.0
        x = np.zeros((1,) + kind_f.shape)
        lk.prolong_add(e, hier.masks[lev], *hier.tables[lev], hier.level_spans[lev],
                       hier.level_edges[lev], x)
        P[:, k] = x.reshape(-1)[fi]
    return P


@pytest.mark.parametrize("edge", [False, True])
def test_coarse_operators_are_galerkin_products(edge, monkeypatch):
    monkeypatch.setattr(levels, "COARSEST_UNKNOWNS", 4)
    rng = np.random.default_rng(21)
    kind = np.ones((30, 33), np.int8)
    if edge:                       # the mask reaches the image border (outside frame)
        kind[0] = kind[:, 0] = grid.OUTSIDE
    inner = ndimage.gaussian_filter(rng.random((28, 31)), 2) > 0.45
    kind[1:-1, 1:-1][inner] = grid.UNKNOWN
    rows = (1, 28 + 1) if edge else (0, 29)
    cols = (1, 31 + 1) if edge else (0, 32)
    hier = levels.PoissonHierarchy(kind, rows, cols, 1)
    assert len(hier.kinds) >= 3
    for lev in range(len(hier.kinds) - 1):
        P = _explicit_prolongation(hier, lev)
        A = hier.matrix(lev)[0].toarray()
        Ac = hier.matrix(lev + 1)[0].toarray()
        np.testing.assert_allclose(Ac, P.T @ A @ P, atol=1e-12)
        # restriction is the transpose of prolongation
        r = rng.random((1,) + kind.shape if lev == 0 else (1,) + hier.kinds[lev].shape)
        r *= hier.masks[lev]
        bc = np.zeros((1,) + hier.kinds[lev + 1].shape)
        lk.restrict(r, hier.masks[lev + 1], *hier.restrictions[lev], hier.level_spans[lev],
                    hier.level_edges[lev + 1], bc)
        fi = np.flatnonzero(hier.kinds[lev].ravel() == grid.UNKNOWN)
        ci = np.flatnonzero(hier.kinds[lev + 1].ravel() == grid.UNKNOWN)
        np.testing.assert_allclose(bc.reshape(-1)[ci], P.T @ r.reshape(-1)[fi], atol=1e-12)


# the V-cycle's symmetry and definiteness: tests/test_multigrid.py (both problems)


# --------------------------------------------------------------------------- color2gray

_W = (0.2125, 0.7154, 0.0721)          # skimage.color.rgb2gray


def _isoluminant(colour, other):
    """``other`` with its green channel set so that its luminance equals ``colour``'s."""
    y = float(np.dot(_W, colour))
    r, _, b = other
    return (r, (y - _W[0] * r - _W[2] * b) / _W[1], b)


def _reference_color2gray(rgb, chroma_weight=1.0, chroma_angle=45.0, anchor_weight=1e-4):
    """color2gray from its documented definition: the guidance edge by edge in Python loops,
    the sparse normal equations of min ||D f - v||^2 + lambda ||f - Y||^2 solved by LU
    (for lambda = 0 the minimiser with mean(f) = mean(Y)), then ``Y + e / sqrt(1 + (e/h)^2)``."""
    rgb = np.asarray(rgb, dtype=np.float64)
    H, W, _ = rgb.shape
    Y = rgb @ np.array(_W)
    a = (rgb[..., 0] - Y) / (2 * (1 - _W[0]))
    b = (Y - rgb[..., 2]) / (2 * (1 - _W[2]))
    th = np.radians(chroma_angle)
    rows, cols, vals, v = [], [], [], []
    for i in range(H):
        for j in range(W):
            for qi, qj in ((i, j + 1), (i + 1, j)):
                if qi >= H or qj >= W:
                    continue
                dY, da, db = Y[qi, qj] - Y[i, j], a[qi, qj] - a[i, j], b[qi, qj] - b[i, j]
                c = np.hypot(da, db)
                add = 0.0
                if c > 0:
                    s = da * np.cos(th) + db * np.sin(th)
                    add = s / c * max(0.0, chroma_weight * c - abs(dY))
                k = len(v)
                rows += [k, k]
                cols += [qi * W + qj, i * W + j]
                vals += [1.0, -1.0]
                v.append(dY + add)
    D = sp.csr_matrix((vals, (rows, cols)), shape=(len(v), H * W))
    A = (D.T @ D).tocsc()
    y = Y.ravel()
    if anchor_weight > 0:
        f = spl.splu(A + anchor_weight * sp.identity(H * W, format="csc")).solve(
            D.T @ np.array(v) + anchor_weight * y)
    else:
        f = spl.splu(A + sp.csc_matrix(np.full((H * W, H * W), 1.0 / (H * W)))).solve(
            D.T @ np.array(v) + y.mean())
    e = f - y
    out = np.empty_like(y)
    for n in range(y.size):
        h = 1.0 - y[n] if e[n] > 0 else y[n]
        out[n] = y[n] + (e[n] / np.sqrt(1.0 + (e[n] / h) ** 2) if h > 0 else 0.0)
    return out.reshape(H, W)


def _smooth_colours(shape, seed):
    rng = np.random.default_rng(seed)
    return ndimage.gaussian_filter(rng.random(shape + (3,)), (2, 2, 0))


@pytest.mark.parametrize("anchor_weight", [0.0, 1e-4, 1e-2])
@pytest.mark.parametrize("chroma_weight, chroma_angle", [(1.0, 45.0), (3.0, 45.0), (2.0, 200.0)])
def test_color2gray_matches_the_sparse_reference(anchor_weight, chroma_weight, chroma_angle):
    img = _smooth_colours((11, 14), seed=25)
    img = (img - img.min()) / np.ptp(img)          # strong colours, a few at 0 and 1
    kw = dict(chroma_weight=chroma_weight, chroma_angle=chroma_angle, anchor_weight=anchor_weight)
    g = color2gray(img, **kw)
    ref = _reference_color2gray(img, **kw)
    assert np.abs(g - ref).max() < 1e-10
    assert np.abs(ref - img @ np.array(_W)).max() > 0.01     # the colour term is not idle


def test_color2gray_range_dtype_and_shape():
    img = _smooth_colours((40, 50), seed=23)
    g = color2gray(img)
    assert g.shape == (40, 50) and g.dtype == np.float64
    assert g.min() >= 0.0 and g.max() <= 1.0
    g32 = color2gray(img.astype(np.float32))
    assert g32.dtype == np.float32 and np.abs(g32 - g).max() < 1e-5
    g8 = color2gray(np.round(img * 255).astype(np.uint8))
    assert g8.dtype == np.float64 and np.abs(g8 - g).max() < 0.05
    gc = color2gray(np.moveaxis(img, -1, 0), channel_axis=0)
    np.testing.assert_allclose(gc, g, atol=1e-12)


def _photograph(name):
    from skimage import data

    try:
        return getattr(data, name)()
    except Exception as exc:          # not shipped and not downloadable here (pooch, network)
        pytest.skip(f"skimage.data.{name}() cannot be loaded: {type(exc).__name__}: {exc}")


@pytest.mark.parametrize("name", ["astronaut", "coffee", "chelsea"])
def test_color2gray_of_photographs_follows_their_luminance(name):
    from scipy.stats import spearmanr
    from skimage.color import rgb2gray

    rgb = _photograph(name)
    Y = rgb2gray(rgb)
    g = color2gray(rgb)
    assert spearmanr(g.ravel(), Y.ravel()).statistic > 0.9
    # no clipping beyond the luminance's own (the reported bug clipped 15% of astronaut to 0)
    clipped = (g <= 0.0) | (g >= 1.0)
    assert clipped.mean() <= np.mean((Y <= 0.0) | (Y >= 1.0)) + 0.002
    assert not np.any(clipped & (Y > 0.0) & (Y < 1.0))      # none pushed onto 0 or 1
    assert np.abs(g - Y).mean() < 0.03           # a correction, not a different picture


@pytest.mark.parametrize("anchor_weight", [0.0, 1e-4, 1e-2])
@pytest.mark.parametrize("warm, cool", [
    ((0.8, 0.2, 0.2), None),                 # red | the gray of its luminance
    ((0.8, 0.2, 0.2), (0.1, 0.0, 0.1)),      # red | green
    ((0.6, 0.6, 0.1), (0.3, 0.0, 0.9)),      # yellow | blue
    ((0.9, 0.5, 0.1), (0.1, 0.0, 0.7)),      # orange | teal
])
def test_color2gray_keeps_an_isoluminant_edge(warm, cool, anchor_weight):
    from skimage.color import rgb2gray

    cool = (float(np.dot(_W, warm)),) * 3 if cool is None else _isoluminant(warm, cool)
    assert 0.0 <= min(cool) and max(cool) <= 1.0
    img = np.zeros((32, 32, 3))
    img[:, :16] = warm
    img[:, 16:] = cool
    assert np.ptp(rgb2gray(img)) < 1e-12     # plain luminance: no edge at all
    g = color2gray(img, anchor_weight=anchor_weight)
    step = g[:, 15].mean() - g[:, 16].mean()
    assert step > 0.1                         # the warm side is lighter (chroma_angle 45)
    assert abs(g.mean() - rgb2gray(img).mean()) < 0.01


def test_color2gray_orders_colours_the_same_way_everywhere():
    """Isoluminant red and green patches in a checkerboard: every red patch is lighter than
    every green one (a sign chosen edge by edge would scramble them); the angle turned by
    180 degrees turns the order over."""
    red = (0.8, 0.2, 0.2)
    green = _isoluminant(red, (0.1, 0.0, 0.1))
    n, size = 6, 8
    board = (np.add.outer(np.arange(n), np.arange(n)) % 2).astype(bool)   # True: red
    img = np.where(np.kron(board, np.ones((size, size)))[..., None], red, green)
    for angle, sign in ((45.0, 1), (225.0, -1)):
        g = color2gray(img, chroma_angle=angle)
        means = g.reshape(n, size, n, size).mean(axis=(1, 3))
        reds, greens = means[board], means[~board]
        assert sign * (reds.min() - greens.max()) > 0.05


def test_color2gray_adds_nothing_where_the_luminance_dominates():
    from skimage.color import rgb2gray

    img = _smooth_colours((20, 30), seed=24)
    np.testing.assert_allclose(color2gray(img, chroma_weight=0), rgb2gray(img), atol=1e-12)
    gray = ndimage.gaussian_filter(np.random.default_rng(24).random((20, 30)), 2)
    np.testing.assert_allclose(color2gray(np.repeat(gray[..., None], 3, axis=-1)), gray,
                               atol=1e-10)
    # black | red: a luminance step larger than the chroma step times the weight
    img = np.zeros((8, 10, 3))
    img[:, 5:] = (1.0, 0.0, 0.0)
    np.testing.assert_allclose(color2gray(img, chroma_weight=0.4), rgb2gray(img), atol=1e-12)


def test_color2gray_never_clips_more_than_the_luminance():
    """A dark isoluminant edge: the correction pushes the darker side towards 0 but the range
    mapping keeps it above, and the step survives."""
    dark = (0.09, 0.0, 0.0)
    img = np.zeros((16, 16, 3))
    img[:, :8] = dark
    img[:, 8:] = float(np.dot(_W, dark))           # the gray of the same luminance (0.019)
    g = color2gray(img, chroma_weight=3.0)
    assert g.min() > 0.0 and g.max() < 1.0
    assert g[:, 7].mean() - g[:, 8].mean() > 0.01


@pytest.mark.parametrize("dtype", [np.uint8, np.float32, np.float64])
def test_color2gray_returns_a_gray_image_unchanged(dtype):
    gray = ndimage.gaussian_filter(np.random.default_rng(26).random((12, 9)), 1)
    gray = np.round(gray * 255).astype(np.uint8) if dtype == np.uint8 else gray.astype(dtype)
    expect = gray / 255.0 if dtype == np.uint8 else gray
    out_dtype = np.float64 if dtype == np.uint8 else dtype
    for image, axis in ((gray, -1), (gray, None), (gray[..., None], -1), (gray[None], 0)):
        g = color2gray(image, channel_axis=axis)
        assert g.shape == (12, 9) and g.dtype == out_dtype
        np.testing.assert_array_equal(g, expect)
        assert not np.shares_memory(g, gray)
    # gray and an opaque alpha
    full = 255 if dtype == np.uint8 else 1.0
    la = np.stack([gray, np.full_like(gray, full)], axis=-1)
    np.testing.assert_array_equal(color2gray(la), expect)


@pytest.mark.parametrize("dtype", [np.uint8, np.float64])
def test_color2gray_drops_an_opaque_alpha(dtype):
    rgb = _smooth_colours((10, 12), seed=27)
    if dtype == np.uint8:
        rgb = np.round(rgb * 255).astype(np.uint8)
    full = 255 if dtype == np.uint8 else 1.0
    rgba = np.concatenate([rgb, np.full(rgb.shape[:2] + (1,), full, dtype)], axis=-1)
    expect = color2gray(rgb)
    np.testing.assert_array_equal(color2gray(rgba), expect)
    np.testing.assert_array_equal(color2gray(np.moveaxis(rgba, -1, 0), channel_axis=0), expect)


def test_color2gray_refuses_a_translucent_alpha():
    """One translucent pixel of an 8-bit RGBA image, a gray image with alpha (the messages are
    rows of test_errors.py)."""
    rgba = np.full((4, 4, 4), 255, np.uint8)
    rgba[1, 2, 3] = 128
    with pytest.raises(ValueError):
        color2gray(rgba)
    with pytest.raises(ValueError):
        color2gray(np.full((4, 4, 2), 0.5))


def test_color2gray_refuses_bad_arguments():
    """The exception types; the messages are rows of test_errors.py (docs/errors.md)."""
    for exc, call in [
        (ValueError, lambda: color2gray(np.zeros((4, 4, 5)))),
        (ValueError, lambda: color2gray(np.zeros((4, 4, 3)), channel_axis=None)),
        (ValueError, lambda: color2gray(np.zeros((4, 4, 3)), anchor_weight=-1)),
        (ValueError, lambda: color2gray(np.zeros((4, 4, 3)), chroma_weight=-0.5)),
        (ValueError, lambda: color2gray(np.zeros((4, 4, 3)), chroma_angle=float("nan"))),
        (TypeError, lambda: color2gray(np.zeros((4, 4, 3)), chroma_angle="45")),
    ]:
        with pytest.raises(exc):
            call()
