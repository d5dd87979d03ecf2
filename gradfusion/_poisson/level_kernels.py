"""Numba kernels of the Poisson multigrid levels (private): the masked 5-point Laplacian and its
red-black Gauss-Seidel, the vertex-centred transfers, the Galerkin coarse operators and the
9-point coarse levels' residual and Gauss-Seidel sweeps.

On the padded grid of :mod:`~gradfusion._poisson.grid`, with ``m`` the 0/1 mask
of the unknowns, ``d`` the number of in-image neighbours (Perez et al.'s
``|N_p|``; 0 off the unknowns) and ``inv_d = m / d``, the fine operator and a
Gauss-Seidel update are branch-free:

    (A x)_p = m_p (d_p x_p - x_N - x_S - x_E - x_W),
    x_p <- inv_d_p (b_p + x_N + x_S + x_E + x_W).

The hierarchy is vertex-centred: coarse cell ``(I, J)`` sits on fine cell
``(2I, 2J)`` (padded coordinates) and has its kind. Prolongation ``P`` is
bilinear and separable (weight 1 on even lines, 1/2 and 1/2 between two
coarse lines); a coarse parent line outside the image gives its weight to
the other one (a mirror: the Neumann end) and a fixed coarse parent
contributes 0. Restriction is the exact transpose ``P^T`` and the coarse
operators are the Galerkin products ``P^T A P``: 9-point stencils stored as
``st[3 * (di + 1) + (dj + 1), i, j]``. Smoothing is red-black Gauss-Seidel on
the fine level (black-red after the coarse correction) and Gauss-Seidel on
the coarse ones, lexicographic within row bands (backward after the
correction: the adjoint sweep), so that one V-cycle is a symmetric positive
definite preconditioner for conjugate gradients. Coarse rows in the regular
interior of the mask equal a constant stencil and are applied from it,
without reading their stored stencil (:func:`irregular_cells` lists the
others); their Gauss-Seidel sweeps split each row into a vectorised part and
a one-multiply-add recurrence.

The fine level's work inside the conjugate gradients is fused into two passes
(:mod:`~gradfusion._poisson.fused_kernels`), which reuse the row kernels of the
transfers here.
"""

import numba as nb
import numpy as np

from .grid import OUTSIDE, UNKNOWN
from .grid import parallel as _pjit
from .grid import parallel_fast as _fpjit
from .grid import serial as _jit
from .grid import serial_fast as _fjit

# --------------------------------------------------------------------------- fine level


@_fjit
def _gs_row(inv_d, b, x, i, color, buf):
    """Gauss-Seidel on the cells of row ``i`` with ``(i + j) % 2 == color`` (one channel).

    The update of the whole row goes to the row buffer ``buf`` first (a
    contiguous loop, vectorised; the other colour's values are computed and
    dropped), then the cells of the colour are stored: a stride-2 update in
    place stays scalar.
    """
    Wp = x.shape[1]
    for j in range(1, Wp - 1):
        buf[j] = (b[i, j] + x[i - 1, j] + x[i + 1, j] + x[i, j - 1] + x[i, j + 1]) * inv_d[i, j]
    for j in range(1 + (i + 1 + color) % 2, Wp - 1, 2):
        x[i, j] = buf[j]


@_fjit
def _residual_row(m, d, b, x, i, out):
    Wp = x.shape[1]
    out[0] = 0.0
    out[Wp - 1] = 0.0
    for j in range(1, Wp - 1):
        out[j] = m[i, j] * (b[i, j] - (d[i, j] * x[i, j] - x[i - 1, j] - x[i + 1, j]
                                       - x[i, j - 1] - x[i, j + 1]))


@_fpjit
def residual(m, d, x, b, r):
    """``r = b - A x`` (0 off the unknowns)."""
    C, Hp, Wp = x.shape
    for c in nb.prange(C):
        r[c, 0] = 0.0
        r[c, Hp - 1] = 0.0
        for i in range(1, Hp - 1):
            _residual_row(m, d, b[c], x[c], i, r[c, i])


@_fpjit
def gauss_seidel(inv_d, x, b, reverse):
    """One red-black sweep (black-red if ``reverse``) on ``A x = b``."""
    C, Hp, Wp = x.shape
    first = 1 if reverse else 0
    for c in nb.prange(C):
        buf = np.empty(Wp)
        for i in range(1, Hp - 1):
            _gs_row(inv_d, b[c], x[c], i, first, buf)
        for i in range(1, Hp - 1):
            _gs_row(inv_d, b[c], x[c], i, 1 - first, buf)


