"""Every Numba kernel of ``gradfusion._poisson`` (``grid``, ``level_kernels``, ``fused_kernels``,
``system_kernels``) agrees with its NumPy reference (``poisson_reference.py``).

Inputs are built the way :func:`gradfusion.poisson.blend` builds them: a boolean region in a target image,
its padded bounding box with cell kinds (the frame is ``OUTSIDE`` where the region touches the image
border), and the multigrid levels of :class:`gradfusion._poisson.levels.PoissonHierarchy`. The kernels only take float64
fields there, so that is the dtype tested.
"""

import functools

import numpy as np
import pytest
from scipy import ndimage

import poisson_reference as ref  # noqa: E402
from helpers import assert_close

from gradfusion._poisson import fused_kernels as fk
from gradfusion._poisson import grid, levels
from gradfusion._poisson import level_kernels as lk
from gradfusion._poisson import system_kernels as sk
from gradfusion._poisson.system import bbox

#: the kernels against their references: the tolerance table's "poisson kernel" row (float64: the
#: blend's fields are float64 whatever the images' dtype), ``atol = rtol * scale``
_close = functools.partial(assert_close, dtype=np.float64, what="poisson kernel")


def _blob(shape, seed, sigma=2.0, level=0.5):
    rng = np.random.default_rng(seed)
    return ndimage.gaussian_filter(rng.random(shape), sigma) > level


def _interior_blob():
    m = _blob((31, 29), 1, 3.0, 0.5)
    m[[0, -1]] = m[:, [0, -1]] = False
    return m


def _border_blob():
    m = _blob((23, 26), 2, 2.5, 0.47)
    m[:6, :5] = True            # the top-left corner and both of its borders
    m[10:14, -3:] = True        # the right border
    return m


def _holes():
    m = np.zeros((21, 20), bool)
    m[2:19, 2:18] = True
    m[np.arange(3, 18), np.arange(3, 18)] = False          # a diagonal cut
    m[5, 12] = m[14, 6] = False                             # pin holes
    m[9:11, 13:15] = False                                  # a 2x2 hole
    return m


def _components():
    m = np.isin(ndimage.label(_blob((25, 30), 3, 1.5, 0.56))[0], [1, 2, 3, 4, 5])
    m[0, 0] = m[12, 29] = m[24, 15] = True                  # isolated pixels, two on the border
    return m


def _single():
    m = np.zeros((9, 8), bool)
    m[4, 3] = True
    return m


def _pair_in_corner():
    m = np.zeros((5, 6), bool)
    m[0, 0] = m[0, 1] = True
    return m


def _full_row():
    m = np.zeros((7, 13), bool)
    m[3] = True                 # from the left border to the right one
    return m


def _ellipse_with_hole():
    yy, xx = np.mgrid[:47, :43]
    m = ((yy - 26) / 21.0) ** 2 + ((xx - 21) / 19.0) ** 2 < 1      # reaches the bottom border
    m &= (yy - 24) ** 2 + (xx - 14) ** 2 >= 16
    return m


CASES = {
    "interior": _interior_blob, "border": _border_blob, "holes": _holes,
    "components": _components, "single": _single, "pair_corner": _pair_in_corner,
    "full_row": _full_row, "ellipse": _ellipse_with_hole,
}
#: cases large enough for several multigrid levels
DEEP = ["interior", "border", "holes", "ellipse"]

case_param = pytest.mark.parametrize("case", sorted(CASES))
channels_param = pytest.mark.parametrize("C", [1, 3])


