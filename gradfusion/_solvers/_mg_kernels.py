"""Numba kernels of the active-set solver and its masked multigrid (NumPy references:
``tests/reference.py``).

Arrays are ``(C, H, W)``; a *mask* is a ``uint8`` array of the same shape, 1 on
the free variables (the unknowns of the current linear system) and 0 on the
variables held at a bound. Vectors of the linear systems are kept zero off
the mask, so a plain product with the Hessian followed by masking its result
is the product with the free block ``A_FF``.

The multigrid's grid transfers are the shared ones of
:mod:`gradfusion._multigrid.transfer`; the smoothing passes here are the
synthesis levels' (:class:`gradfusion._solvers.multigrid.RichardsonLevel`).
"""

import numba as nb
import numpy as np

from .._jit import BySize
from .._jit import inline as _inline
from .._jit import parallel_fast as _pjit
from .._jit import serial as _jit
from .._stencils import bound_at, bound_row, row_chunks, row_sum
from ._kernels import _LANES, _row_max


def _pre_smooth(b, ab, mask, s, r):
    C, H, W = b.shape
    for q in nb.prange(C * H):
        c = q // H
        i = q % H
        br, abr, mr, rr = b[c, i], ab[c, i], mask[c, i], r[c, i]
        for j in range(W):
            rr[j] = (br[j] - s * abr[j]) * mr[j]