@_pjit
def fine_operator(kind):
    """The fine 5-point operator of the cell kinds, in one pass: ``(count, m, d, inv_d, reg)``.

    ``d`` is the number of in-image 4-neighbours of each unknown (Perez et
    al.'s ``|N_p|``; 0 off the unknowns), ``count`` the same as int8, ``m`` the
    0/1 mask of the unknowns, ``inv_d = m / d``, and ``reg`` flags the unknowns
    whose four neighbours are unknowns too (the interior rows of the operator).
    """
    Hp, Wp = kind.shape
    count = np.zeros((Hp, Wp), dtype=np.int8)
    m = np.zeros((Hp, Wp))
    d = np.zeros((Hp, Wp))
    inv_d = np.zeros((Hp, Wp))
    reg = np.zeros((Hp, Wp), dtype=np.bool_)
    for i in nb.prange(1, Hp - 1):
        for j in range(1, Wp - 1):
            if kind[i, j] != UNKNOWN:
                continue
            n = 0
            u = 0
            for qi, qj in ((i - 1, j), (i + 1, j), (i, j - 1), (i, j + 1)):
                n += kind[qi, qj] != OUTSIDE
                u += kind[qi, qj] == UNKNOWN
            count[i, j] = n
            m[i, j] = 1.0
            d[i, j] = n
            inv_d[i, j] = 1.0 / n
            reg[i, j] = u == 4
    return count, m, d, inv_d, reg


# --------------------------------------------------------------------------- transfers


@_jit
def _parents(i, lo, hi):
    """Coarse parents of fine index ``i`` (vertex-centred) and their weights.

    Even ``i`` sits on coarse ``i // 2``; odd ``i`` halfway between two coarse
    lines. A parent line outside the image (outside ``[lo, hi]``) gives its
    weight to the other one. Returns ``(a, wa, b, wb)`` with ``b = -1`` when
    there is one parent (``a = -1`` too when there is none).
    """
    if i % 2 == 0:
        return i // 2, 1.0, -1, 0.0
    a = (i - 1) // 2
    b = a + 1
    ina = lo <= a <= hi
    inb = lo <= b <= hi
    if ina and inb:
        return a, 0.5, b, 0.5
    if ina:
        return a, 1.0, -1, 0.0
    if inb:
        return b, 1.0, -1, 0.0
    return -1, 0.0, -1, 0.0


@_jit
def parent_table(n, lo, hi):
    """The 1-D parents of fine indices ``0..n-1`` as ``(index (n, 2), weight (n, 2))``.

    A missing parent has index 0 and weight 0 (coarse line 0 is frame, never
    an unknown, so reading or adding there with weight 0 is harmless).
    """
    idx = np.zeros((n, 2), dtype=np.int64)
    w = np.zeros((n, 2))
    for i in range(n):
        a0, u0, a1, u1 = _parents(i, lo, hi)
        if a0 >= 0:
            idx[i, 0] = a0
            w[i, 0] = u0
        if a1 >= 0:
            idx[i, 1] = a1
            w[i, 1] = u1
    return idx, w


@_jit
def child_table(idx, w, nc):
    """The 1-D children of ``nc`` coarse indices from a :func:`parent_table` ``(idx, w)``.

    ``out[J, k]`` is the weight of fine index ``2 J - 1 + k`` (``k = 0, 1, 2``) in
    coarse ``J``: with vertex-centred transfers a coarse line has no other
    children. Interior fine indices only (the frame holds no residual).
    """
    out = np.zeros((nc, 3))
    for j in range(1, idx.shape[0] - 1):
        for k in range(2):
            if w[j, k] != 0.0:
                J = idx[j, k]
                out[J, j - 2 * J + 1] = w[j, k]
    return out