def bands(rows, n):
    """Edges of ``n`` row bands of at least 7 interior rows (fewer bands if the grid is small)."""
    n = max(1, min(n, (rows - 2) // 7))
    return np.linspace(1, rows - 1, n + 1).round().astype(np.int64)


bands_param = pytest.mark.parametrize("nbands", [1, 2, 3], ids=["1band", "2bands", "3bands"])


def padded_problem(omega):
    """``(kind, rows, cols, (py0, px0))`` of a region ``omega`` of the target, as ``blend`` builds it."""
    Ht, Wt = omega.shape
    y0, y1, x0, x1 = bbox(omega)
    py0, px0 = y0 - 1, x0 - 1
    Hp, Wp = (y1 - y0) + 2, (x1 - x0) + 2
    ti, tj = py0 + np.arange(Hp), px0 + np.arange(Wp)
    inside = ((ti >= 0) & (ti < Ht))[:, None] & ((tj >= 0) & (tj < Wt))[None, :]
    kind = np.where(inside, grid.FIXED, grid.OUTSIDE).astype(np.int8)
    kind[1:-1, 1:-1][omega[y0:y1, x0:x1]] = grid.UNKNOWN
    return kind, (-py0, Ht - 1 - py0), (-px0, Wt - 1 - px0), (py0, px0)


def fine_level(case):
    """``(kind, m, d, inv_d, rows, cols)`` of the fine level of a case."""
    kind, rows, cols, _ = padded_problem(CASES[case]())
    m = (kind == grid.UNKNOWN).astype(np.float64)
    d = ref.neighbour_count(kind)
    inv_d = np.divide(1.0, d, out=np.zeros_like(d), where=m > 0)
    return kind, m, d, inv_d, rows, cols


def coarse_level(kind, rows, cols):
    """``(kind_c, rng_c)`` one level down (coarse ranges from the reference, kinds from ``PoissonHierarchy``)."""
    rng_c = ref.coarse_range(*rows) + ref.coarse_range(*cols)
    return levels.PoissonHierarchy.coarsen(kind, rng_c), rng_c


def tables(shape_f, rng_c):
    """The parent tables and fix-up columns (the prolongation kernels' input format) of a transfer."""
    rlo, rhi, clo, chi = rng_c
    cols = lk.parent_table(shape_f[1], clo, chi)
    return lk.parent_table(shape_f[0], rlo, rhi) + cols + (lk.prolongation_fixups(*cols),)


def restriction(shape_f, rng_c):
    """Row parents and column children (the restriction kernels' input format)."""
    ri, rw, ci, cw, _ = tables(shape_f, rng_c)
    return ri, rw, lk.child_table(ci, cw, shape_f[1] // 2 + 1)


def hierarchy(case, monkeypatch, C=1):
    """A ``PoissonHierarchy`` of the case, coarsened as far as it goes."""
    monkeypatch.setattr(levels, "COARSEST_UNKNOWNS", 4)
    kind, rows, cols, _ = padded_problem(CASES[case]())
    return levels.PoissonHierarchy(kind, rows, cols, C)


def transfers(case, monkeypatch):
    """Every transfer of a case as ``(kind_f, kind_c, rng_c)``: level 0 -> 1 built directly (so tiny
    regions have one too), then the deeper ones of its ``PoissonHierarchy``."""
    kind, _, _, _, rows, cols = fine_level(case)
    out = [(kind,) + coarse_level(kind, rows, cols)]
    if case in DEEP:
        h = hierarchy(case, monkeypatch)
        out += [(h.kinds[lev], h.kinds[lev + 1], h.ranges[lev + 1])
                for lev in range(1, len(h.kinds) - 1)]
    return out


def field(rng, C, m, lo=-1.0, hi=1.0):
    """A random ``(C, H, W)`` field, 0 off the unknowns."""
    return np.ascontiguousarray(rng.uniform(lo, hi, (C,) + m.shape) * m)


def garbage(rng, shape):
    """NaN-free junk for output arrays the kernel must overwrite (frame rows and columns 0)."""
    a = rng.uniform(-50.0, 50.0, shape)
    a[..., [0, -1], :] = 0.0
    a[..., :, [0, -1]] = 0.0
    return a


# --------------------------------------------------------------------------- the references themselves


@case_param
def test_reference_operator_is_symmetric_and_matches_apply(case):
    kind, m, d, _, _, _ = fine_level(case)
    A, idx = ref.operator_matrix(kind, diag=d)
    np.testing.assert_array_equal(A, A.T)
    x = field(np.random.default_rng(0), 1, m)
    _close(ref.apply_laplacian(m, d, x).ravel()[idx], A @ x.ravel()[idx], scale=8.0)
    # the stencil round trip of the same operator
    st = ref.stencils_from_matrix(A, idx, kind.shape)
    _close(ref.apply9(m, st, np.zeros(kind.shape, bool), np.zeros(9), x),
           ref.apply_laplacian(m, d, x), scale=8.0)


def test_reference_prolongation_1d_examples():
    P = ref.prolongation_1d(7, 0, 3)
    np.testing.assert_array_equal(P[:, :4], [[1, 0, 0, 0], [.5, .5, 0, 0], [0, 1, 0, 0],
                                             [0, .5, .5, 0], [0, 0, 1, 0], [0, 0, .5, .5],
                                             [0, 0, 0, 1]])
    P = ref.prolongation_1d(6, 1, 2)           # lines 0 and 3 outside: mirrored into 1 and 2
    np.testing.assert_array_equal(P[1], [0, 1, 0, 0])
    np.testing.assert_array_equal(P[5], [0, 0, 1, 0])
    assert not ref.prolongation_1d(3, 2, 1)[1].any()         # no parent inside: a zero row


# --------------------------------------------------------------------------- fine level


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("offset", [(0, 0), (-3, 2), (4, -5), (-20, -20), (9, 11)])
def test_padded_window(dtype, offset):
    """A window of a channels-first view of an (H, W, C) image, zero where it leaves the image."""
    rng = np.random.default_rng([16, *np.add(offset, 50)])
    img = rng.random((9, 11, 3)).astype(dtype)
    view = np.moveaxis(img, -1, 0)
    i0, j0 = offset
    out = np.full((3, 7, 8), np.nan)
    sk.padded_window(view, i0, j0, out)
    expected = np.zeros_like(out)
    for i in range(7):
        for j in range(8):
            if 0 <= i0 + i < 9 and 0 <= j0 + j < 11:
                expected[:, i, j] = view[:, i0 + i, j0 + j]
    np.testing.assert_array_equal(out, expected)


@case_param
def test_fine_operator(case):
    kind, m, d, inv_d, _, _ = fine_level(case)
    count, m_k, d_k, inv_d_k, reg = lk.fine_operator(kind)
    assert count.dtype == np.int8 and reg.dtype == np.bool_
    np.testing.assert_array_equal(count, d)
    np.testing.assert_array_equal(m_k, m)
    np.testing.assert_array_equal(d_k, d)
    np.testing.assert_array_equal(inv_d_k, inv_d)
    np.testing.assert_array_equal(reg, ref.regular_fine_rows(kind))


@case_param
@channels_param
def test_residual(case, C):
    kind, m, d, _, _, _ = fine_level(case)
    rng = np.random.default_rng([1, C, len(case)])
    x, b = field(rng, C, m), field(rng, C, m)
    r = np.full_like(x, np.nan)
    lk.residual(m, d, x, b, r)
    _close(r, ref.residual(m, d, x, b), scale=8.0)


@case_param
@channels_param
@pytest.mark.parametrize("reverse", [False, True], ids=["red_black", "black_red"])
def test_gauss_seidel(case, C, reverse):
    kind, m, d, inv_d, _, _ = fine_level(case)
    rng = np.random.default_rng([2, C, reverse, len(case)])
    x, b = field(rng, C, m), field(rng, C, m)
    expected = ref.gauss_seidel(inv_d, x, b, reverse)
    lk.gauss_seidel(inv_d, x, b, reverse)
    _close(x, expected, scale=4.0)


def test_gauss_seidel_colour_order():
    """One unknown between two: the colour swept first sees the other's old values."""
    kind = np.full((3, 5), grid.FIXED, np.int8)
    kind[1, 1:4] = grid.UNKNOWN                # (1, 1) and (1, 3) are red, (1, 2) black
    m = (kind == grid.UNKNOWN).astype(float)
    d = ref.neighbour_count(kind)
    inv_d = np.divide(1.0, d, out=np.zeros_like(d), where=m > 0)
    b = 4.0 * m[None]
    for reverse in (False, True):
        x = np.zeros_like(b)
        lk.gauss_seidel(inv_d, x, b, reverse)
        np.testing.assert_allclose(x, ref.gauss_seidel(inv_d, np.zeros_like(b), b, reverse), rtol=1e-15)
        red, black = (1.0, 1.5) if not reverse else (1.25, 1.0)
        np.testing.assert_allclose(x[0, 1, 1:4], [red, black, red], rtol=1e-15)


# --------------------------------------------------------------------------- transfers


def test_parent_table():
    """Every small fine size and coarse range, including empty ones and ranges beyond the grid."""
    for n in range(1, 14):
        nc = n // 2 + 1
        for lo in range(-2, nc + 2):
            for hi in range(lo - 1, nc + 2):
                idx, w = lk.parent_table(n, lo, hi)
                assert idx.shape == w.shape == (n, 2) and idx.dtype == np.int64
                assert np.all((idx >= 0) & (idx < nc))
                assert np.all(idx[w == 0] == 0), (n, lo, hi)       # a missing parent: index 0
                P = np.zeros((n, nc))
                np.add.at(P, (np.arange(n)[:, None], idx), w)
                np.testing.assert_array_equal(P, ref.prolongation_1d(n, lo, hi), err_msg=str((n, lo, hi)))


def test_child_table():
    """The children of each coarse index (fine ``2J-1 .. 2J+1``) are the transpose of the
    prolongation on the interior fine indices; the first and last coarse index get none."""
    for n in range(3, 14):
        nc = n // 2 + 1
        for lo in range(-2, nc + 2):
            for hi in range(lo - 1, nc + 2):
                ch = lk.child_table(*lk.parent_table(n, lo, hi), nc)
                assert ch.shape == (nc, 3)
                R = np.zeros((nc, n))
                for J in range(1, nc - 1):
                    R[J, 2 * J - 1:2 * J + 2] = ch[J]
                expected = ref.prolongation_1d(n, lo, hi).T.copy()
                expected[:, [0, n - 1]] = 0.0                 # frame: no residual there
                expected[[0, nc - 1], :] = 0.0                # frame coarse lines: dropped
                np.testing.assert_array_equal(R, expected, err_msg=str((n, lo, hi)))


@case_param
@channels_param
@bands_param
def test_restrict(case, C, nbands, monkeypatch):
    rng = np.random.default_rng([3, C, nbands, len(case)])
    for kind_f, kind_c, rng_c in transfers(case, monkeypatch):
        m_f = (kind_f == grid.UNKNOWN).astype(float)
        mc = (kind_c == grid.UNKNOWN).astype(float)
        r = field(rng, C, m_f)
        b_c = np.full((C,) + kind_c.shape, np.nan)
        lk.restrict(r, mc, *restriction(kind_f.shape, rng_c), grid.row_spans(m_f),
                    bands(kind_c.shape[0], nbands), b_c)
        _close(b_c, ref.restrict(r, mc, rng_c), scale=4.0)
        # the gather adds each coarse entry's children in the order a scatter would
        scatter = ref.restrict_scatter(r, mc, *tables(kind_f.shape, rng_c)[:4], kind_c.shape)
        np.testing.assert_array_equal(b_c, scatter)


@case_param
@channels_param
@bands_param
def test_prolong_add(case, C, nbands, monkeypatch):
    rng = np.random.default_rng([4, C, nbands, len(case)])
    for kind_f, kind_c, rng_c in transfers(case, monkeypatch):
        m_f = (kind_f == grid.UNKNOWN).astype(float)
        mc = (kind_c == grid.UNKNOWN).astype(float)
        e_c, x = field(rng, C, mc), field(rng, C, m_f)
        expected = ref.prolong_add(e_c, m_f, rng_c, x)
        lk.prolong_add(e_c, m_f, *tables(kind_f.shape, rng_c), grid.row_spans(m_f),
                       bands(kind_f.shape[0], nbands), x)
        _close(x, expected, scale=2.0)


@case_param
def test_prolongation_fixups_give_the_table_s_values(case, monkeypatch):
    """The generic fine row plus the fix-up columns equals the parent table on every column
    (bitwise: taking every column from the table is the reference), on every level."""
    h = hierarchy(case, monkeypatch, C=2)
    rng = np.random.default_rng(17)
    for lev in range(len(h.kinds) - 1):
        ri, rw, ci, cw, fix = h.tables[lev]
        e_c = field(rng, 2, h.masks[lev + 1])
        x0 = field(rng, 2, h.masks[lev])
        every = np.arange(1, ci.shape[0] - 1, dtype=np.int64)
        x_fix, x_all = x0.copy(), x0.copy()
        edges = h.level_edges[lev]
        lk.prolong_add(e_c, h.masks[lev], ri, rw, ci, cw, fix, h.level_spans[lev], edges, x_fix)
        lk.prolong_add(e_c, h.masks[lev], ri, rw, ci, cw, every, h.level_spans[lev], edges, x_all)
        np.testing.assert_array_equal(x_fix, x_all)
        assert fix.size <= 4                      # the mirrored ends only


def test_restrict_is_the_transpose_of_prolong_add():
    kind, _, _, _, rows, cols = fine_level("border")
    kind_c, rng_c = coarse_level(kind, rows, cols)
    P, fi, ci = ref.prolongation_matrix(kind == grid.UNKNOWN, kind_c == grid.UNKNOWN, rng_c)
    for k, c in enumerate(ci[:40]):
        e = np.zeros((1,) + kind_c.shape)
        e.reshape(-1)[c] = 1.0
        x = ref.prolong_add(e, (kind == grid.UNKNOWN).astype(float), rng_c, np.zeros((1,) + kind.shape))
        np.testing.assert_array_equal(x.reshape(-1)[fi], P[:, k])
    r = np.zeros((1,) + kind.shape)
    r.reshape(-1)[fi] = np.random.default_rng(5).random(fi.size)
    bc = ref.restrict(r, (kind_c == grid.UNKNOWN).astype(float), rng_c)
    np.testing.assert_allclose(bc.reshape(-1)[ci], P.T @ r.reshape(-1)[fi], rtol=1e-13)


# --------------------------------------------------------------------------- Galerkin


def _galerkin(kind_f, kind_c, rng_c, const_c, reg_f, diag=None, st=None):
    """Run the kernel on fresh (junk-filled) outputs."""
    five = st is None
    st_c = np.full((9,) + kind_c.shape, np.nan)
    reg_c = np.ones(kind_c.shape, dtype=np.bool_)
    lk.galerkin(kind_f, np.zeros((1, 1)) if diag is None else diag,
                np.zeros((9, 1, 1)) if st is None else st, five, reg_f, kind_c, *rng_c,
                const_c, st_c, reg_c)
    return st_c, reg_c


FIVE = np.array([0.0, -1.0, 0.0, -1.0, 4.0, -1.0, 0.0, -1.0, 0.0])


@case_param
def test_galerkin_of_the_fine_laplacian(case):
    kind, m, d, _, rows, cols = fine_level(case)
    kind_c, rng_c = coarse_level(kind, rows, cols)
    reg_f = ref.regular_fine_rows(kind)
    st_c, reg_c = _galerkin(kind, kind_c, rng_c, levels.galerkin_constant(FIVE), reg_f, diag=d)
    _close(st_c, ref.galerkin(kind, kind_c, rng_c, diag=d), scale=4.0)
    np.testing.assert_array_equal(reg_c, ref.regular_coarse_rows(kind, reg_f, kind_c))
    if case in ("interior", "ellipse"):
        assert reg_c.sum() > 10                # the shortcut is exercised


@pytest.mark.parametrize("case", DEEP)
def test_galerkin_of_the_coarse_levels(case, monkeypatch):
    h = hierarchy(case, monkeypatch)
    assert len(h.kinds) >= 3
    for lev in range(1, len(h.kinds) - 1):
        kind_f, kind_c, rng_c = h.kinds[lev], h.kinds[lev + 1], h.ranges[lev + 1]
        st_c, reg_c = _galerkin(kind_f, kind_c, rng_c, h.consts[lev + 1], h.regs[lev], st=h.ops[lev])
        _close(st_c, ref.galerkin(kind_f, kind_c, rng_c, st=h.ops[lev]), scale=8.0)
        np.testing.assert_array_equal(reg_c, ref.regular_coarse_rows(kind_f, h.regs[lev], kind_c))


@case_param
@pytest.mark.parametrize("five", [True, False], ids=["diag", "nine"])
def test_galerkin_of_random_operators(case, five):
    """Arbitrary diagonals / 9-point coefficients (no regular rows): the general path alone."""
    kind, m, _, _, rows, cols = fine_level(case)
    kind_c, rng_c = coarse_level(kind, rows, cols)
    rng = np.random.default_rng([6, five, len(case)])
    no_reg = np.zeros(kind.shape, dtype=np.bool_)
    if five:
        diag = rng.uniform(1.0, 5.0, kind.shape) * m
        st_c, reg_c = _galerkin(kind, kind_c, rng_c, FIVE, no_reg, diag=diag)
        expected = ref.galerkin(kind, kind_c, rng_c, diag=diag)
    else:
        A, idx = ref.operator_matrix(kind, st=rng.uniform(-1.0, 1.0, (9,) + kind.shape))
        st = ref.stencils_from_matrix(A, idx, kind.shape)     # 0 towards cells that are not unknown
        st_c, reg_c = _galerkin(kind, kind_c, rng_c, FIVE, no_reg, st=st)
        expected = ref.galerkin(kind, kind_c, rng_c, st=st)
    _close(st_c, expected, scale=16.0)
    assert not reg_c.any()


# --------------------------------------------------------------------------- coarse 9-point levels


def nine_point_levels(case, monkeypatch, rng):
    """``(m, st, reg, const, inv_d)`` of 9-point levels: the coarse levels of the case's hierarchy, and a
    random operator on the case's fine grid with random regular rows whose stored stencils are NaN (the
    kernels must not read them)."""
    out = []
    if case in DEEP:
        h = hierarchy(case, monkeypatch)
        out += [(h.masks[lev], h.ops[lev], h.regs[lev], h.consts[lev], h.inv_d[lev])
                for lev in range(1, len(h.kinds))]
    kind, m, _, _, _, _ = fine_level(case)
    st = rng.uniform(-1.0, 1.0, (9,) + m.shape) * m          # nonzero towards fixed cells too
    st[4] = rng.uniform(4.0, 8.0, m.shape) * m
    const = np.array([-0.5, -1.0, -0.5, -1.5, 7.0, -1.5, -0.5, -1.0, -0.5])   # symmetric
    reg = (rng.random(m.shape) < 0.4) & (m > 0)
    st[:, reg] = np.nan
    diag = np.where(reg, const[4], st[4])
    inv_d = np.divide(1.0, diag, out=np.zeros_like(m), where=m > 0)
    out.append((m, st, reg, const, inv_d))
    return out


def test_irregular_cells():
    m = np.array([[0, 1, 1, 0], [1, 1, 1, 1], [0, 0, 0, 0], [1, 0, 1, 1]], dtype=float)
    reg = np.array([[0, 1, 0, 0], [0, 1, 1, 0], [0, 0, 0, 0], [0, 0, 0, 1]], dtype=bool)
    ptr, col = lk.irregular_cells(m, reg)
    np.testing.assert_array_equal(ptr, [0, 1, 3, 3, 5])
    np.testing.assert_array_equal(col, [2, 0, 3, 0, 2])
    assert ptr.dtype == col.dtype == np.int64


@case_param
@channels_param
@bands_param
def test_residual9(case, C, nbands, monkeypatch):
    rng = np.random.default_rng([7, C, nbands, len(case)])
    for m, st, reg, const, _ in nine_point_levels(case, monkeypatch, rng):
        x, b = field(rng, C, m), field(rng, C, m)
        r = np.zeros_like(x)                       # 0 outside the spans, which are not written
        lk.residual9(m, st, const, *lk.irregular_cells(m, reg), grid.row_spans(m),
                     bands(m.shape[0], nbands), x, b, r)
        _close(r, ref.residual9(m, st, reg, const, x, b), scale=16.0)


@case_param
@channels_param
@bands_param
@pytest.mark.parametrize("sweep", ["forward", "backward", "from_zero"])
def test_gauss_seidel9(case, C, nbands, sweep, monkeypatch):
    rng = np.random.default_rng([8, C, nbands, len(sweep), len(case)])
    reverse, zero = sweep == "backward", sweep == "from_zero"
    for m, st, reg, const, inv_d in nine_point_levels(case, monkeypatch, rng):
        x, b = field(rng, C, m), field(rng, C, m)
        edges = bands(m.shape[0], nbands)
        expected = ref.gauss_seidel9(inv_d, st, reg, const, 0 * x if zero else x, b, reverse,
                                     edges=edges)
        lk.gauss_seidel9(inv_d, st, const, *lk.irregular_cells(m, reg), grid.row_spans(m), edges,
                         x, b, reverse, zero)      # from_zero: x's values on the unknowns unused
        _close(x, expected, scale=4.0)


def test_gauss_seidel9_from_zero_is_forward_only(monkeypatch):
    m, st, reg, const, inv_d = nine_point_levels("ellipse", monkeypatch,
                                                 np.random.default_rng(82))[0]
    x = np.zeros((1,) + m.shape)
    with pytest.raises(ValueError, match="a sweep from zero must be a forward sweep"):
        lk.gauss_seidel9(inv_d, st, const, *lk.irregular_cells(m, reg), grid.row_spans(m),
                         bands(m.shape[0], 2), x, x.copy(), True, True)


def test_hybrid_gauss_seidel9_backward_sweep_is_the_adjoint(monkeypatch):
    """With bands, forward then backward hybrid sweeps from zero still give a symmetric
    operator ``b -> x`` (what makes the V-cycle a CG preconditioner)."""
    rng = np.random.default_rng(81)
    m, st, reg, const, inv_d = nine_point_levels("ellipse", monkeypatch, rng)[0]   # Galerkin
    irr, spans = lk.irregular_cells(m, reg), grid.row_spans(m)
    edges = np.linspace(1, m.shape[0] - 1, 4).round().astype(np.int64)     # 3 bands, 6-7 rows
    idx = np.flatnonzero(m.ravel())
    B = np.zeros((idx.size, idx.size))
    for k, q in enumerate(idx):
        b = np.zeros((1,) + m.shape)
        b.reshape(-1)[q] = 1.0
        x = np.zeros_like(b)
        lk.gauss_seidel9(inv_d, st, const, *irr, spans, edges, x, b, False, True)
        # the symmetric smoother: x = M^-T (b - A M^-1 b) + M^-1 b, the backward sweep from there
        lk.gauss_seidel9(inv_d, st, const, *irr, spans, edges, x, b, True, False)
        B[:, k] = x.reshape(-1)[idx]
    np.testing.assert_allclose(B, B.T, atol=1e-12)


# --------------------------------------------------------------------------- fused fine-level passes


def fused_inputs(case, C, seed):
    kind, m, d, inv_d, rows, cols = fine_level(case)
    kind_c, rng_c = coarse_level(kind, rows, cols)
    mc = (kind_c == grid.UNKNOWN).astype(float)
    return m, d, inv_d, mc, rng_c, np.random.default_rng([seed, C, len(case)])




def test_row_spans():
    count = np.zeros((5, 8), np.int8)
    count[1, 2] = count[1, 5] = 3
    count[3, 1:7] = 4
    np.testing.assert_array_equal(grid.row_spans(count), [[1, 1], [2, 6], [1, 1], [1, 7], [1, 1]])
    for case in CASES:                        # every unknown lies in its row's span
        _, _, d, _, _, _ = fine_level(case)
        spans = grid.row_spans(d.astype(np.int8))
        cols = np.arange(d.shape[1])
        inside = (cols >= spans[:, :1]) & (cols < spans[:, 1:])
        assert not np.any((d > 0) & ~inside)
        assert np.all(spans[:, 0] >= 1) and np.all(spans[:, 1] <= d.shape[1] - 1)


def test_band_edges():
    np.testing.assert_array_equal(grid.band_edges(100, 3, 2), [1, 50, 99])      # 6 units on 2 threads
    np.testing.assert_array_equal(grid.band_edges(100, 1, 2), [1, 50, 99])
    np.testing.assert_array_equal(grid.band_edges(100, 2, 2), [1, 99])          # channels balance
    np.testing.assert_array_equal(grid.band_edges(100, 3, 4), [1, 26, 50, 74, 99])
    np.testing.assert_array_equal(grid.band_edges(20, 3, 2), [1, 19])           # too few rows
    assert grid.band_edges(100, 3, 2).dtype == np.int64


@case_param
@channels_param
@bands_param
def test_count_residual(case, C, nbands):
    m, d, _, _, _, rng = fused_inputs(case, C, 10)
    count = d.astype(np.int8)
    x, b = field(rng, C, m), field(rng, C, m)
    expected = ref.residual(m, d, x, b)
    edges = bands(m.shape[0], nbands)
    r, norms = garbage(rng, x.shape), np.full(C, np.nan)
    r[:] = 0.0                                                      # outside the spans
    fk.count_residual(count, grid.row_spans(count), x, b, r, edges, norms)
    _close(r, expected, scale=16.0)
    _close(norms, ref.dots(expected, expected), scale=64.0 * m.sum())
    row, only = garbage(rng, (C, 1, m.shape[1])), np.full(C, np.nan)
    fk.count_residual(count, grid.row_spans(count), x, b, row, edges, only)     # norms only
    np.testing.assert_array_equal(only, norms)


@case_param
@channels_param
@bands_param
@pytest.mark.parametrize("first", [False, True], ids=["step", "first"])
def test_fused_step_presmooth(case, C, nbands, first):
    m, d, _, mc, rng_c, rng = fused_inputs(case, C, 9)
    count = d.astype(np.int8)
    x, r, p, z, b = (field(rng, C, m) for _ in range(5))
    alpha = rng.uniform(-2.0, 2.0, C)
    beta = rng.uniform(0.0, 2.0, C)
    alpha[0] = beta[0] = 0.0
    b_c = rng.uniform(-50.0, 50.0, (C,) + mc.shape)
    if first:                           # the solver's first pass: r = b - A x, no step
        m_, d_, _ = ref.from_counts(count)
        ex, ep = x.copy(), p.copy()
        r_expected = ref.residual(m_, d_, x, b)
        _, er, _, ez, eb, err = ref.fused_step_presmooth(count, x, r_expected, p, z, 0.0 * alpha,
                                                         0.0 * beta, mc, b_c, rng_c)
    else:
        ex, er, ep, ez, eb, err = ref.fused_step_presmooth(count, x, r, p, z, alpha, beta, mc,
                                                           b_c, rng_c)
    rr = np.full(C, np.nan)
    fk.fused_step_presmooth(count, grid.row_spans(count), x, r, p, z, alpha, beta,
                            *restriction(m.shape, rng_c), mc, b_c, rr, bands(m.shape[0], nbands),
                            b, first)
    _close(p, ep, scale=4.0)
    _close(x, ex, scale=4.0)
    _close(r, er, scale=8.0)
    _close(z, ez, scale=8.0)
    _close(b_c, eb, scale=64.0)
    _close(rr, err, scale=16.0 * m.sum())


@case_param
@channels_param
@bands_param
def test_fused_prolong_postsmooth(case, C, nbands):
    m, d, _, mc, rng_c, rng = fused_inputs(case, C, 11)
    count = d.astype(np.int8)
    r, z, p, e_c = field(rng, C, m), field(rng, C, m), field(rng, C, m), field(rng, C, mc)
    ez, esums = ref.fused_prolong_postsmooth(count, r, z, p, e_c, rng_c)
    sums = np.full((C, 3), np.nan)
    fk.fused_prolong_postsmooth(count, grid.row_spans(count), r, z, p, e_c, *tables(m.shape, rng_c),
                                sums, bands(m.shape[0], nbands))
    _close(z, ez, scale=8.0)
    _close(sums, esums, scale=32.0 * m.sum())


def test_prolong_postsmooth_sums_give_the_next_curvature():
    """<p', A p'> = <z, A z> + 2 beta <z, A p> + beta^2 <p, A p> for p' = z + beta p: the step
    length of the next pass, from the sums of this one."""
    m, d, _, mc, rng_c, rng = fused_inputs("interior", 2, 13)
    count = d.astype(np.int8)
    r, z, p, e_c = field(rng, 2, m), field(rng, 2, m), field(rng, 2, m), field(rng, 2, mc)
    sums = np.zeros((2, 3))
    fk.fused_prolong_postsmooth(count, grid.row_spans(count), r, z, p, e_c, *tables(m.shape, rng_c),
                                sums, bands(m.shape[0], 2))
    beta = np.array([0.3, 1.7])
    p_next = z + beta[:, None, None] * p
    direct = ref.dots(p_next, ref.apply_laplacian(m, d, p_next))
    expanded = sums[:, 1] + 2 * beta * sums[:, 2] + beta ** 2 * ref.dots(p, ref.apply_laplacian(m, d, p))
    _close(expanded, direct, scale=0.0)


@case_param
@channels_param
def test_fused_direction_apply(case, C):
    m, d, _, _, _, rng = fused_inputs(case, C, 12)
    z, p = field(rng, C, m), field(rng, C, m)
    beta = rng.uniform(0.0, 2.0, C)
    beta[0] = 0.0                       # the first iteration
    q = garbage(rng, z.shape)
    ep, eq, epq = ref.fused_direction_apply(m, d, z, p, beta)
    pq = np.full(C, np.nan)
    fk.fused_direction_apply(m, d, z, p, beta, q, pq)
    _close(p, ep, scale=4.0)
    _close(q, eq, scale=32.0)
    _close(pq, epq, scale=64.0 * m.sum())


# --------------------------------------------------------------------------- set-up and output


def images(case, C, seed, quantised):
    """``(kind, target, source, valid)`` on the padded grid: the target on the in-image cells, the source
    where it exists (cut off on one side so that some neighbours have none); quantised images (multiples
    of 1/4) make ties between the mixed gradients."""
    kind, rows, cols, _ = padded_problem(CASES[case]())
    rng = np.random.default_rng([seed, C, quantised, len(case)])
    shape = (C,) + kind.shape
    target, source = rng.random(shape), rng.random(shape)
    if quantised:
        target, source = np.round(target * 4) / 4, np.round(source * 4) / 4
    target *= kind != grid.OUTSIDE
    valid = np.ones(kind.shape, dtype=np.bool_)
    valid[:, -1] = False                 # the source ends left of the last column ...
    valid[kind == grid.OUTSIDE] = False
    valid[kind == grid.UNKNOWN] = True     # ... but every unknown has a source pixel
    source *= valid
    return kind, target, source, valid


@case_param
@channels_param
@pytest.mark.parametrize("mixed", [False, True], ids=["normal", "mixed"])
@pytest.mark.parametrize("quantised", [False, True], ids=["real", "quarters"])
def test_guided_rhs(case, C, mixed, quantised):
    kind, target, source, valid = images(case, C, 13, quantised)
    b = garbage(np.random.default_rng(0), target.shape) + np.nan
    sk.guided_rhs(kind, target, source, valid, mixed, b)
    _close(b, ref.guided_rhs(kind, target, source, valid, mixed), scale=8.0)


@case_param
@channels_param
def test_initial_guess(case, C):
    kind, target, source, _ = images(case, C, 14, False)
    x = np.full(target.shape, np.nan)
    sk.initial_guess(kind, target, source, x)
    _close(x, ref.initial_guess(kind, target, source), scale=2.0)


def test_initial_guess_without_fixed_neighbours():
    """A region that fills the image: no (unknown, fixed) pair, the shift is 0."""
    kind = np.zeros((6, 7), np.int8)
    kind[1:-1, 1:-1] = grid.UNKNOWN
    rng = np.random.default_rng(15)
    target, source = rng.random((2,) + kind.shape), rng.random((2,) + kind.shape)
    x = np.full(target.shape, np.nan)
    sk.initial_guess(kind, target, source, x)
    expected = ref.initial_guess(kind, target, source)
    np.testing.assert_array_equal(expected[:, 1:-1, 1:-1], source[:, 1:-1, 1:-1])
    _close(x, expected)


@pytest.mark.parametrize("n", [1, 63, 64, 1000, 4097])
@pytest.mark.parametrize("types", [(np.float64, np.float64), (np.float32, np.float32),
                                   (np.float64, np.float32), (np.float32, np.float64)])
def test_copy_flat(n, types):
    src = np.random.default_rng(n).random(n).astype(types[0])
    dst = np.full(n, np.nan, dtype=types[1])
    sk.copy_flat(src, dst)
    np.testing.assert_array_equal(dst, src.astype(types[1]))


@case_param
@channels_param
@pytest.mark.parametrize("clip", [True, False], ids=["clip", "no_clip"])
def test_write_solution(case, C, clip):
    """Into a channels-first view of a channels-last target, as ``blend`` writes."""
    omega = CASES[case]()
    kind, _, _, (py0, px0) = padded_problem(omega)
    rng = np.random.default_rng([16, C, clip, len(case)])
    x = field(rng, C, (kind == grid.UNKNOWN).astype(float), -0.5, 1.5)
    target = rng.random(omega.shape + (C,))
    out = np.moveaxis(target, -1, 0)
    expected = ref.write_solution(kind, x, out, py0, px0, clip)
    sk.write_solution(kind, x, out, py0, px0, clip)
    np.testing.assert_array_equal(out, expected)
    np.testing.assert_array_equal(np.moveaxis(target, -1, 0)[:, ~omega], expected[:, ~omega])


@pytest.mark.parametrize("shape", [(1, 1, 1), (1, 3, 5), (3, 7, 9), (2, 40, 33)],
                         ids=lambda s: "x".join(map(str, s)))
def test_dots(shape):
    rng = np.random.default_rng([17, *shape])
    a, b = rng.standard_normal(shape), rng.standard_normal(shape)
    out = fk.dots(a, b)
    assert out.shape == (shape[0],)
    _close(out, ref.dots(a, b), scale=np.abs(a * b).sum(axis=(1, 2)).max())
