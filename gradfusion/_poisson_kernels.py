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
the fine level (black-red after the coarse correction) and lexicographic
Gauss-Seidel on the coarse ones (backward after the correction: the adjoint
sweep), so that one V-cycle is a symmetric positive definite preconditioner
for conjugate gradients. Coarse rows in the regular interior of the mask
equal a constant stencil and are applied from it, without reading their
stored stencil.

The fine-level work of one conjugate-gradient iteration is three fused
passes (:func:`fused_update_presmooth`, :func:`fused_prolong_postsmooth`,
:func:`fused_direction_apply`); each walks the rows once as a wavefront
(stage one on row ``t``, stage two on ``t - 1``, ...), which performs the
same arithmetic in the same order as separate whole-grid sweeps.

The per-channel kernels run the channels in parallel (``prange`` over
channels: the same arithmetic per channel, at most 1.5x for three channels on
two cores); the set-up kernels (:func:`galerkin`, :func:`parent_table`,
:func:`child_table`) are serial. Restriction gathers each coarse entry from its
three fine children (:func:`child_table`) rather than scattering through the
parent table: the gather vectorises.
"""

import numba as nb
import numpy as np

OUTSIDE = 0
FIXED = 1
UNKNOWN = 2

_jit = nb.njit(cache=True, fastmath=False, nogil=True, error_model="numpy")
# the per-channel kernels: channels are independent, so they run in parallel (same results)
_pjit = nb.njit(cache=True, fastmath=False, nogil=True, error_model="numpy", parallel=True)


# --------------------------------------------------------------------------- fine level


@_jit
def _gs_row(inv_d, b, x, i, color):
    """Gauss-Seidel on the cells of row ``i`` with ``(i + j) % 2 == color`` (one channel)."""
    Wp = x.shape[1]
    for j in range(1 + (i + 1 + color) % 2, Wp - 1, 2):
        x[i, j] = (b[i, j] + x[i - 1, j] + x[i + 1, j] + x[i, j - 1] + x[i, j + 1]) * inv_d[i, j]


@_jit
def _residual_row(m, d, b, x, i, out):
    Wp = x.shape[1]
    out[0] = 0.0
    out[Wp - 1] = 0.0
    for j in range(1, Wp - 1):
        out[j] = m[i, j] * (b[i, j] - (d[i, j] * x[i, j] - x[i - 1, j] - x[i + 1, j]
                                       - x[i, j - 1] - x[i, j + 1]))


@_pjit
def residual(m, d, x, b, r):
    """``r = b - A x`` (0 off the unknowns)."""
    C, Hp, Wp = x.shape
    for c in nb.prange(C):
        r[c, 0] = 0.0
        r[c, Hp - 1] = 0.0
        for i in range(1, Hp - 1):
            _residual_row(m, d, b[c], x[c], i, r[c, i])


@_pjit
def gauss_seidel(inv_d, x, b, reverse):
    """One red-black sweep (black-red if ``reverse``) on ``A x = b``."""
    C, Hp, Wp = x.shape
    first = 1 if reverse else 0
    for c in nb.prange(C):
        for i in range(1, Hp - 1):
            _gs_row(inv_d, b[c], x[c], i, first)
        for i in range(1, Hp - 1):
            _gs_row(inv_d, b[c], x[c], i, 1 - first)


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


@_jit
def _restrict_row(res, ri, rw, ch, i, trow, b_c):
    """Add fine row ``i`` (values ``res``, 0 off the unknowns) into ``b_c`` by ``P^T``.

    Along the row a gather over the coarse columns (children ``2J-1, 2J, 2J+1``
    with the weights of ``ch``, summed in fine order as a scatter would): it
    vectorises, where the scatter through the parent table did not (2x faster).
    The first and last coarse columns are frame (never unknown) and get 0.
    """
    Wc = trow.shape[0]
    trow[0] = 0.0
    trow[Wc - 1] = 0.0
    for J in range(1, Wc - 1):
        trow[J] = ((0.0 + ch[J, 0] * res[2 * J - 1]) + ch[J, 1] * res[2 * J]) + ch[J, 2] * res[2 * J + 1]
    a0, a1 = ri[i, 0], ri[i, 1]
    u0, u1 = rw[i, 0], rw[i, 1]
    r0 = b_c[a0]
    for J in range(Wc):
        r0[J] += u0 * trow[J]
    r1 = b_c[a1]
    for J in range(Wc):
        r1[J] += u1 * trow[J]


@_jit
def _prolong_row(e_c, m, ri, rw, ci, cw, i, erow, x):
    """``x[i] += (P e_c)[i]`` on the fine unknowns of row ``i``."""
    a0, a1 = ri[i, 0], ri[i, 1]
    u0, u1 = rw[i, 0], rw[i, 1]
    for J in range(erow.shape[0]):
        erow[J] = u0 * e_c[a0, J] + u1 * e_c[a1, J]
    for j in range(1, x.shape[1] - 1):
        x[i, j] += m[i, j] * (cw[j, 0] * erow[ci[j, 0]] + cw[j, 1] * erow[ci[j, 1]])


@_pjit
def restrict(r, mc, ri, rw, ch, b_c):
    """``b_c = P^T r`` (``r`` 0 off the fine unknowns), times the coarse mask ``mc``; ``ri, rw``
    the row parents (:func:`parent_table`), ``ch`` the column children (:func:`child_table`)."""
    C, Hp, Wp = r.shape
    for c in nb.prange(C):
        trow = np.zeros(b_c.shape[2])
        b_c[c] = 0.0
        for i in range(1, Hp - 1):
            _restrict_row(r[c, i], ri, rw, ch, i, trow, b_c[c])
        b_c[c] *= mc


@_pjit
def prolong_add(e_c, m, ri, rw, ci, cw, x):
    """``x += P e_c`` on the fine unknowns (``e_c`` is 0 off the coarse unknowns)."""
    C, Hp, Wp = x.shape
    for c in nb.prange(C):
        erow = np.empty(e_c.shape[2])
        for i in range(1, Hp - 1):
            _prolong_row(e_c[c], m, ri, rw, ci, cw, i, erow, x[c])


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


@_jit
def galerkin(kind_f, diag_f, st_f, five, reg_f, kind_c, rlo, rhi, clo, chi, const_c, st_c, reg_c):
    """Coarse stencils ``P^T A P`` row by row, and which of them are regular.

    ``A`` is the fine 5-point operator (``five``; ``diag_f``) or the fine
    9-point stencils ``st_f``. A coarse row whose fine 5x5 neighbourhood is
    all unknown with regular (interior-constant) rows, and whose coarse 3x3
    neighbourhood is all unknown, equals the interior constant ``const_c``;
    the others (near the mask's boundary) are computed from the definition.
    """
    Hc, Wc = kind_c.shape
    Hf, Wf = kind_f.shape
    for I in range(Hc):
        for J in range(Wc):
            for k in range(9):
                st_c[k, I, J] = 0.0
            reg_c[I, J] = False
            if kind_c[I, J] != UNKNOWN:
                continue
            fi, fj = 2 * I, 2 * J
            regular = (2 <= fi <= Hf - 3 and 2 <= fj <= Wf - 3 and 1 <= I <= Hc - 2
                       and 1 <= J <= Wc - 2)
            if regular:
                for a in range(-2, 3):
                    for b in range(-2, 3):
                        if kind_f[fi + a, fj + b] != UNKNOWN:
                            regular = False
                        elif -1 <= a <= 1 and -1 <= b <= 1 and not reg_f[fi + a, fj + b]:
                            regular = False
                for a in range(-1, 2):
                    for b in range(-1, 2):
                        if kind_c[I + a, J + b] != UNKNOWN:
                            regular = False
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


@_jit
def _offdiag9(st, x, i, j):
    """``sum_{k != centre} st[k, i, j] x[neighbour k]`` (the 9-point stencil without its centre)."""
    return (st[0, i, j] * x[i - 1, j - 1] + st[1, i, j] * x[i - 1, j] + st[2, i, j] * x[i - 1, j + 1]
            + st[3, i, j] * x[i, j - 1] + st[5, i, j] * x[i, j + 1]
            + st[6, i, j] * x[i + 1, j - 1] + st[7, i, j] * x[i + 1, j]
            + st[8, i, j] * x[i + 1, j + 1])


@_jit
def _offdiag9_const(k, x, i, j):
    """The same for the interior constant stencil ``k`` (symmetric: corners, edges)."""
    return (k[0] * (x[i - 1, j - 1] + x[i - 1, j + 1] + x[i + 1, j - 1] + x[i + 1, j + 1])
            + k[1] * (x[i - 1, j] + x[i + 1, j]) + k[3] * (x[i, j - 1] + x[i, j + 1]))


@_pjit
def residual9(m, st, reg, const, x, b, r):
    """``r = b - A x`` for the 9-point operator ``st`` (0 off the unknowns); rows flagged
    ``reg`` use the interior constant ``const`` (no stencil reads)."""
    C, Hp, Wp = x.shape
    for c in nb.prange(C):
        r[c] = 0.0
        xc = x[c]
        for i in range(1, Hp - 1):
            for j in range(1, Wp - 1):
                if m[i, j] == 0.0:
                    continue
                if reg[i, j]:
                    v = b[c, i, j] - const[4] * xc[i, j] - _offdiag9_const(const, xc, i, j)
                else:
                    v = b[c, i, j] - st[4, i, j] * xc[i, j] - _offdiag9(st, xc, i, j)
                r[c, i, j] = v


@_pjit
def gauss_seidel9(inv_d, st, reg, const, x, b, reverse):
    """One lexicographic Gauss-Seidel sweep on a 9-point level: forward, or backward if
    ``reverse`` (the adjoint sweep, so that the V-cycle stays symmetric)."""
    C, Hp, Wp = x.shape
    for c in nb.prange(C):
        xc = x[c]
        bc = b[c]
        for ii in range(1, Hp - 1):
            i = Hp - 1 - ii if reverse else ii
            for jj in range(1, Wp - 1):
                j = Wp - 1 - jj if reverse else jj
                w = inv_d[i, j]
                if w == 0.0:
                    continue
                if reg[i, j]:
                    xc[i, j] = (bc[i, j] - _offdiag9_const(const, xc, i, j)) * w
                else:
                    xc[i, j] = (bc[i, j] - _offdiag9(st, xc, i, j)) * w


# --------------------------------------------------------------------------- fused fine-level passes


@_pjit
def fused_update_presmooth(m, d, inv_d, x, r, p, q, alpha, z, ri, rw, ch, mc, b_c, rr,
                           do_smooth):
    """``x += alpha p``, ``r -= alpha q``, ``rr = ||r||^2`` per channel; then, if
    ``do_smooth``, ``z`` = one red-black sweep on ``A z = r`` from ``z = 0`` and
    ``b_c = P^T (r - A z)`` (times the coarse mask ``mc``)."""
    C, Hp, Wp = x.shape
    for c in nb.prange(C):
        res = np.zeros(Wp)
        trow = np.zeros(b_c.shape[2])
        a = alpha[c]
        xc, rc, pc, qc, zc = x[c], r[c], p[c], q[c], z[c]
        acc = 0.0
        if do_smooth:
            b_c[c] = 0.0
        for t in range(1, Hp + 2):
            i = t
            if i <= Hp - 2:
                for j in range(Wp):
                    xc[i, j] += a * pc[i, j]
                    rv = rc[i, j] - a * qc[i, j]
                    rc[i, j] = rv
                    acc += rv * rv
                if do_smooth:       # red cells from z = 0: no neighbours yet
                    for j in range(1 + (i + 1) % 2, Wp - 1, 2):
                        zc[i, j] = rc[i, j] * inv_d[i, j]
            if not do_smooth:
                continue
            i = t - 1
            if 1 <= i <= Hp - 2:
                _gs_row(inv_d, rc, zc, i, 1)
            i = t - 2
            if 1 <= i <= Hp - 2:
                _residual_row(m, d, rc, zc, i, res)
                _restrict_row(res, ri, rw, ch, i, trow, b_c[c])
        rr[c] = acc
        if do_smooth:
            b_c[c] *= mc


@_pjit
def fused_prolong_postsmooth(m, inv_d, r, z, e_c, ri, rw, ci, cw, rz):
    """``z += P e_c``, then a black-red sweep on ``A z = r``; ``rz = <r, z>`` per channel."""
    C, Hp, Wp = z.shape
    for c in nb.prange(C):
        erow = np.empty(e_c.shape[2])
        rc, zc = r[c], z[c]
        acc = 0.0
        for t in range(1, Hp + 2):
            i = t
            if i <= Hp - 2:
                _prolong_row(e_c[c], m, ri, rw, ci, cw, i, erow, zc)
            i = t - 1
            if 1 <= i <= Hp - 2:
                _gs_row(inv_d, rc, zc, i, 1)
            i = t - 2
            if 1 <= i <= Hp - 2:
                _gs_row(inv_d, rc, zc, i, 0)
                for j in range(Wp):
                    acc += rc[i, j] * zc[i, j]
        rz[c] = acc


@_pjit
def fused_direction_apply(m, d, z, p, beta, q, pq):
    """``p = z + beta p``, ``q = A p``, ``pq = <p, q>`` per channel."""
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


@_jit
def _neighbour(i, j, k):
    """The ``k``-th (0..3: up, down, left, right) 4-neighbour of pixel ``(i, j)``."""
    if k == 0:
        return i - 1, j
    if k == 1:
        return i + 1, j
    if k == 2:
        return i, j - 1
    return i, j + 1


@_pjit
def guided_rhs(kind, target, source, valid, mixed, b):
    """Right-hand side of Perez et al.'s discrete equation on the unknown cells.

    ``b_p = sum_{q in N_p, q fixed} f*_q + sum_{q in N_p} v_pq`` with
    ``v_pq = g_p - g_q`` (``g`` the source; 0 when ``q`` has no source pixel) or,
    with ``mixed``, ``f*_p - f*_q`` when that is larger in magnitude.
    """
    C, Hp, Wp = target.shape
    b[:] = 0.0
    for c in nb.prange(C):
        for i in range(1, Hp - 1):
            for j in range(1, Wp - 1):
                if kind[i, j] != UNKNOWN:
                    continue
                acc = 0.0
                for k in range(4):
                    qi, qj = _neighbour(i, j, k)
                    kq = kind[qi, qj]
                    if kq == OUTSIDE:
                        continue
                    gs = 0.0
                    if valid[qi, qj]:
                        gs = source[c, i, j] - source[c, qi, qj]
                    v = gs
                    if mixed:
                        ft = target[c, i, j] - target[c, qi, qj]
                        if abs(ft) > abs(gs):
                            v = ft
                    if kq == FIXED:
                        v += target[c, qi, qj]
                    acc += v
                b[c, i, j] = acc


@_pjit
def initial_guess(kind, target, source, x):
    """``x = source + shift`` on the unknowns (0 elsewhere), ``shift`` per channel the mean of
    ``target_q - source_p`` over the pairs (unknown p, fixed neighbour q)."""
    C, Hp, Wp = x.shape
    for c in nb.prange(C):
        shift = 0.0
        count = 0
        for i in range(1, Hp - 1):
            for j in range(1, Wp - 1):
                if kind[i, j] != UNKNOWN:
                    continue
                for k in range(4):
                    qi, qj = _neighbour(i, j, k)
                    if kind[qi, qj] == FIXED:
                        count += 1
                        shift += target[c, qi, qj] - source[c, i, j]
        if count > 0:
            shift /= count
        for i in range(Hp):
            for j in range(Wp):
                x[c, i, j] = source[c, i, j] + shift if kind[i, j] == UNKNOWN else 0.0


@_pjit
def write_solution(kind, x, out, i0, j0, clip):
    """``out[c, i0 + i, j0 + j] = x[c, i, j]`` on the unknowns (clipped to [0, 1] if ``clip``)."""
    C, Hp, Wp = x.shape
    for c in nb.prange(C):
        for i in range(Hp):
            for j in range(Wp):
                if kind[i, j] != UNKNOWN:
                    continue
                v = x[c, i, j]
                if clip:
                    v = min(max(v, 0.0), 1.0)
                out[c, i0 + i, j0 + j] = v


@_pjit
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