@_fjit
def _restrict_row(res, ri, rw, ch, i, trow, b_c, jlo, jhi, lo, hi):
    """Add fine row ``i`` (values ``res``, 0 off the unknowns) into the rows ``[lo, hi)`` of
    ``b_c`` by ``P^T``.

    Along the row a gather over the coarse columns (children ``2J-1, 2J, 2J+1``
    with the weights of ``ch``, summed in fine order as a scatter would): it
    vectorises, where the scatter through the parent table did not (2x faster).
    Only the coarse columns with a child in the fine columns ``[jlo, jhi)`` are
    formed (``res`` must be 0 on ``jlo - 2 .. jhi + 1`` outside that span); the
    first and last coarse columns are frame (never unknown) and are skipped.

    The loops run over views that start at the span (``range`` from 0 or 1):
    with a loop start Numba cannot prove non-negative, every index keeps its
    negative-index wrap-around test and the loop ran 2-3x slower.
    """
    Wc = trow.shape[0]
    J0, J1 = max(jlo // 2, 1), min(jhi // 2 + 1, Wc - 1)
    n = J1 - J0
    tv, cv, rv = trow[J0:], ch[J0:], res[2 * J0 - 1:]
    for m in range(n):
        tv[m] = ((0.0 + cv[m, 0] * rv[2 * m]) + cv[m, 1] * rv[2 * m + 1]) + cv[m, 2] * rv[2 * m + 2]
    u0, u1 = rw[i, 0], rw[i, 1]
    if lo <= ri[i, 0] < hi:
        r0 = b_c[ri[i, 0], J0:]
        for m in range(n):
            r0[m] += u0 * tv[m]
    if lo <= ri[i, 1] < hi:
        r1 = b_c[ri[i, 1], J0:]
        for m in range(n):
            r1[m] += u1 * tv[m]


def prolongation_fixups(ci, cw):
    """Fine columns whose parents in the column table ``(ci, cw)`` (:func:`parent_table`) are
    not the generic ones (even ``j``: ``j / 2`` with weight 1; odd ``j``: ``(j - 1) / 2`` and
    ``(j + 1) / 2`` with 1/2 each): the mirrored ends next to the image's border. int64."""
    ci, cw = np.asarray(ci), np.asarray(cw)
    j = np.arange(ci.shape[0])
    even = j % 2 == 0
    g0, w0 = j // 2, np.where(even, 1.0, 0.5)
    g1, w1 = j // 2 + 1, np.where(even, 0.0, 0.5)
    differ = ((cw[:, 0] != w0) | (cw[:, 1] != w1) | ((w0 != 0) & (ci[:, 0] != g0))
              | ((w1 != 0) & (ci[:, 1] != g1)))
    differ[0] = differ[-1] = False                 # frame columns: never unknowns
    return np.flatnonzero(differ).astype(np.int64)


@_fjit
def _prolong_row(e_c, m, ri, rw, ci, cw, fix, i, erow, fbuf, x, jlo, jhi):
    """``x[i] += (P e_c)[i]`` on the fine unknowns of row ``i`` (``m > 0``: the 0/1 mask
    or the neighbour counts).

    The coarse rows are combined into ``erow``; the fine row is then filled
    generically (even column ``2J``: ``erow[J]``; odd ``2J + 1``: the mean of
    ``erow[J]`` and ``erow[J + 1]``), which vectorises where a gather through
    the column table did not, and the few columns of :func:`prolongation_fixups`
    are taken from the table. The same products and sums as the table's. Only
    the fine columns ``[jlo, jhi)`` are updated (``erow`` must start finite: a
    missing parent reads entry 0 with weight 0). Loops over views, as in
    :func:`_restrict_row`.
    """
    u0, u1 = rw[i, 0], rw[i, 1]
    J0, J1 = jlo // 2, (jhi - 1) // 2 + 1          # fine columns 2 J0 .. 2 J1 - 1
    ev, e0, e1 = erow[J0:], e_c[ri[i, 0], J0:], e_c[ri[i, 1], J0:]
    for k in range(min(J1 + 1, erow.shape[0]) - J0):
        ev[k] = u0 * e0[k] + u1 * e1[k]
    fv = fbuf[2 * J0:]
    for k in range(J1 - J0):
        fv[2 * k] = ev[k]
        fv[2 * k + 1] = 0.5 * (ev[k] + ev[k + 1])
    for n in range(fix.shape[0]):
        j = fix[n]
        if jlo <= j < jhi:
            fbuf[j] = cw[j, 0] * erow[ci[j, 0]] + cw[j, 1] * erow[ci[j, 1]]
    o = jlo - 1
    mv, xv, bv = m[i, o:], x[i, o:], fbuf[o:]
    for k in range(1, jhi - o):
        on = 1.0 if mv[k] > 0 else 0.0
        xv[k] += on * bv[k]


@_pjit
def restrict(r, mc, ri, rw, ch, spans, edges_c, b_c):
    """``b_c = P^T r`` (``r`` 0 off the fine unknowns), times the coarse mask ``mc``; ``ri, rw``
    the row parents (:func:`parent_table`), ``ch`` the column children (:func:`child_table`),
    ``spans`` the fine rows' spans of unknowns (:func:`~.grid.row_spans`), ``edges_c`` the coarse
    level's row bands (:func:`~.grid.smoother_bands`; they must run from row 1 to row ``Hc - 1``,
    the end bands clearing the frame rows too).

    A (channel, coarse band) unit walks the fine rows with a parent in its band, in order,
    and adds only into its own rows: each coarse entry gets the same sums in the same order
    whatever the bands (a fine row between two bands is gathered by both).
    """
    C, Hp, Wp = r.shape
    Hc = b_c.shape[1]
    nbands = edges_c.shape[0] - 1
    for unit in nb.prange(C * nbands):
        c, k = unit // nbands, unit % nbands
        lo, hi = edges_c[k], edges_c[k + 1]
        zlo = 0 if k == 0 else lo                       # the frame rows belong to the end bands
        zhi = Hc if k == nbands - 1 else hi
        bc = b_c[c]
        bc[zlo:zhi] = 0.0
        trow = np.zeros(b_c.shape[2])
        for i in range(max(2 * lo - 1, 1), min(2 * hi, Hp - 1)):
            _restrict_row(r[c, i], ri, rw, ch, i, trow, bc, spans[i, 0], spans[i, 1], lo, hi)
        for i in range(zlo, zhi):
            bv, mv = bc[i], mc[i]
            for j in range(bv.shape[0]):
                bv[j] *= mv[j]


@_pjit
def prolong_add(e_c, m, ri, rw, ci, cw, fix, spans, edges, x):
    """``x += P e_c`` on the fine unknowns (``e_c`` is 0 off the coarse unknowns); ``fix`` the
    columns of :func:`prolongation_fixups`, ``spans`` the fine rows' spans of unknowns,
    ``edges`` the fine level's row bands (:func:`~.grid.smoother_bands`)."""
    C, Hp, Wp = x.shape
    nbands = edges.shape[0] - 1
    for unit in nb.prange(C * nbands):
        c, k = unit // nbands, unit % nbands
        erow = np.zeros(e_c.shape[2])
        fbuf = np.zeros(Wp)
        for i in range(edges[k], edges[k + 1]):
            _prolong_row(e_c[c], m, ri, rw, ci, cw, fix, i, erow, fbuf, x[c], spans[i, 0],
                         spans[i, 1])


# --------------------------------------------------------------------------- Galerkin coarse operators


@_jit
def _weight(i, lo, hi, I):
    """``P``'s 1-D weight between fine index ``i`` and coarse index ``I``."""
    a0, u0, a1, u1 = _parents(i, lo, hi)
    if a0 == I:
        return u0
    if a1 == I:
        return u1
    return 0.0


@_jit
def _fine_coef(kind, diag, st, five, i, j, k):
    """Entry ``k`` (``3 * (di + 1) + dj + 1``) of the fine operator's row at ``(i, j)``."""
    if not five:
        return st[k, i, j]
    if k == 4:
        return diag[i, j]
    if k == 1 or k == 3 or k == 5 or k == 7:
        if kind[i + k // 3 - 1, j + k % 3 - 1] == UNKNOWN:
            return -1.0
    return 0.0


@_pjit
def galerkin(kind_f, diag_f, st_f, five, reg_f, kind_c, rlo, rhi, clo, chi, const_c, st_c, reg_c):
    """Coarse stencils ``P^T A P`` row by row, and which of them are regular.

    ``A`` is the fine 5-point operator (``five``; ``diag_f``) or the fine
    9-point stencils ``st_f``. A coarse row whose fine 5x5 neighbourhood is
    all unknown with regular (interior-constant) rows, and whose coarse 3x3
    neighbourhood is all unknown, equals the interior constant ``const_c``;
    the others (near the mask's boundary) are computed from the definition.
    Coarse rows are independent (each writes only its own stencils): they run
    in parallel. The regularity test takes column flags of the row's windows
    first (fine columns all unknown over 5 rows, regular over 3; coarse
    columns unknown over 3), so each coarse cell reads 11 flags from a row
    buffer instead of 43 cells of three grids.
    """
    Hc, Wc = kind_c.shape
    Hf, Wf = kind_f.shape
    chunks = min(Hc, 64)
    for t in nb.prange(chunks):
        col_u = np.zeros(Wf, dtype=np.uint8)
        col_r = np.zeros(Wf, dtype=np.uint8)
        col_c = np.zeros(Wc, dtype=np.uint8)
        for I in range(t * Hc // chunks, (t + 1) * Hc // chunks):
            _galerkin_row(kind_f, diag_f, st_f, five, reg_f, kind_c, rlo, rhi, clo, chi,
                          const_c, st_c, reg_c, I, col_u, col_r, col_c)


@_jit
def _galerkin_row(kind_f, diag_f, st_f, five, reg_f, kind_c, rlo, rhi, clo, chi, const_c, st_c,
                  reg_c, I, col_u, col_r, col_c):
    """Coarse row ``I`` of :func:`galerkin` (``col_*``: row buffers of column flags)."""
    Hc, Wc = kind_c.shape
    Hf, Wf = kind_f.shape
    fi = 2 * I
    inner_row = 2 <= fi <= Hf - 3 and 1 <= I <= Hc - 2
    if inner_row:
        for j in range(Wf):
            u = 1
            for a in range(-2, 3):
                u &= kind_f[fi + a, j] == UNKNOWN
            col_u[j] = u
            rg = 1
            for a in range(-1, 2):
                rg &= reg_f[fi + a, j]
            col_r[j] = rg
        for J in range(Wc):
            u = 1
            for a in range(-1, 2):
                u &= kind_c[I + a, J] == UNKNOWN
            col_c[J] = u
    for J in range(Wc):
        for k in range(9):
            st_c[k, I, J] = 0.0
        reg_c[I, J] = False
        if kind_c[I, J] != UNKNOWN:
            continue
        fj = 2 * J
        regular = inner_row and 2 <= fj <= Wf - 3 and 1 <= J <= Wc - 2
        if regular:
            regular = (col_u[fj - 2] & col_u[fj - 1] & col_u[fj] & col_u[fj + 1]
                       & col_u[fj + 2] & col_r[fj - 1] & col_r[fj] & col_r[fj + 1]
                       & col_c[J - 1] & col_c[J] & col_c[J + 1]) != 0
        if regular:
            for k in range(9):
                st_c[k, I, J] = const_c[k]
            reg_c[I, J] = True
            continue
        for a in range(-1, 2):
            i = fi + a
            if i < 1 or i > Hf - 2:
                continue
            wi = _weight(i, rlo, rhi, I)
            if wi == 0.0:
                continue
            for b in range(-1, 2):
                j = fj + b
                if j < 1 or j > Wf - 2 or kind_f[i, j] != UNKNOWN:
                    continue
                w = wi * _weight(j, clo, chi, J)
                if w == 0.0:
                    continue
                for k in range(9):
                    coef = _fine_coef(kind_f, diag_f, st_f, five, i, j, k)
                    if coef == 0.0:
                        continue
                    b0, s0, b1, s1 = _parents(i + k // 3 - 1, rlo, rhi)
                    d0, t0, d1, t1 = _parents(j + k % 3 - 1, clo, chi)
                    for kb in range(2):
                        I2 = b0 if kb == 0 else b1
                        wI2 = s0 if kb == 0 else s1
                        if I2 < 0:
                            continue
                        for kd in range(2):
                            J2 = d0 if kd == 0 else d1
                            wJ2 = t0 if kd == 0 else t1
                            if J2 < 0 or kind_c[I2, J2] != UNKNOWN:
                                continue
                            st_c[(I2 - I + 1) * 3 + (J2 - J + 1), I, J] += w * coef * wI2 * wJ2


# --------------------------------------------------------------------------- coarse levels (9-point)


@_fjit
def _offdiag9(st, xm, x0, xp, i, j):
    """``sum_{k != centre} st[k, i, j] x[neighbour k]`` (the 9-point stencil without its centre)
    at column ``j`` of row ``i``; ``xm, x0, xp`` are the rows ``i - 1, i, i + 1``."""
    return (st[0, i, j] * xm[j - 1] + st[1, i, j] * xm[j] + st[2, i, j] * xm[j + 1]
            + st[3, i, j] * x0[j - 1] + st[5, i, j] * x0[j + 1]
            + st[6, i, j] * xp[j - 1] + st[7, i, j] * xp[j] + st[8, i, j] * xp[j + 1])


@_fjit
def _offdiag9_const(k, x, i, j):
    """The same for the interior constant stencil ``k`` (symmetric: corners, edges)."""
    return (k[0] * (x[i - 1, j - 1] + x[i - 1, j + 1] + x[i + 1, j - 1] + x[i + 1, j + 1])
            + k[1] * (x[i - 1, j] + x[i + 1, j]) + k[3] * (x[i, j - 1] + x[i, j + 1]))


def irregular_cells(mask, reg):
    """Row-wise lists ``(ptr, col)`` of the unknowns of a 9-point level whose stencil is not the
    interior constant (``mask != 0`` and not ``reg``): row ``i`` has the columns
    ``col[ptr[i]:ptr[i + 1]]``. Few per row (next to the region's boundary)."""
    rows, cols = np.nonzero((np.asarray(mask) != 0) & ~np.asarray(reg, dtype=bool))
    ptr = np.zeros(mask.shape[0] + 1, dtype=np.int64)
    ptr[1:] = np.cumsum(np.bincount(rows, minlength=mask.shape[0]))
    return ptr, cols.astype(np.int64)


@_fpjit
def residual9(m, st, const, irr_ptr, irr_col, spans, edges, x, b, r):
    """``r = b - A x`` for the 9-point operator ``st`` on the rows' spans of unknowns
    (:func:`~.grid.row_spans`; ``r`` must be 0, and stays 0, elsewhere); the unknowns listed by
    :func:`irregular_cells` use their stencils, the others the interior constant ``const``.
    (Channel, row band) units of ``edges`` (:func:`~.grid.smoother_bands`) in parallel.

    Each row is first computed with the constant stencil (a vectorised loop;
    the mask zeroes the cells that are not unknowns), then its irregular
    unknowns are recomputed from their stored stencils (a list: a test of
    every cell in the loop made LLVM compute the stencil everywhere).
    """
    C, Hp, Wp = x.shape
    k0, k1, k3, k4 = const[0], const[1], const[3], const[4]
    nbands = edges.shape[0] - 1
    for unit in nb.prange(C * nbands):
        c, q = unit // nbands, unit % nbands
        xc, bc, rc = x[c], b[c], r[c]
        for i in range(edges[q], edges[q + 1]):
            o = spans[i, 0] - 1                 # loops over views from the span (see _restrict_row)
            xm, x0, xp, bv, mv, rv = xc[i - 1, o:], xc[i, o:], xc[i + 1, o:], bc[i, o:], m[i, o:], rc[i, o:]
            for k in range(1, spans[i, 1] - o):
                rv[k] = mv[k] * (bv[k] - k4 * x0[k]
                                 - (k0 * (xm[k - 1] + xm[k + 1] + xp[k - 1] + xp[k + 1])
                                    + k1 * (xm[k] + xp[k]) + k3 * (x0[k - 1] + x0[k + 1])))
            for n in range(irr_ptr[i], irr_ptr[i + 1]):
                j = irr_col[n]
                rc[i, j] = bc[i, j] - st[4, i, j] * xc[i, j] - _offdiag9(st, xc[i - 1], xc[i],
                                                                        xc[i + 1], i, j)


@_fjit
def _gs9_row(inv_d, st, const, irr_ptr, irr_col, xrm, xr, xrp, b, i, reverse, cbuf, ebuf, jlo,
             jhi):
    """Lexicographic Gauss-Seidel on row ``i`` of one channel (right to left if ``reverse``),
    on its span of unknowns ``[jlo, jhi)``; ``xr`` is the row (updated in place), ``xrm``
    and ``xrp`` the values the sweep reads for rows ``i - 1`` and ``i + 1``.

    The update ``x_j = w_j (b_j - sum_{k != centre} S_k x_k)`` depends on the
    row's previous cell only through ``S_side x_{j -+ 1}``, so it is split as
    ``x_j = c_j - e_j x_{j -+ 1}``: ``c`` and ``e`` for the whole span first (the
    constant stencil in a vectorised loop over row views, then the irregular
    unknowns of :func:`irregular_cells` from their stencils), then the
    recurrence, one fused multiply-add per cell. The cells that are not
    unknowns get ``c = e = 0`` (``w = 0``), so stay 0.
    """
    k0, k1, k3 = const[0], const[1], const[3]
    o = jlo - 1
    n = jhi - o
    xm, x0, xp, bv, wv = xrm[o:], xr[o:], xrp[o:], b[i, o:], inv_d[i, o:]
    cb, eb = cbuf[o:], ebuf[o:]
    if reverse:
        for k in range(1, n):
            s = (k0 * (xm[k - 1] + xm[k + 1] + xp[k - 1] + xp[k + 1])
                 + k1 * (xm[k] + xp[k]) + k3 * x0[k - 1])
            cb[k] = (bv[k] - s) * wv[k]
            eb[k] = k3 * wv[k]
    else:
        for k in range(1, n):
            s = (k0 * (xm[k - 1] + xm[k + 1] + xp[k - 1] + xp[k + 1])
                 + k1 * (xm[k] + xp[k]) + k3 * x0[k + 1])
            cb[k] = (bv[k] - s) * wv[k]
            eb[k] = k3 * wv[k]
    for m in range(irr_ptr[i], irr_ptr[i + 1]):
        j = irr_col[m]
        w = inv_d[i, j]
        if reverse:
            side = st[5, i, j]
            s = _offdiag9(st, xrm, xr, xrp, i, j) - side * xr[j + 1]
        else:
            side = st[3, i, j]
            s = _offdiag9(st, xrm, xr, xrp, i, j) - side * xr[j - 1]
        cbuf[j] = (b[i, j] - s) * w
        ebuf[j] = side * w
    if reverse:
        prev = x0[n]
        for k in range(n - 1, 0, -1):
            prev = cb[k] - eb[k] * prev
            x0[k] = prev
    else:
        prev = x0[0]
        for k in range(1, n):
            prev = cb[k] - eb[k] * prev
            x0[k] = prev


@_fpjit
def gauss_seidel9(inv_d, st, const, irr_ptr, irr_col, spans, edges, x, b, reverse, zero):
    """One Gauss-Seidel sweep on a 9-point level, lexicographic within each row band of
    ``edges`` (:func:`~.grid.smoother_bands`): forward, or backward if ``reverse`` (the adjoint
    sweep, so that the V-cycle stays symmetric); see :func:`_gs9_row`.

    The (channel, band) units run in parallel. A band reads its neighbours' rows
    across a seam as they were before the sweep (a snapshot of the two rows):
    hybrid Gauss-Seidel, lexicographic inside the bands and Jacobi between them,
    whose backward sweep is still the adjoint of the forward one, and whose result
    does not depend on the order the units run in. With ``zero`` the sweep starts
    from ``x = 0`` (forward sweeps only: each row's span is cleared as it is
    reached and the rows not yet reached read as 0), so ``x`` needs no clearing
    beforehand; its cells outside the rows' spans must be 0.
    """
    if zero and reverse:
        raise ValueError("gauss_seidel9: a sweep from zero must be a forward sweep")
    C, Hp, Wp = x.shape
    nbands = edges.shape[0] - 1
    seams = np.zeros((C, nbands, 2, Wp))            # rows lo - 1 and hi before the sweep
    if not zero:
        for unit in nb.prange(C * nbands):
            c, k = unit // nbands, unit % nbands
            seams[c, k, 0] = x[c, edges[k] - 1]
            seams[c, k, 1] = x[c, edges[k + 1]]
    for unit in nb.prange(C * nbands):
        c, k = unit // nbands, unit % nbands
        lo, hi = edges[k], edges[k + 1]
        cbuf = np.zeros(Wp)
        ebuf = np.zeros(Wp)
        xc = x[c]
        for ii in range(hi - lo):
            i = hi - 1 - ii if reverse else lo + ii
            xm = seams[c, k, 0] if i == lo else xc[i - 1]
            xp = seams[c, k, 1] if (zero or i == hi - 1) else xc[i + 1]
            if zero:
                xr = xc[i]
                for j in range(spans[i, 0], spans[i, 1]):
                    xr[j] = 0.0
            _gs9_row(inv_d, st, const, irr_ptr, irr_col, xm, xc[i], xp, b[c], i, reverse, cbuf,
                     ebuf, spans[i, 0], spans[i, 1])
