"""Numba kernels of :mod:`gradfusion.poisson`: a masked 5-point Laplacian and its multigrid.

Every level of the hierarchy is a padded grid of ``(Hp, Wp)`` cells (the
region plus a one-cell frame) with a cell ``kind``:

``OUTSIDE`` (0)
    outside the target image: not a neighbour at all (Neumann end);
``FIXED`` (1)
    inside the image but not an unknown: a Dirichlet value (moved to the
    right-hand side, so the kernels see it as 0);
``UNKNOWN`` (2)
    a cell of the masked region.

Field arrays are channels first, ``(C, Hp, Wp)``, and hold 0 on every cell
that is not ``UNKNOWN``. With ``m`` the 0/1 mask of the unknowns, ``d`` the
number of in-image neighbours (Perez et al.'s ``|N_p|``; 0 off the unknowns)
and ``inv_d = m / d``, the fine operator and a Gauss-Seidel update are
branch-free:

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
without reading their stored stencil.

The fine-level work of one conjugate-gradient iteration is two fused passes
(:func:`fused_step_presmooth`, :func:`fused_prolong_postsmooth`); each walks
the rows once as a wavefront (stage one on row ``t``, stage two on ``t - 1``,
...), which performs the same arithmetic as separate whole-grid sweeps. They
read the fine operator as int8 neighbour counts (one byte per cell instead of
the mask, diagonal and inverse diagonal as doubles), and the second pass
returns ``<z, A z>`` and ``<z, A p>``, from which the next direction's
curvature follows without a pass of its own (no ``q = A p`` is stored).
Coarse levels read their stored 9-point stencils only where they differ from
the interior constant (:func:`irregular_cells`); their Gauss-Seidel sweeps
split each row into a vectorised part and a one-multiply-add recurrence.

Every kernel works on each row's span of unknowns only (:func:`row_spans`),
with its loops over row views that start at the span: a loop from a runtime
column keeps Numba's negative-index test on every access (2-3x slower).

Parallel work: the fused passes and :func:`count_residual` run (channel, row
band) units (:func:`band_edges`: three channels on two threads are six equal
units, where three channel units took two rounds); the set-up kernels run
(channel, row) pairs and :func:`galerkin` its coarse rows; the coarse-level
kernels run (channel, row band) units of :func:`smoother_bands`, their
Gauss-Seidel sweeps hybrid (lexicographic inside a band, Jacobi across its
seams: see :func:`gauss_seidel9`). :func:`parent_table`
and :func:`child_table` are serial. Restriction gathers each coarse entry from
its three fine children (:func:`child_table`) rather than scattering through
the parent table: the gather vectorises.
"""

import math

import numba as nb
import numpy as np

from ._jit import jit
from ._stencils import row_sum

OUTSIDE = 0
FIXED = 1
UNKNOWN = 2