def _post_smooth(b, e, r, ae, mask, s, x):
    C, H, W = b.shape
    n, chunks = C * H, row_chunks(C * H)
    rows = np.empty(n)
    for t in nb.prange(chunks):
        for q in range(t * n // chunks, (t + 1) * n // chunks):
            c = q // H
            i = q % H
            br, er, rr, aer, mr, xr = b[c, i], e[c, i], r[c, i], ae[c, i], mask[c, i], x[c, i]
            bx = 0.0
            for j in range(W):
                v = s * br[j] + er[j] + s * ((rr[j] - aer[j]) * mr[j])
                xr[j] = v
                bx += br[j] * v
            rows[q] = bx
    return row_sum(rows)          # in order (a NumPy .sum() is a parallel reduction here)


def _BySize(func, doc, fine=0):
    """A kernel compiled as a serial and a parallel twin (sums reassociated), called by the
    size of its fine array (argument ``fine``: the first unless given):
    :class:`gradfusion._jit.BySize`."""
    return BySize(func, fast=True, size_arg=fine, doc=doc)


pre_smooth = _BySize(_pre_smooth, """``pre_smooth(b, ab, mask, s, r)``: the residual
``r = mask (b - s ab)`` of the Richardson step ``x = s b`` from zero (``ab = A b``).""")
post_smooth = _BySize(_post_smooth, """``post_smooth(b, e, r, ae, mask, s, x)``: the cycle's result
``x = s b + e + s mask (r - ae)``: the pre-smoothing step ``s b``, the coarse correction ``e``
(``ae = A e``; ``r`` the residual before it) and the post-smoothing step; returns ``b . x``.""")


@_inline
def _span(xr, sr, m, W, out):
    """``out = (m, first, stop)``: a row's number of moved variables (``xr != sr``) and their
    column span ``first .. stop - 1`` (``(0, W, 0)`` for none), found by scanning in from
    both ends of a row that has moves (the row loops only count them, a sum that
    vectorises)."""
    first, stop = W, 0
    if m > 0:
        # bounded scans: a count and a comparison that disagreed would otherwise read past
        # the row (Numba does not check bounds)
        first = 0
        while first < W and xr[first] == sr[first]:
            first += 1
        stop = W
        while stop > first and xr[stop - 1] == sr[stop - 1]:
            stop -= 1
    out[0] = m
    out[1] = first
    out[2] = stop


@_pjit
def active_set(x, g, upper, c, mask, saved, moves):
    """One semismooth-Newton (primal-dual active-set) update of the box QP's active set.

    With ``z = x - c g``: where ``z <= 0`` the variable is set to 0 and held,
    where ``z >= upper`` it is set to the upper bound and held (``upper`` per channel or per
    pixel: :func:`gradfusion._stencils.bound_row`); elsewhere it is
    free (``mask`` 1) and keeps its value. ``saved`` receives the ``x`` before the update and
    ``moves[q] = (n, first, stop)`` the number of variables of row ``q`` (channel-major)
    that it moved and their column span (``(0, W, 0)`` for none): what
    :func:`gradfusion._solvers._kernels.add_columns` reads to correct the gradient.
    Returns ``(free, moved)``: the number of free variables and of moved ones.
    The tests are selects and the counts per-row sums, so that the row loop
    vectorises (branches and a shared counter kept it scalar: 15 ms at 1024x928x3
    float32, a tenth of that now).
    """
    C, H, W = x.shape
    n, chunks = C * H, row_chunks(C * H)
    counts = np.zeros(n, dtype=np.int64)
    for t in nb.prange(chunks):
        for q in range(t * n // chunks, (t + 1) * n // chunks):
            ch = q // H
            i = q % H
            hr = bound_row(upper, ch, i)
            xr, gr, mr, sr = x[ch, i], g[ch, i], mask[ch, i], saved[ch, i]
            k = 0
            m = 0
            for j in range(W):
                hi = bound_at(hr, j)
                xj = xr[j]
                z = xj - c * gr[j]
                lo = z <= 0.0
                up = z >= hi
                v = hi if up else xj
                xn = xj - xj if lo else v
                xr[j] = xn
                sr[j] = xj
                f = 0 if (lo or up) else 1
                mr[j] = f
                k += f
                m += 1 if xn != xj else 0
            counts[q] = k
            _span(xr, sr, m, W, moves[q])
    return _totals(counts, moves)


@_pjit
def project_box(x, upper, saved, moves):
    """``x = clip(x, 0, upper)``, with ``saved`` and ``moves`` recording the variables the
    projection moved as :func:`active_set` does; returns their number."""
    C, H, W = x.shape
    n, chunks = C * H, row_chunks(C * H)
    for t in nb.prange(chunks):
        for q in range(t * n // chunks, (t + 1) * n // chunks):
            ch = q // H
            i = q % H
            hr = bound_row(upper, ch, i)
            xr, sr = x[ch, i], saved[ch, i]
            m = 0
            for j in range(W):
                xj = xr[j]
                xn = min(max(xj, 0.0), bound_at(hr, j))
                xr[j] = xn
                sr[j] = xj
                m += 1 if xn != xj else 0
            _span(xr, sr, m, W, moves[q])
    return _totals(moves[:, 0], moves)[1]


@_jit
def _totals(counts, moves):
    """``(sum of counts, sum of moves[:, 0])``, in row order."""
    free = 0
    moved = 0
    for q in range(moves.shape[0]):
        free += counts[q]
        moved += moves[q, 0]
    return free, moved


@_pjit
def free_residual(g, mask, r):
    """``r = -mask g``, the free block's residual ``b_F - A_F x`` from the gradient
    ``g = A x - b``; returns ``(r . r, max |r|)``."""
    C, H, W = g.shape
    n, chunks = C * H, row_chunks(C * H)
    rows = np.zeros((n, 2))
    for t in nb.prange(chunks):
        sq, lanes = np.empty(W, dtype=r.dtype), np.empty(_LANES, dtype=r.dtype)
        for q in range(t * n // chunks, (t + 1) * n // chunks):
            c = q // H
            i = q % H
            gr, mr, rr = g[c, i], mask[c, i], r[c, i]
            for j in range(W):
                v = -(gr[j] * mr[j])
                rr[j] = v
                sq[j] = v * v
            _square_sums(sq, W, lanes, rows[q])
    return _norms(rows)


@_pjit
def cg_update(x, r, g, p, ap, mask, alpha):
    """``x += alpha p``, ``g += alpha ap`` (the gradient follows ``x``) and
    ``r = mask (r - alpha ap)``; returns ``(r . r, max |r|)``."""
    C, H, W = x.shape
    n, chunks = C * H, row_chunks(C * H)
    rows = np.zeros((n, 2))
    for t in nb.prange(chunks):
        sq, lanes = np.empty(W, dtype=r.dtype), np.empty(_LANES, dtype=r.dtype)
        for q in range(t * n // chunks, (t + 1) * n // chunks):
            c = q // H
            i = q % H
            xr, rr, gr, pr, apr, mr = x[c, i], r[c, i], g[c, i], p[c, i], ap[c, i], mask[c, i]
            for j in range(W):
                xr[j] += alpha * pr[j]
                gr[j] += alpha * apr[j]
                v = (rr[j] - alpha * apr[j]) * mr[j]
                rr[j] = v
                sq[j] = v * v
            _square_sums(sq, W, lanes, rows[q])
    return _norms(rows)


@_inline
def _square_sums(sq, n, lanes, out):
    """``out = (sum(sq[:n]), max(sq[:n]))`` of a row's squares (the maximum by lanes: a
    running maximum in the row loop would keep it from vectorising)."""
    total = 0.0
    for j in range(n):
        total += sq[j]
    out[0] = total
    out[1] = _row_max(sq, n, lanes)


@_jit
def _norms(rows):
    """``(sum of squares, inf-norm)`` from the per-row ``(sum, max)`` of squares."""
    total = 0.0
    m = 0.0
    for q in range(rows.shape[0]):
        total += rows[q, 0]
        m = max(m, rows[q, 1])
    return total, np.sqrt(m)


@_pjit
def cg_direction(z, p, beta):
    """``p = z + beta p``."""
    C, H, W = z.shape
    for q in nb.prange(C * H):
        c = q // H
        i = q % H
        zr, pr = z[c, i], p[c, i]
        for j in range(W):
            pr[j] = zr[j] + beta * pr[j]
