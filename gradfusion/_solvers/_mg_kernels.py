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


@_pjit
def active_set(x, g, upper, c, mask):
    """One semismooth-Newton (primal-dual active-set) update of the box QP's active set.

    With ``z = x - c g``: where ``z <= 0`` the variable is set to 0 and held,
    where ``z >= upper`` it is set to the upper bound and held (``upper`` per channel or per
    pixel: :func:`gradfusion._stencils.bound_row`); elsewhere it is
    free (``mask`` 1) and keeps its value. Returns the number of free variables.
    The tests are selects and the count a per-row sum, so that the row loop
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
            xr, gr, mr = x[ch, i], g[ch, i], mask[ch, i]
            k = 0
            for j in range(W):
                hi = bound_at(hr, j)
                xj = xr[j]
                z = xj - c * gr[j]
                lo = z <= 0.0
                up = z >= hi
                v = hi if up else xj
                xr[j] = xj - xj if lo else v
                f = 0 if (lo or up) else 1
                mr[j] = f
                k += f
            counts[q] = k
    free = 0
    for q in range(n):
        free += counts[q]
    return free


@_pjit
def free_residual(ax, b, mask, r):
    """``r = mask (b - ax)``; returns ``(r . r, max |r|)``."""
    C, H, W = ax.shape
    n, chunks = C * H, row_chunks(C * H)
    rows = np.zeros((n, 2))
    for t in nb.prange(chunks):
        sq, lanes = np.empty(W, dtype=r.dtype), np.empty(_LANES, dtype=r.dtype)
        for q in range(t * n // chunks, (t + 1) * n // chunks):
            c = q // H
            i = q % H
            axr, br, mr, rr = ax[c, i], b[c, i], mask[c, i], r[c, i]
            for j in range(W):
                v = (br[j] - axr[j]) * mr[j]
                rr[j] = v
                sq[j] = v * v
            _square_sums(sq, W, lanes, rows[q])
    return _norms(rows)


@_pjit
def cg_update(x, r, p, ap, mask, alpha):
    """``x += alpha p`` and ``r = mask (r - alpha ap)``; returns ``(r . r, max |r|)``."""
    C, H, W = x.shape
    n, chunks = C * H, row_chunks(C * H)
    rows = np.zeros((n, 2))
    for t in nb.prange(chunks):
        sq, lanes = np.empty(W, dtype=r.dtype), np.empty(_LANES, dtype=r.dtype)
        for q in range(t * n // chunks, (t + 1) * n // chunks):
            c = q // H
            i = q % H
            xr, rr, pr, apr, mr = x[c, i], r[c, i], p[c, i], ap[c, i], mask[c, i]
            for j in range(W):
                xr[j] += alpha * pr[j]
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