# the flags are gradfusion._jit's; these kernels take NumPy's error model (no exceptions)
_jit = jit(numpy_errors=True)
# the per-channel kernels: channels are independent, so they run in parallel (same results)
_pjit = jit(parallel=True, numpy_errors=True)
# the fine-level passes: reductions and stencil sums may be reassociated, so that LLVM vectorises
# the row loops (a dot product accumulated in order keeps a whole loop scalar)
_fjit = jit(fast=True, numpy_errors=True)
_fpjit = jit(parallel=True, fast=True, numpy_errors=True)


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
    ``spans`` the fine rows' spans of unknowns (:func:`row_spans`), ``edges_c`` the coarse
    level's row bands (:func:`smoother_bands`; they must run from row 1 to row ``Hc - 1``,
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
    ``edges`` the fine level's row bands (:func:`smoother_bands`)."""
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
    (:func:`row_spans`; ``r`` must be 0, and stays 0, elsewhere); the unknowns listed by
    :func:`irregular_cells` use their stencils, the others the interior constant ``const``.
    (Channel, row band) units of ``edges`` (:func:`smoother_bands`) in parallel.

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
    ``edges`` (:func:`smoother_bands`): forward, or backward if ``reverse`` (the adjoint
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


def smoother_bands(rows, channels):
    """Row bands of the coarse levels' kernels: :func:`band_edges` for two threads (three
    channels: two bands each, six units). Fixed rather than taken from the thread count,
    so that the hybrid Gauss-Seidel smoother of :func:`gauss_seidel9`, and with it the
    solver's iterates, are the same on every machine (they depend on the number of
    channels: one or three channels get two bands, two or four one)."""
    return band_edges(rows, channels, 2)


# --------------------------------------------------------------------------- fused fine-level passes


#: ``1 / d`` by neighbour count ``d`` (0 for cells that are not unknowns)
_INV_COUNT = np.array([0.0, 1.0, 1.0 / 2.0, 1.0 / 3.0, 1.0 / 4.0])


@_fjit
def _apply_row(count, v, i, out, jlo, jhi):
    """``out[jlo:jhi] = (A v)[i, jlo:jhi]`` for the fine operator given by the neighbour
    counts ``count`` (int8, 0 off the unknowns), 0 off the unknowns; ``v`` is 0 off the
    unknowns. Like every span loop here, over views from ``jlo - 1`` (see
    :func:`_restrict_row`)."""
    o = jlo - 1
    cv, vm, v0, vp, ov = count[i, o:], v[i - 1, o:], v[i, o:], v[i + 1, o:], out[o:]
    for k in range(1, jhi - o):
        d = cv[k]
        on = 1.0 if d > 0 else 0.0
        ov[k] = on * (d * v0[k] - vm[k] - vp[k] - v0[k - 1] - v0[k + 1])


@_fjit
def _gs_count_row(count, b, x, i, color, buf, jlo, jhi):
    """:func:`_gs_row` with ``inv_d`` looked up from the neighbour counts, on the columns
    ``[jlo, jhi)`` (the row's unknowns lie there)."""
    o = jlo - 1
    cv, bv, xm, x0, xp, uv = count[i, o:], b[i, o:], x[i - 1, o:], x[i, o:], x[i + 1, o:], buf[o:]
    n = jhi - o
    for k in range(1, n):
        uv[k] = (bv[k] + xm[k] + xp[k] + x0[k - 1] + x0[k + 1]) * _INV_COUNT[cv[k]]
    for k in range(1 + (i + o + 1 + color) % 2, n, 2):     # cells with (i + j) % 2 == color
        x0[k] = uv[k]


@_fjit
def _residual_count_row(count, b, x, i, out, jlo, jhi):
    """``out[jlo:jhi] = (b - A x)[i, jlo:jhi]`` (0 off the unknowns) from the neighbour
    counts."""
    o = jlo - 1
    cv, bv, xm, x0, xp, ov = count[i, o:], b[i, o:], x[i - 1, o:], x[i, o:], x[i + 1, o:], out[o:]
    for k in range(1, jhi - o):
        d = cv[k]
        on = 1.0 if d > 0 else 0.0
        ov[k] = on * (bv[k] - (d * x0[k] - xm[k] - xp[k] - x0[k - 1] - x0[k + 1]))


def band_edges(rows, channels, threads, min_rows=16):
    """Row bands of the fused passes: ``edges`` (int64) splitting the interior rows
    ``1 .. rows - 2`` of a padded grid into ``n`` bands, ``n = threads / gcd(channels,
    threads)`` so that the ``channels * n`` (channel, band) units share the threads
    evenly (3 channels on 2 threads: 2 bands, 6 units, where 3 channel units took
    two rounds), fewer if a band would have under ``min_rows`` rows."""
    n = max(1, threads // math.gcd(max(channels, 1), max(threads, 1)))
    n = max(1, min(n, (rows - 2) // min_rows))
    return np.linspace(1, rows - 1, n + 1).round().astype(np.int64)


def row_spans(count):
    """``spans[i] = (first, last + 1)`` of the unknown columns of fine row ``i`` (``count >
    0``), ``(1, 1)`` for a row without unknowns: the fused passes and residuals work on
    these spans only (a disk leaves about a fifth of its bounding box outside). int64."""
    on = np.asarray(count) > 0
    spans = np.ones((on.shape[0], 2), dtype=np.int64)
    rows = np.flatnonzero(on.any(axis=1))
    spans[rows, 0] = on[rows].argmax(axis=1)
    spans[rows, 1] = on.shape[1] - on[rows, ::-1].argmax(axis=1)
    return spans


@_fjit
def _in_band(i, stage, lo, hi, seam_above, seam_below):
    """Whether stage ``stage`` of row ``i`` runs in a band's own pass: at least ``stage`` rows
    away from a seam (the rest wait for both bands, in the seam pass)."""
    return lo + (stage if seam_above else 0) <= i < hi - (stage if seam_below else 0)


@_fjit
def _step_stage(stage, i, count, spans, xc, rc, pc, zc, a, bt, ri, rw, ch, bcc, res, buf, trow,
                bb, first):
    """Stage ``stage`` of :func:`fused_step_presmooth` on row ``i`` of one channel; returns
    its contribution to ``||r||^2``. Stage ``k`` of row ``i`` needs stage ``k - 1`` of rows
    ``i - 1 .. i + 1``. Only the row's span of unknowns is touched (the fields are 0, and
    stay 0, elsewhere). ``first``: no step; the residual ``r = bb - A x`` instead."""
    Wp = xc.shape[1]
    jlo, jhi = spans[i, 0], spans[i, 1]
    o = jlo - 1
    n = jhi - o
    if stage == 1 and first:               # the initial residual, then the red cells
        _residual_count_row(count, bb, xc, i, rc[i], jlo, jhi)
        cv, r0, z0 = count[i, o:], rc[i, o:], zc[i, o:]
        acc = 0.0
        for k in range(1, n):
            rv = r0[k]
            acc += rv * rv
            z0[k] = rv * _INV_COUNT[cv[k]] * ((i + o + k + 1) & 1)
        return acc
    if stage == 0:                         # the new direction
        if first:
            return 0.0
        p0, z0 = pc[i, o:], zc[i, o:]
        for k in range(1, n):
            p0[k] = z0[k] + bt * p0[k]
        return 0.0
    if stage == 1:      # the step (A p of the new p), then the red cells from z = 0 (black: 0)
        cv, pm, p0, pp = count[i, o:], pc[i - 1, o:], pc[i, o:], pc[i + 1, o:]
        x0, r0, z0 = xc[i, o:], rc[i, o:], zc[i, o:]
        acc = 0.0
        for k in range(1, n):
            d = cv[k]
            on = 1.0 if d > 0 else 0.0
            apk = on * (d * p0[k] - pm[k] - pp[k] - p0[k - 1] - p0[k + 1])
            x0[k] += a * p0[k]
            rv = r0[k] - a * apk
            r0[k] = rv
            acc += rv * rv
            z0[k] = rv * _INV_COUNT[d] * ((i + o + k + 1) & 1)
        return acc
    if stage == 2:                         # the black cells
        _gs_count_row(count, rc, zc, i, 1, buf, jlo, jhi)
        return 0.0
    for j in (jlo - 2, jlo - 1, jhi, jhi + 1):     # the restriction reads 2 columns beyond
        if 0 <= j < Wp:
            res[j] = 0.0
    _residual_count_row(count, rc, zc, i, res, jlo, jhi)    # the smoother's residual, restricted
    _restrict_row(res, ri, rw, ch, i, trow, bcc, jlo, jhi, 0, bcc.shape[0])
    return 0.0


@_fpjit
def count_residual(count, spans, x, b, r, edges, norms):
    """``r = b - A x`` on the row spans of unknowns (:func:`row_spans`; ``r`` must be 0
    elsewhere) and ``norms[c] = ||r[c]||^2``, with the fine operator of the neighbour
    counts; (channel, row band) units of ``edges`` in parallel. ``r`` may be a
    ``(C, 1, Wp)`` scratch row buffer per channel: then only the norms are formed (the
    solver's final, recomputed residual)."""
    C, Hp, Wp = x.shape
    nbands = edges.shape[0] - 1
    stored = r.shape[1] == Hp
    partial = np.zeros((C, nbands))
    for unit in nb.prange(C * nbands):
        c, k = unit // nbands, unit % nbands
        row = np.empty(Wp)
        acc = 0.0
        for i in range(edges[k], edges[k + 1]):
            jlo, jhi = spans[i, 0], spans[i, 1]
            _residual_count_row(count, b[c], x[c], i, row, jlo, jhi)
            o = jlo - 1
            rv = row[o:]
            for q in range(1, jhi - o):
                acc += rv[q] * rv[q]
            if stored:
                ro = r[c, i, o:]
                for q in range(1, jhi - o):
                    ro[q] = rv[q]
        partial[c, k] = acc
    for c in nb.prange(C):
        norms[c] = row_sum(partial[c])


@_fpjit
def fused_step_presmooth(count, spans, x, r, p, z, alpha, beta, ri, rw, ch, mc, b_c, rr, edges, b,
                         first):
    """One conjugate-gradient step and the first half of the next V-cycle, in one pass.

    Per channel ``c``, with ``a = alpha[c]``, ``t = beta[c]``: ``p = z + t p``,
    ``x += a p``, ``r -= a A p``, ``rr = ||r||^2``; then ``z`` = one red-black
    sweep on ``A z = r`` from ``z = 0`` and ``b_c = P^T (r - A z)`` times the
    coarse mask ``mc``. ``count`` is the int8 neighbour count of the fine
    cells (0 off the unknowns), which stands for the mask, the diagonal and
    its inverse (one byte read per cell instead of three doubles); each row
    is processed on its span of unknowns (:func:`row_spans`), where the
    fields can be nonzero.

    A wavefront over the rows (:func:`_step_stage`): on row ``t`` the new
    direction, on ``t - 1`` the step (``A p`` needs the new ``p`` of rows
    ``t - 2 .. t``) and the red cells, on ``t - 2`` the black cells, on
    ``t - 3`` the smoother's residual and its restriction. ``z`` is read (the
    old preconditioned residual) on row ``t`` before it is overwritten on row
    ``t - 1``, so one array serves. With ``first`` (the solver's first pass)
    there is no step: ``r = b - A x`` is formed instead (``x`` and ``p`` are
    not touched) and the V-cycle started.

    The (channel, row band) units of ``edges`` (:func:`band_edges`) run in
    parallel, each as a wavefront that stops short of its seams (a stage
    ``k`` row at least ``k`` rows from a seam reads only its band's rows);
    then the seam rows run stage by stage. The arithmetic of every row is the
    same as in one wavefront over the whole grid; only the order of the
    ``||r||^2`` partial sums and of the restriction's additions differs.
    """
    C, Hp, Wp = x.shape
    nbands = edges.shape[0] - 1
    partial = np.zeros((C, 2 * nbands))
    for c in nb.prange(C):
        b_c[c] = 0.0
    for unit in nb.prange(C * nbands):
        c, k = unit // nbands, unit % nbands
        lo, hi = edges[k], edges[k + 1]
        above, below = k > 0, k < nbands - 1
        res, buf = np.zeros(Wp), np.empty(Wp)
        trow = np.zeros(b_c.shape[2])
        acc = 0.0
        for t in range(lo, hi + 3):
            for stage in range(4):
                i = t - stage
                if _in_band(i, stage, lo, hi, above, below):
                    acc += _step_stage(stage, i, count, spans, x[c], r[c], p[c], z[c], alpha[c],
                                       beta[c], ri, rw, ch, b_c[c], res, buf, trow, b[c], first)
        partial[c, k] = acc
    for unit in nb.prange(C * (nbands - 1)):
        c, k = unit // (nbands - 1), unit % (nbands - 1)
        seam = edges[k + 1]
        res, buf = np.zeros(Wp), np.empty(Wp)
        trow = np.zeros(b_c.shape[2])
        acc = 0.0
        for stage in range(1, 4):
            for i in range(seam - stage, seam + stage):
                acc += _step_stage(stage, i, count, spans, x[c], r[c], p[c], z[c], alpha[c],
                                   beta[c], ri, rw, ch, b_c[c], res, buf, trow, b[c], first)
        partial[c, nbands + k] = acc
    for c in nb.prange(C):
        rr[c] = row_sum(partial[c])
        b_c[c] *= mc


@_fjit
def _postsmooth_stage(stage, i, count, spans, rc, zc, pc, ec, ri, rw, ci, cw, fix, erow, buf, az,
                      acc):
    """Stage ``stage`` of :func:`fused_prolong_postsmooth` on row ``i`` of one channel (its
    span of unknowns); adds its contributions to the three sums ``acc``."""
    jlo, jhi = spans[i, 0], spans[i, 1]
    if stage == 0:
        _prolong_row(ec, count, ri, rw, ci, cw, fix, i, erow, buf, zc, jlo, jhi)
    elif stage == 1:
        _gs_count_row(count, rc, zc, i, 1, buf, jlo, jhi)
    elif stage == 2:
        _gs_count_row(count, rc, zc, i, 0, buf, jlo, jhi)
    else:                                  # <z, A p> = <p, A z>: one product per row
        _apply_row(count, zc, i, az, jlo, jhi)
        rz, zaz, zap = 0.0, 0.0, 0.0
        o = jlo - 1
        r0, z0, p0, av = rc[i, o:], zc[i, o:], pc[i, o:], az[o:]
        for k in range(1, jhi - o):
            zv = z0[k]
            rz += r0[k] * zv
            zaz += zv * av[k]
            zap += p0[k] * av[k]
        acc[0] += rz
        acc[1] += zaz
        acc[2] += zap


@_fpjit
def fused_prolong_postsmooth(count, spans, r, z, p, e_c, ri, rw, ci, cw, fix, sums, edges):
    """The second half of the V-cycle and the scalars of the next step, in one pass.

    ``z += P e_c``, then a black-red sweep on ``A z = r``; per channel
    ``sums[c] = (<r, z>, <z, A z>, <z, A p>)`` of the final ``z`` and the
    current direction ``p``. With them the next direction's curvature is
    ``<p', A p'> = <z, A z> + 2 beta <z, A p> + beta^2 <p, A p>`` for
    ``p' = z + beta p``, so the step length is known before the pass that
    forms ``p'`` (:func:`fused_step_presmooth`). Row bands, seams and spans as there.
    """
    C, Hp, Wp = z.shape
    nbands = edges.shape[0] - 1
    partial = np.zeros((C, 2 * nbands, 3))
    for unit in nb.prange(C * nbands):
        c, k = unit // nbands, unit % nbands
        lo, hi = edges[k], edges[k + 1]
        above, below = k > 0, k < nbands - 1
        erow, buf, az = np.zeros(e_c.shape[2]), np.empty(Wp), np.zeros(Wp)
        for t in range(lo, hi + 3):
            for stage in range(4):
                i = t - stage
                if _in_band(i, stage, lo, hi, above, below):
                    _postsmooth_stage(stage, i, count, spans, r[c], z[c], p[c], e_c[c], ri, rw,
                                      ci, cw, fix, erow, buf, az, partial[c, k])
    for unit in nb.prange(C * (nbands - 1)):
        c, k = unit // (nbands - 1), unit % (nbands - 1)
        seam = edges[k + 1]
        erow, buf, az = np.zeros(e_c.shape[2]), np.empty(Wp), np.zeros(Wp)
        for stage in range(1, 4):
            for i in range(seam - stage, seam + stage):
                _postsmooth_stage(stage, i, count, spans, r[c], z[c], p[c], e_c[c], ri, rw, ci,
                                  cw, fix, erow, buf, az, partial[c, nbands + k])
    for c in nb.prange(C):
        for n in range(3):
            sums[c, n] = row_sum(partial[c, :, n])


@_fpjit
def fused_direction_apply(m, d, z, p, beta, q, pq):
    """``p = z + beta p``, ``q = A p``, ``pq = <p, q>`` per channel (the single-level solver)."""
    C, Hp, Wp = z.shape
    for c in nb.prange(C):
        bt = beta[c]
        zc, pc, qc = z[c], p[c], q[c]
        acc = 0.0
        for t in range(1, Hp):
            i = t
            if i <= Hp - 2:
                for j in range(Wp):
                    pc[i, j] = zc[i, j] + bt * pc[i, j]
            i = t - 1
            if 1 <= i <= Hp - 2:
                for j in range(1, Wp - 1):
                    qv = m[i, j] * (d[i, j] * pc[i, j] - pc[i - 1, j] - pc[i + 1, j]
                                    - pc[i, j - 1] - pc[i, j + 1])
                    qc[i, j] = qv
                    acc += pc[i, j] * qv
        pq[c] = acc


# --------------------------------------------------------------------------- set-up and output


@_pjit
def padded_window(image, i0, j0, out):
    """``out[c, i, j] = image[c, i0 + i, j0 + j]`` where that pixel exists, else 0.

    ``image`` is a channels-first *view* of any strides (an ``(H, W, C)``
    image's is the usual case): rows run in parallel and each row is read in
    pixel order, all channels at once (the slice copy NumPy makes reads one
    channel at a time).
    """
    C, H, W = image.shape
    Hp, Wp = out.shape[1], out.shape[2]
    for i in nb.prange(Hp):
        si = i0 + i
        for j in range(Wp):
            sj = j0 + j
            if 0 <= si < H and 0 <= sj < W:
                for c in range(C):
                    out[c, i, j] = image[c, si, sj]
            else:
                for c in range(C):
                    out[c, i, j] = 0.0


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


@_fjit
def _edge_term(kq, vq, fp, fq, gp, gq, mixed):
    """The term of a 4-neighbour ``q`` in row ``p`` of the right-hand side, branch-free (0/1
    factors and selects, so that the row loop vectorises): the guidance ``v_pq`` plus
    ``f*_q`` if ``q`` is fixed, 0 if ``q`` is outside the image. ``kq``, ``vq``: the kind
    of ``q`` and whether it has a source pixel; ``f``: target, ``g``: source values."""
    gs = (gp - gq) * (1.0 if vq else 0.0)
    v = gs
    if mixed:
        ft = fp - fq
        v = ft if abs(ft) > abs(gs) else gs
    v += fq * (1.0 if kq == FIXED else 0.0)
    return v * (1.0 if kq != OUTSIDE else 0.0)


@_fpjit
def guided_rhs(kind, target, source, valid, mixed, b):
    """Right-hand side of Perez et al.'s discrete equation on the unknown cells.

    ``b_p = sum_{q in N_p, q fixed} f*_q + sum_{q in N_p} v_pq`` with
    ``v_pq = g_p - g_q`` (``g`` the source; 0 when ``q`` has no source pixel) or,
    with ``mixed``, ``f*_p - f*_q`` when that is larger in magnitude. The
    ``(channel, row)`` pairs run in parallel (channels alone: three on two
    threads took two rounds); each row reads its three rows of every input as
    1-D views (the 2-D neighbour indexing ran 1.6-2x slower).
    """
    C, Hp, Wp = target.shape
    for r in nb.prange(C * Hp):
        c, i = r // Hp, r % Hp
        brow = b[c, i]
        if i == 0 or i == Hp - 1:
            for j in range(Wp):
                brow[j] = 0.0
            continue
        brow[0] = 0.0
        brow[Wp - 1] = 0.0
        km, k0, kp = kind[i - 1], kind[i], kind[i + 1]
        vm, v0, vp = valid[i - 1], valid[i], valid[i + 1]
        fm, f0, fp = target[c, i - 1], target[c, i], target[c, i + 1]
        gm, g0, gp = source[c, i - 1], source[c, i], source[c, i + 1]
        for j in range(1, Wp - 1):
            acc = (_edge_term(km[j], vm[j], f0[j], fm[j], g0[j], gm[j], mixed)
                   + _edge_term(kp[j], vp[j], f0[j], fp[j], g0[j], gp[j], mixed)
                   + _edge_term(k0[j - 1], v0[j - 1], f0[j], f0[j - 1], g0[j], g0[j - 1], mixed)
                   + _edge_term(k0[j + 1], v0[j + 1], f0[j], f0[j + 1], g0[j], g0[j + 1], mixed))
            brow[j] = acc * (1.0 if k0[j] == UNKNOWN else 0.0)


@_fpjit
def initial_guess(kind, target, source, x):
    """``x = source + shift`` on the unknowns (0 elsewhere), ``shift`` per channel the mean of
    ``target_q - source_p`` over the pairs (unknown p, fixed neighbour q). ``(channel, row)``
    pairs in parallel, the shift from per-row partial sums added in order (a NumPy
    ``.sum()`` here would be a parallel reduction in the parallel twin: Numba parallelises
    array expressions, and the twins' shifts differed in the last bit)."""
    C, Hp, Wp = x.shape
    sums = np.zeros((C, Hp))
    counts = np.zeros((C, Hp))
    for r in nb.prange(C * (Hp - 2)):
        c, i = r // (Hp - 2), r % (Hp - 2) + 1
        km, k0, kp = kind[i - 1], kind[i], kind[i + 1]
        fm, f0, fp, g0 = target[c, i - 1], target[c, i], target[c, i + 1], source[c, i]
        shift = 0.0
        n = 0.0
        for j in range(1, Wp - 1):            # branch-free over row views (vectorises)
            on = 1.0 if k0[j] == UNKNOWN else 0.0
            a = on if km[j] == FIXED else 0.0
            bq = on if kp[j] == FIXED else 0.0
            cq = on if k0[j - 1] == FIXED else 0.0
            d = on if k0[j + 1] == FIXED else 0.0
            shift += (a * fm[j] + bq * fp[j] + cq * f0[j - 1] + d * f0[j + 1]
                      - (a + bq + cq + d) * g0[j])
            n += a + bq + cq + d
        sums[c, i] = shift
        counts[c, i] = n
    shifts = np.zeros(C)
    for c in range(C):
        n = row_sum(counts[c])
        if n > 0:
            shifts[c] = row_sum(sums[c]) / n
    for r in nb.prange(C * Hp):
        c, i = r // Hp, r % Hp
        sh = shifts[c]
        srow, xrow = source[c, i], x[c, i]
        for j in range(Wp):
            xrow[j] = (srow[j] + sh) * (1.0 if kind[i, j] == UNKNOWN else 0.0)


@_pjit
def copy_flat(src, dst):
    """``dst[:] = src`` for 1-D arrays (cast to ``dst``'s dtype), 64 chunks in parallel."""
    n = src.shape[0]
    for k in nb.prange(64):
        for i in range(k * n // 64, (k + 1) * n // 64):
            dst[i] = src[i]


@_pjit
def write_solution(kind, x, out, i0, j0, clip):
    """``out[c, i0 + i, j0 + j] = x[c, i, j]`` on the unknowns (clipped to [0, 1] if ``clip``);
    ``(channel, row)`` pairs in parallel."""
    C, Hp, Wp = x.shape
    for r in nb.prange(C * Hp):
        c, i = r // Hp, r % Hp
        for j in range(Wp):
            if kind[i, j] != UNKNOWN:
                continue
            v = x[c, i, j]
            if clip:
                v = min(max(v, 0.0), 1.0)
            out[c, i0 + i, j0 + j] = v


@_fpjit
def dots(a, b):
    """Per-channel inner products of two ``(C, H, W)`` arrays (no BLAS threads involved)."""
    C = a.shape[0]
    out = np.zeros(C)
    for c in nb.prange(C):
        ac = a[c].ravel()
        bc = b[c].ravel()
        s = 0.0
        for k in range(ac.size):
            s += ac[k] * bc[k]
        out[c] = s
    return out
