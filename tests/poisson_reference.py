"""Plain NumPy references for the Numba kernels of :mod:`gradfusion._poisson` (its modules
``grid``, ``level_kernels``, ``fused_kernels`` and ``system_kernels``).

Each function is written from the documented meaning of one kernel (the module
docstrings of those files and the kernel's own), not from its loops:
whole-array slices, dense matrices (``P``, ``A`` and ``P^T A P`` built
explicitly), boolean masks; plain Python loops only where the order of the
updates is the point (lexicographic Gauss-Seidel). Everything is float64 and is
returned instead of written into output arguments.

Layout: a level is a padded grid of ``(Hp, Wp)`` cells with a ``kind`` each
(``OUTSIDE`` 0, ``FIXED`` 1, ``UNKNOWN`` 2); fields are ``(C, Hp, Wp)`` and 0
off the unknowns; ``m`` is the 0/1 mask of the unknowns. A coarse range
``(lo, hi)`` is the inclusive range of coarse line indices inside the image.
9-point stencils are ``st[3 * (di + 1) + (dj + 1), i, j]``.
"""

import math

import numpy as np

OUTSIDE = 0
FIXED = 1
UNKNOWN = 2

#: the 4-neighbour offsets (north, south, west, east)
NEIGHBOURS4 = ((-1, 0), (1, 0), (0, -1), (0, 1))
#: the 9-point offsets in stencil order ``k = 3 * (di + 1) + (dj + 1)``
OFFSETS9 = tuple((k // 3 - 1, k % 3 - 1) for k in range(9))


def _f64(a):
    return np.asarray(a, dtype=np.float64)


def _shifted(a, di, dj):
    """``a[..., i + di, j + dj]`` for the interior cells ``1 <= i <= Hp-2``, ``1 <= j <= Wp-2``."""
    Hp, Wp = a.shape[-2:]
    return a[..., 1 + di:Hp - 1 + di, 1 + dj:Wp - 1 + dj]


def _on_interior(inner, shape):
    """``inner`` (values of the interior cells) embedded in zeros of ``shape`` (a zero frame)."""
    out = np.zeros(shape)
    out[..., 1:-1, 1:-1] = inner
    return out


# --------------------------------------------------------------------------- the fine 5-point level


def neighbour_count(kind):
    """``d``: how many of the 4 neighbours of each unknown lie in the image (``|N_p|``); 0 elsewhere."""
    kind = np.asarray(kind)
    d = sum((_shifted(kind, di, dj) != OUTSIDE).astype(np.float64) for di, dj in NEIGHBOURS4)
    return _on_interior(np.where(_shifted(kind, 0, 0) == UNKNOWN, d, 0.0), kind.shape)


def regular_fine_rows(kind):
    """Unknown cells whose 4 neighbours are all unknown (rows equal to the interior 5-point stencil)."""
    kind = np.asarray(kind)
    reg = np.ones(np.subtract(kind.shape, 2), dtype=bool)
    for di, dj in ((0, 0),) + NEIGHBOURS4:
        reg &= _shifted(kind, di, dj) == UNKNOWN
    return _on_interior(reg, kind.shape).astype(bool)


def apply_laplacian(m, d, x):
    """``(A x)_p = m_p (d_p x_p - x_N - x_S - x_W - x_E)`` with a zero frame."""
    x = _f64(x)
    nb = sum(_shifted(x, di, dj) for di, dj in NEIGHBOURS4)
    inner = _shifted(_f64(m), 0, 0) * (_shifted(_f64(d), 0, 0) * _shifted(x, 0, 0) - nb)
    return _on_interior(inner, x.shape)


def residual(m, d, x, b):
    """``b - A x`` on the unknowns, 0 elsewhere."""
    return np.where(_f64(m) != 0, _f64(b) - apply_laplacian(m, d, x), 0.0)


def gauss_seidel(inv_d, x, b, reverse=False):
    """One red-black Gauss-Seidel sweep on ``A x = b`` (black-red if ``reverse``).

    Red cells are those with ``i + j`` even (padded coordinates). The cells of
    one colour only have neighbours of the other, so each half-sweep is one
    whole-array update: ``x_p <- inv_d_p (b_p + x_N + x_S + x_W + x_E)`` on the
    interior cells of that colour (0 off the unknowns, where ``inv_d`` is 0).
    """
    x = _f64(x).copy()
    b = _f64(b)
    Hp, Wp = x.shape[-2:]
    i, j = np.indices((Hp - 2, Wp - 2)) + 1
    for colour in ((1, 0) if reverse else (0, 1)):
        cells = (i + j) % 2 == colour
        nb = sum(_shifted(x, di, dj) for di, dj in NEIGHBOURS4)
        new = (_shifted(b, 0, 0) + nb) * _shifted(_f64(inv_d), 0, 0)
        inner = x[:, 1:-1, 1:-1]
        inner[:, cells] = new[:, cells]
    return x


# --------------------------------------------------------------------------- transfers


def coarse_range(lo, hi):
    """Coarse line ``I`` sits on fine line ``2 I``: it is inside the image iff ``lo <= 2 I <= hi``."""
    return -(-lo // 2), hi // 2


def prolongation_1d(n, lo, hi):
    """The ``(n, n // 2 + 1)`` 1-D factor of ``P`` for fine lines ``0..n-1``, coarse range ``[lo, hi]``.

    Bilinear and vertex-centred: an even fine line takes its coarse line with
    weight 1; an odd one takes 1/2 of each coarse line beside it, except that
    a coarse line outside ``[lo, hi]`` drops out and the row is renormalised
    (the other line takes its weight; none left: a zero row).
    """
    nc = n // 2 + 1
    P = np.zeros((n, nc))
    i = np.arange(n)
    even, odd = i[i % 2 == 0], i[i % 2 == 1]
    P[even, even // 2] = 1.0
    P[odd, (odd - 1) // 2] = 0.5
    P[odd, (odd + 1) // 2] = 0.5
    inside = (np.arange(nc) >= lo) & (np.arange(nc) <= hi)
    rows = P[odd] * inside
    total = rows.sum(axis=1, keepdims=True)
    P[odd] = np.divide(rows, total, out=np.zeros_like(rows), where=total > 0)
    return P


def prolongation_factors(shape_f, rng_c):
    """``(Prow, Pcol)``: the 1-D factors of ``P`` for a fine level of ``shape_f``; ``rng_c`` is
    ``(rlo, rhi, clo, chi)``, the coarse ranges."""
    rlo, rhi, clo, chi = rng_c
    return prolongation_1d(shape_f[0], rlo, rhi), prolongation_1d(shape_f[1], clo, chi)


def prolongation_matrix(m_f, m_c, rng_c):
    """Dense ``P`` from the coarse unknowns to the fine unknowns, and their flat indices.

    ``P[(i, j), (I, J)] = Prow[i, I] Pcol[j, J]`` between a fine unknown and a
    coarse unknown (a fixed or outside coarse parent contributes 0).
    """
    Prow, Pcol = prolongation_factors(m_f.shape, rng_c)
    fi = np.flatnonzero(np.ravel(m_f) != 0)
    ci = np.flatnonzero(np.ravel(m_c) != 0)
    return np.kron(Prow, Pcol)[np.ix_(fi, ci)], fi, ci


def restrict(r, mc, rng_c):
    """``P^T r`` per channel (``r`` 0 off the fine unknowns), times the coarse mask ``mc``."""
    Prow, Pcol = prolongation_factors(r.shape[-2:], rng_c)
    return _f64(mc) * np.einsum("iI,cij,jJ->cIJ", Prow, _f64(r), Pcol)


def restrict_scatter(r, mc, ri, rw, ci, cw, shape_c):
    """:func:`restrict` summed in the order of a scatter through the parent tables (fine rows,
    then fine columns, ascending; each fine value into its parents), in plain Python: the
    gather kernel must reproduce these sums bit for bit."""
    C, H, W = r.shape
    out = np.zeros((C,) + tuple(shape_c))
    for c in range(C):
        for i in range(1, H - 1):
            trow = np.zeros(shape_c[1])
            for j in range(1, W - 1):
                for k in range(2):
                    trow[ci[j, k]] += cw[j, k] * r[c, i, j]
            for k in range(2):
                out[c, ri[i, k]] += rw[i, k] * trow
    return out * mc


def prolong_add(e_c, m, rng_c, x):
    """``x + P e_c`` on the fine unknowns (``e_c`` 0 off the coarse unknowns)."""
    Prow, Pcol = prolongation_factors(np.shape(m), rng_c)
    return _f64(x) + _f64(m) * np.einsum("iI,cIJ,jJ->cij", Prow, _f64(e_c), Pcol)


# --------------------------------------------------------------------------- Galerkin coarse operators


def operator_matrix(kind, diag=None, st=None):
    """The level's operator on its unknowns as a dense matrix (and their flat indices).

    5-point (``diag`` given): ``A[p, p] = diag_p`` and ``-1`` to each unknown
    4-neighbour. 9-point (``st`` given): ``A[p, p + offset_k] = st[k, p]`` to
    each unknown neighbour.
    """
    kind = np.asarray(kind)
    Hp, Wp = kind.shape
    idx = np.flatnonzero(kind.ravel() == UNKNOWN)
    pos = -np.ones(kind.size, dtype=np.int64)
    pos[idx] = np.arange(idx.size)
    A = np.zeros((idx.size, idx.size))
    rows = np.arange(idx.size)
    if st is None:
        A[rows, rows] = _f64(diag).ravel()[idx]
        entries = [(di * Wp + dj, np.full(idx.size, -1.0)) for di, dj in NEIGHBOURS4]
    else:
        st = _f64(st).reshape(9, -1)
        entries = [(di * Wp + dj, st[k, idx]) for k, (di, dj) in enumerate(OFFSETS9)]
    for step, values in entries:
        q = pos[idx + step]          # unknowns are never on the frame: idx + step is in the array
        ok = q >= 0
        A[rows[ok], q[ok]] += values[ok]
    return A, idx


def stencils_from_matrix(A, idx, shape):
    """The 9-point stencils ``(9, H, W)`` of a matrix on the unknowns ``idx`` of a ``shape`` grid.

    Raises ``AssertionError`` if a row couples two unknowns more than one cell apart.
    """
    H, W = shape
    st = np.zeros((9, H, W))
    ii, jj = np.divmod(idx, W)
    for p, q in zip(*np.nonzero(A)):
        di, dj = ii[q] - ii[p], jj[q] - jj[p]
        assert abs(di) <= 1 and abs(dj) <= 1, f"entry beyond the 9-point pattern: {di, dj}"
        st[3 * (di + 1) + (dj + 1), ii[p], jj[p]] = A[p, q]
    return st


def galerkin(kind_f, kind_c, rng_c, diag=None, st=None):
    """The coarse stencils of ``P^T A P`` (``A`` from :func:`operator_matrix`), 0 off the coarse unknowns."""
    kind_f, kind_c = np.asarray(kind_f), np.asarray(kind_c)
    A, _ = operator_matrix(kind_f, diag=diag, st=st)
    P, _, ci = prolongation_matrix(kind_f == UNKNOWN, kind_c == UNKNOWN, rng_c)
    return stencils_from_matrix(P.T @ A @ P, ci, kind_c.shape)


def _all_in_window(flags, half):
    """Cells whose ``(2 half + 1)^2`` window lies in the array and is all ``flags``."""
    flags = np.asarray(flags, dtype=bool)
    H, W = flags.shape
    out = np.zeros((H, W), dtype=bool)
    if H <= 2 * half or W <= 2 * half:
        return out
    inner = np.ones((H - 2 * half, W - 2 * half), dtype=bool)
    for a in range(2 * half + 1):
        for b in range(2 * half + 1):
            inner &= flags[a:a + H - 2 * half, b:b + W - 2 * half]
    out[half:H - half, half:W - half] = inner
    return out


def regular_coarse_rows(kind_f, reg_f, kind_c):
    """Coarse unknowns ``(I, J)`` whose rows equal the interior constant stencil.

    The fine 5x5 block around ``(2 I, 2 J)`` is inside the fine grid and all
    unknown, its central 3x3 rows are regular, and the coarse 3x3 block around
    ``(I, J)`` is inside the coarse grid and all unknown.
    """
    kind_f, kind_c = np.asarray(kind_f), np.asarray(kind_c)
    fine = _all_in_window(kind_f == UNKNOWN, 2) & _all_in_window(reg_f, 1)
    out = _all_in_window(kind_c == UNKNOWN, 1)
    Hc, Wc = kind_c.shape
    on_fine = np.zeros((Hc, Wc), dtype=bool)
    sub = fine[::2, ::2]
    on_fine[:sub.shape[0], :sub.shape[1]] = sub
    return out & on_fine


# --------------------------------------------------------------------------- coarse 9-point levels


def effective_stencil(st, reg, const):
    """The stencils the 9-point kernels apply: ``const`` on the rows flagged ``reg``, ``st`` elsewhere."""
    return np.where(np.asarray(reg, dtype=bool)[None], _f64(const)[:, None, None], _f64(st))


def apply9(m, st, reg, const, x):
    """``A x`` on the unknowns (0 elsewhere) for the 9-point operator."""
    S = effective_stencil(st, reg, const)
    x = _f64(x)
    inner = sum(_shifted(S[k], 0, 0) * _shifted(x, di, dj) for k, (di, dj) in enumerate(OFFSETS9))
    return _on_interior(np.where(_shifted(_f64(m), 0, 0) != 0, inner, 0.0), x.shape)


def residual9(m, st, reg, const, x, b):
    """``b - A x`` on the unknowns, 0 elsewhere (9-point)."""
    return np.where(_f64(m) != 0, _f64(b) - apply9(m, st, reg, const, x), 0.0)


def gauss_seidel9(inv_d, st, reg, const, x, b, reverse=False, edges=None):
    """One lexicographic Gauss-Seidel sweep (rows then columns; both backwards if ``reverse``).

    ``x_p <- inv_d_p (b_p - sum_{k != centre} S[k, p] x_{p + offset_k})`` on the
    unknowns (``inv_d != 0``), one cell after the other. With row bands ``edges``
    (interior rows ``edges[k] .. edges[k + 1] - 1``) the sweep is hybrid: each band
    is swept on its own and reads the rows of other bands as they were before the
    sweep.
    """
    S = effective_stencil(st, reg, const)
    x = _f64(x).copy()
    old = x.copy()
    b = _f64(b)
    inv_d = _f64(inv_d)
    Hp, Wp = x.shape[-2:]
    if edges is None:
        edges = [1, Hp - 1]
    cols = range(Wp - 2, 0, -1) if reverse else range(1, Wp - 1)
    for lo, hi in zip(edges[:-1], edges[1:]):
        rows = range(hi - 1, lo - 1, -1) if reverse else range(lo, hi)
        for c in range(x.shape[0]):
            for i in rows:
                for j in cols:
                    if inv_d[i, j] == 0.0:
                        continue
                    s = sum(S[k, i, j] * (x if lo <= i + di < hi else old)[c, i + di, j + dj]
                            for k, (di, dj) in enumerate(OFFSETS9) if k != 4)
                    x[c, i, j] = (b[c, i, j] - s) * inv_d[i, j]
    return x


# --------------------------------------------------------------------------- fused fine-level passes


def dots(a, b):
    """Per-channel inner products, summed exactly (``math.fsum``) from the rounded products."""
    a, b = _f64(a), _f64(b)
    return np.array([math.fsum((a[c] * b[c]).ravel()) for c in range(a.shape[0])])


def fused_step_presmooth(count, x, r, p, z, alpha, beta, mc, b_c, rng_c):
    """``(x, r, p, z, b_c, rr)`` after ``p = z + beta p``, ``x += alpha p``, ``r -= alpha A p``,
    ``rr = ||r||^2``; then ``z`` = one red-black sweep on ``A z = r`` from 0 and
    ``b_c = P^T (r - A z)`` times ``mc`` (``A`` from the neighbour counts ``count``)."""
    m, d, inv_d = from_counts(count)
    a = _f64(alpha)[:, None, None]
    p = _f64(z) + _f64(beta)[:, None, None] * _f64(p)
    x = _f64(x) + a * p
    r = _f64(r) - a * apply_laplacian(m, d, p)
    rr = dots(r, r)
    z = gauss_seidel(inv_d, np.zeros_like(r), r, reverse=False)
    b_c = restrict(residual(m, d, z, r), mc, rng_c)
    return x, r, p, z, b_c, rr


def from_counts(count):
    """``(m, d, inv_d)`` of the fine operator from its int8 neighbour counts."""
    d = _f64(count)
    m = (d > 0).astype(np.float64)
    return m, d, np.divide(1.0, d, out=np.zeros_like(d), where=d > 0)


def fused_prolong_postsmooth(count, r, z, p, e_c, rng_c):
    """``(z, sums)``: ``z += P e_c``, then a black-red sweep on ``A z = r``; ``sums[c]`` is
    ``(<r, z>, <z, A z>, <z, A p>)``."""
    m, d, inv_d = from_counts(count)
    z = gauss_seidel(inv_d, prolong_add(e_c, m, rng_c, z), r, reverse=True)
    return z, np.stack([dots(r, z), dots(z, apply_laplacian(m, d, z)),
                        dots(z, apply_laplacian(m, d, p))], axis=1)


def fused_direction_apply(m, d, z, p, beta):
    """``(p, q, pq)``: ``p = z + beta p``, ``q = A p``, ``pq = <p, q>``."""
    p = _f64(z) + _f64(beta)[:, None, None] * _f64(p)
    q = apply_laplacian(m, d, p)
    return p, q, dots(p, q)


# --------------------------------------------------------------------------- set-up and output


def guided_rhs(kind, target, source, valid, mixed):
    """Perez et al.'s right-hand side on the unknowns, 0 elsewhere.

    ``b_p = sum_{q in N_p} (v_pq + [q fixed] f*_q)`` over the in-image
    neighbours ``q``; ``v_pq = g_p - g_q`` (0 when ``q`` has no source pixel)
    or, with ``mixed``, ``f*_p - f*_q`` where that is strictly larger in magnitude.
    """
    kind = np.asarray(kind)
    f, g = _f64(target), _f64(source)
    total = 0.0
    for di, dj in NEIGHBOURS4:
        kq = _shifted(kind, di, dj)
        gs = np.where(_shifted(np.asarray(valid), di, dj), _shifted(g, 0, 0) - _shifted(g, di, dj), 0.0)
        v = gs
        if mixed:
            ft = _shifted(f, 0, 0) - _shifted(f, di, dj)
            v = np.where(np.abs(ft) > np.abs(gs), ft, gs)
        v = v + np.where(kq == FIXED, _shifted(f, di, dj), 0.0)
        total = total + np.where(kq != OUTSIDE, v, 0.0)
    unknown = _shifted(kind, 0, 0) == UNKNOWN
    return _on_interior(np.where(unknown, total, 0.0), f.shape)


def initial_guess(kind, target, source):
    """``source + shift`` on the unknowns (0 elsewhere), ``shift[c]`` the mean of ``target_q - source_p``
    over the pairs (unknown ``p``, fixed 4-neighbour ``q``), 0 if there are none."""
    kind = np.asarray(kind)
    f, g = _f64(target), _f64(source)
    unknown = _shifted(kind, 0, 0) == UNKNOWN
    diffs = [[] for _ in range(f.shape[0])]
    for di, dj in NEIGHBOURS4:
        pairs = unknown & (_shifted(kind, di, dj) == FIXED)
        for c in range(f.shape[0]):
            diffs[c].append((_shifted(f[c], di, dj) - _shifted(g[c], 0, 0))[pairs])
    shift = np.array([np.concatenate(dc).mean() if sum(map(len, dc)) else 0.0 for dc in diffs])
    return np.where(kind == UNKNOWN, g + shift[:, None, None], 0.0)


def write_solution(kind, x, out, i0, j0, clip):
    """A copy of ``out`` with ``out[c, i0 + i, j0 + j] = x[c, i, j]`` on the unknowns (clipped to [0, 1])."""
    out = np.array(out, dtype=np.float64)
    ii, jj = np.nonzero(np.asarray(kind) == UNKNOWN)
    v = _f64(x)[:, ii, jj]
    out[:, i0 + ii, j0 + jj] = np.clip(v, 0.0, 1.0) if clip else v
    return out
