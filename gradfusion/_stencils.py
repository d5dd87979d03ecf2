"""Numba kernels behind the gradient operators, the solver and the loss.

Every kernel works on C-contiguous ``(C, H, W)`` arrays (channels first),
float32 or float64, and is compiled once per dtype (``cache=True``).  Each has
a plain NumPy reference in ``tests/reference.py`` and a test that they agree.

Boundary handling of the 3x3 stencils is selected by an integer flag so that
one compiled kernel serves both modes:

``ZERO`` (0)
    zero padding outside the image, as ``torch.nn.functional.conv2d(padding=1)``
    and ``scipy.ndimage.correlate(mode="constant")``.
``REFLECT`` (1)
    half-sample symmetric extension, ``x[-1] = x[0]``, as
    ``scipy.ndimage.correlate(mode="reflect")`` (for a 3x3 stencil this is the
    same as edge replication).

The adjoint of a padded stencil ``y = K E x`` (``E`` the extension) is
``E^T K^T y``: a full convolution whose values on the padding ring are folded
back onto the edge pixels (reflect) or dropped (zero).
"""

import functools

import numba as nb
import numpy as np
from numba.core import types as _types
from numba.extending import overload as _overload

from ._jit import SERIAL_CELLS, BySize, inline, parallel, parallel_fast, serial, serial_fast  # noqa: F401

ZERO = 0
REFLECT = 1

# SERIAL_CELLS, the serial/parallel size rule, is gradfusion._jit's (imported here for callers)
_jit = serial
_pjit = parallel
#: energies (float64 sums of squares): the sums may be reassociated so that they vectorise
_pjit_sum = parallel_fast

#: row chunks of the parallel passes that need row buffers (here and in the solver's
#: kernels): each chunk allocates its buffers once; an allocation per row cost 10-25% of a
#: pass at 512x464x3
ROW_CHUNKS = 64


@inline
def row_chunks(n):
    """How many row chunks a parallel pass over ``n`` rows uses."""
    return min(n, ROW_CHUNKS)


@inline
def row_sum(rows):
    """``sum(rows)`` of a 1-D array, in order.

    Every float reduction of a parallel pass is accumulated per row (or per chunk of rows)
    into an array and added up here or by :func:`column_sum`, in order: its value does not
    depend on how the rows were shared between threads, so the serial and parallel twins of
    a kernel (:class:`gradfusion._jit.BySize`) and any thread count give the same bits.
    """
    total = 0.0
    for q in range(rows.shape[0]):
        total += rows[q]
    return total


@inline
def column_sum(rows, k):
    """``sum(rows[:, k])`` in row order (:func:`row_sum`)."""
    total = 0.0
    for q in range(rows.shape[0]):
        total += rows[q, k]
    return total


# --------------------------------------------------------------------------- bounds per channel or per pixel


def bound_row(bounds, c, i):
    """The bounds of row ``(c, i)``: ``bounds[c]`` for per-channel bounds (shape ``(C,)``),
    the row ``bounds[c, i]`` for per-pixel ones (shape ``(C, H, W)``, or ``(1, H, W)``
    shared by the channels). Read an entry with :func:`bound_at`.

    In a kernel the choice is made at compile time by the type of ``bounds`` (a Numba
    overload): with per-channel bounds the row "is" the scalar, so a kernel's inner loop
    is the same code as with a scalar read once per row (no load per entry)."""
    if bounds.ndim == 1:
        return bounds[c]
    return bounds[min(c, bounds.shape[0] - 1), i]


def bound_row_near(bounds, row, c, i):
    """:func:`bound_row` of row ``(c, i)`` given ``row``, the bounds of another row of channel
    ``c``: per-channel bounds are ``row`` itself (no load), per-pixel ones ``bounds[c, i]``."""
    if bounds.ndim == 1:
        return row
    return bound_row(bounds, c, i)


def bound_at(row, j):
    """Entry ``j`` of a :func:`bound_row` (the scalar itself for per-channel bounds)."""
    if isinstance(row, np.ndarray):
        return row[j]
    return row


@_overload(bound_row, inline="always")
def _bound_row_impl(bounds, c, i):
    if not isinstance(bounds, _types.Array):
        return None
    if bounds.ndim == 1:
        return lambda bounds, c, i: bounds[c]
    if bounds.ndim == 3:
        # (a prange index is unsigned: min with a signed int would be a float)
        return lambda bounds, c, i: bounds[min(np.int64(c), bounds.shape[0] - 1), i]
    return None


@_overload(bound_row_near, inline="always")
def _bound_row_near_impl(bounds, row, c, i):
    if not isinstance(bounds, _types.Array):
        return None
    if bounds.ndim == 1:
        return lambda bounds, row, c, i: row
    if bounds.ndim == 3:
        return lambda bounds, row, c, i: bounds[min(np.int64(c), bounds.shape[0] - 1), i]
    return None


@_overload(bound_at, inline="always")
def _bound_at_impl(row, j):
    if isinstance(row, _types.Array):
        return lambda row, j: row[j]
    if isinstance(row, (_types.Float, _types.Integer)):
        return lambda row, j: row
    return None


@_jit
def _ext(u, c, i, j, H, W, mode):
    """Value of the extended image at (i, j) with i in [-1, H], j in [-1, W]."""
    if mode == ZERO:
        if i < 0 or i >= H or j < 0 or j >= W:
            return 0.0
        return u[c, i, j]
    if i < 0:
        i = 0
    elif i >= H:
        i = H - 1
    if j < 0:
        j = 0
    elif j >= W:
        j = W - 1
    return u[c, i, j]


@_jit
def _sobel_at(u, c, i, j, H, W, mode):
    """(Sx u, Sy u) at one pixel, any position (boundary-aware, slow path)."""
    a = _ext(u, c, i - 1, j - 1, H, W, mode)
    b = _ext(u, c, i - 1, j, H, W, mode)
    d = _ext(u, c, i - 1, j + 1, H, W, mode)
    e = _ext(u, c, i, j - 1, H, W, mode)
    f = _ext(u, c, i, j + 1, H, W, mode)
    g = _ext(u, c, i + 1, j - 1, H, W, mode)
    h = _ext(u, c, i + 1, j, H, W, mode)
    k = _ext(u, c, i + 1, j + 1, H, W, mode)
    return (a - d) + 2.0 * (e - f) + (g - k), (a + 2.0 * b + d) - (g + 2.0 * h + k)


@_pjit
def sobel_forward(u, gx, gy, mode):
    """Sobel cross-correlation ``gx = kx (*) u``, ``gy = ky (*) u``.

    ``kx = [[1,0,-1],[2,0,-2],[1,0,-1]]`` and ``ky = kx.T``.  Interior
    pixels take a branch-free path; the one-pixel frame the boundary-aware one.
    """
    C, H, W = u.shape
    for r in nb.prange(C * H):
        c = r // H
        i = r % H
        if i == 0 or i == H - 1 or W < 3:
            for j in range(W):
                gx[c, i, j], gy[c, i, j] = _sobel_at(u, c, i, j, H, W, mode)
            continue
        gx[c, i, 0], gy[c, i, 0] = _sobel_at(u, c, i, 0, H, W, mode)
        up = u[c, i - 1]
        mid = u[c, i]
        dn = u[c, i + 1]
        for j in range(1, W - 1):
            s0 = up[j - 1] + 2.0 * mid[j - 1] + dn[j - 1]
            s2 = up[j + 1] + 2.0 * mid[j + 1] + dn[j + 1]
            gx[c, i, j] = s0 - s2
            gy[c, i, j] = (up[j - 1] + 2.0 * up[j] + up[j + 1]) - (dn[j - 1] + 2.0 * dn[j] + dn[j + 1])
        gx[c, i, W - 1], gy[c, i, W - 1] = _sobel_at(u, c, i, W - 1, H, W, mode)


@_jit
def _sobel_full_adjoint(gx, gy, c, p, q, H, W):
    """Full convolution ``kx^T gx + ky^T gy`` at padded position (p, q)."""
    s = 0.0
    for du in range(-1, 2):
        i = p - du
        if i < 0 or i >= H:
            continue
        wy = 2.0 - abs(du)      # [1, 2, 1] smoothing weight along rows
        sy = -du                # [1, 0, -1] difference along rows (ky)
        for dv in range(-1, 2):
            j = q - dv
            if j < 0 or j >= W:
                continue
            wx = 2.0 - abs(dv)
            sx = -dv
            # kx[du+1, dv+1] = wy * sx ; ky[du+1, dv+1] = sy * wx
            s += wy * sx * gx[c, i, j] + sy * wx * gy[c, i, j]
    return s


@_jit
def _fold_source(k, p, n, mode):
    """k-th padded position folded onto edge pixel p of an axis of length n.

    k = 0 is p itself; with ``REFLECT`` the ring positions -1 (onto p = 0) and
    n (onto p = n - 1) fold back; -2 means "no such source".
    """
    if k == 0:
        return p
    if mode != REFLECT:
        return -2
    if k == 1:
        return -1 if p == 0 else -2
    return n if p == n - 1 else -2


@_jit
def _sobel_adjoint_at(gx, gy, c, p, q, H, W, mode):
    """Adjoint value at one pixel, any position (boundary-aware, slow path)."""
    s = 0.0
    for ka in range(3):
        a = _fold_source(ka, p, H, mode)
        if a == -2:
            continue
        for kb in range(3):
            b = _fold_source(kb, q, W, mode)
            if b == -2:
                continue
            s += _sobel_full_adjoint(gx, gy, c, a, b, H, W)
    return s


@_pjit
def sobel_adjoint(gx, gy, out, mode):
    """Adjoint of :func:`sobel_forward`: ``out = Sx^T gx + Sy^T gy``.

    In the interior this is a convolution with ``kx`` and ``ky`` (the
    flipped correlation); frame pixels fold the padding ring back (reflect)
    or drop it (zero).
    """
    C, H, W = gx.shape
    for r in nb.prange(C * H):
        c = r // H
        p = r % H
        if p == 0 or p == H - 1 or W < 3:
            for q in range(W):
                out[c, p, q] = _sobel_adjoint_at(gx, gy, c, p, q, H, W, mode)
            continue
        out[c, p, 0] = _sobel_adjoint_at(gx, gy, c, p, 0, H, W, mode)
        xu = gx[c, p - 1]
        xm = gx[c, p]
        xd = gx[c, p + 1]
        yu = gy[c, p - 1]
        ym = gy[c, p]
        yd = gy[c, p + 1]
        for q in range(1, W - 1):
            # Sx^T gx = -(kx (*) gx): weights [1,2,1] down rows, [-1,0,1] across
            sx = (xu[q + 1] + 2.0 * xm[q + 1] + xd[q + 1]) - (xu[q - 1] + 2.0 * xm[q - 1] + xd[q - 1])
            sy = (yd[q - 1] + 2.0 * yd[q] + yd[q + 1]) - (yu[q - 1] + 2.0 * yu[q] + yu[q + 1])
            out[c, p, q] = sx + sy
        out[c, p, W - 1] = _sobel_adjoint_at(gx, gy, c, p, W - 1, H, W, mode)


@_pjit
def forward_difference(u, dx, dy):
    """Forward differences with a Neumann end: ``dx[.., j] = u[.., j+1] - u[.., j]``.

    The last column of ``dx`` and the last row of ``dy`` are zero.
    """
    C, H, W = u.shape
    for r in nb.prange(C * H):
        c = r // H
        i = r % H
        for j in range(W):
            dx[c, i, j] = u[c, i, j + 1] - u[c, i, j] if j + 1 < W else 0.0
            dy[c, i, j] = u[c, i + 1, j] - u[c, i, j] if i + 1 < H else 0.0


@_pjit
def forward_difference_adjoint(dx, dy, out):
    """Adjoint of :func:`forward_difference` (a negative divergence)."""
    C, H, W = dx.shape
    for r in nb.prange(C * H):
        c = r // H
        i = r % H
        for j in range(W):
            s = 0.0
            if j + 1 < W:
                s -= dx[c, i, j]
            if j >= 1:
                s += dx[c, i, j - 1]
            if i + 1 < H:
                s -= dy[c, i, j]
            if i >= 1:
                s += dy[c, i - 1, j]
            out[c, i, j] = s


@_pjit
def difference_forward(u, taps, dx, dy):
    """'Valid' correlation with the 1-D filter ``taps`` along x and along y.

    ``dx[c, i, j] = sum_m taps[m] u[c, i, j + m]`` for ``j < W - k`` and zero
    beyond (``k = len(taps) - 1``); ``dy`` likewise along rows.
    """
    C, H, W = u.shape
    k = taps.shape[0] - 1
    for r in nb.prange(C * H):
        c = r // H
        i = r % H
        for j in range(W):
            s = 0.0
            if j < W - k:
                for m in range(k + 1):
                    s += taps[m] * u[c, i, j + m]
            dx[c, i, j] = s
            s = 0.0
            if i < H - k:
                for m in range(k + 1):
                    s += taps[m] * u[c, i + m, j]
            dy[c, i, j] = s


@_pjit
def difference_adjoint(dx, dy, taps, out):
    """Adjoint of :func:`difference_forward`."""
    C, H, W = dx.shape
    k = taps.shape[0] - 1
    for r in nb.prange(C * H):
        c = r // H
        i = r % H
        for j in range(W):
            s = 0.0
            for m in range(k + 1):
                q = j - m
                if 0 <= q < W - k:
                    s += taps[m] * dx[c, i, q]
                p = i - m
                if 0 <= p < H - k:
                    s += taps[m] * dy[c, p, j]
            out[c, i, j] = s


@_pjit
def clip_channels(x, upper, out):
    """``out = clip(x, 0, upper)``; returns ``sum |out - x|``. ``upper`` per channel
    (``(C,)``) or per pixel (``(C or 1, H, W)``: :func:`bound_row`)."""
    C, H, W = x.shape
    rows = np.empty(C * H)
    for r in nb.prange(C * H):
        c = r // H
        i = r % H
        hr = bound_row(upper, c, i)
        s = 0.0
        for j in range(W):
            v = x[c, i, j]
            w = min(max(v, 0.0), bound_at(hr, j))
            out[c, i, j] = w
            s += abs(w - v)
        rows[r] = s
    return row_sum(rows)


@_pjit_sum
def sobel_energy(d, mode):
    """``sum (Sx d)^2 + (Sy d)^2`` without storing the gradient maps (float64).

    Interior rows take a branch-free, vectorised path (the sum may be
    reassociated: float64 rounding only); the frame the boundary-aware one.
    """
    C, H, W = d.shape
    rows = np.empty(C * H)
    for r in nb.prange(C * H):
        c = r // H
        i = r % H
        s = 0.0
        if i == 0 or i == H - 1 or W < 3:
            for j in range(W):
                sx, sy = _sobel_at(d, c, i, j, H, W, mode)
                s += sx * sx + sy * sy
        else:
            for j in (0, W - 1):
                sx, sy = _sobel_at(d, c, i, j, H, W, mode)
                s += sx * sx + sy * sy
            up = d[c, i - 1]
            mid = d[c, i]
            dn = d[c, i + 1]
            for j in range(1, W - 1):
                gx = (up[j - 1] + 2.0 * mid[j - 1] + dn[j - 1]) - (up[j + 1] + 2.0 * mid[j + 1]
                                                                  + dn[j + 1])
                gy = (up[j - 1] + 2.0 * up[j] + up[j + 1]) - (dn[j - 1] + 2.0 * dn[j] + dn[j + 1])
                s += gx * gx + gy * gy
        rows[r] = s
    return row_sum(rows)


@_pjit_sum
def difference_energy(u, taps):
    """``sum (Dx u)^2 + (Dy u)^2`` of the 'valid' filter ``taps`` (:func:`difference_forward`)
    without storing the maps; float64 whatever ``u``'s dtype."""
    C, H, W = u.shape
    k = taps.shape[0] - 1
    t = np.zeros(3)
    for m in range(min(k + 1, 3)):
        t[m] = taps[m]
    t0, t1, t2 = t[0], t[1], t[2]
    rows = np.empty(C * H)
    for r in nb.prange(C * H):
        c = r // H
        i = r % H
        row = u[c, i]
        s = 0.0
        if k > 2:                      # generic (not used by the regularisers)
            for j in range(W - k):
                e = 0.0
                for m in range(k + 1):
                    e += taps[m] * row[j + m]
                s += e * e
            if i < H - k:
                for j in range(W):
                    e = 0.0
                    for m in range(k + 1):
                        e += taps[m] * u[c, i + m, j]
                    s += e * e
        elif k == 2:
            for j in range(W - 2):
                e = t0 * row[j] + t1 * row[j + 1] + t2 * row[j + 2]
                s += e * e
            if i < H - 2:
                r1 = u[c, i + 1]
                r2 = u[c, i + 2]
                for j in range(W):
                    e = t0 * row[j] + t1 * r1[j] + t2 * r2[j]
                    s += e * e
        elif k == 1:
            for j in range(W - 1):
                e = t0 * row[j] + t1 * row[j + 1]
                s += e * e
            if i < H - 1:
                r1 = u[c, i + 1]
                for j in range(W):
                    e = t0 * row[j] + t1 * r1[j]
                    s += e * e
        else:
            for j in range(W):
                e = t0 * row[j]
                s += 2.0 * e * e
        rows[r] = s
    return row_sum(rows)


@_pjit
def output_difference(image, proposal, residual, alpha, out):
    """``out = alpha * image + residual - proposal``; ``alpha`` per channel (``(C,)``) or
    per pixel (``(C or 1, H, W)``: :func:`bound_row`). Returns ``sum(out^2)`` of the values
    as stored, accumulated in float64 (per row, in order: :func:`row_sum`)."""
    C, H, W = image.shape
    rows = np.empty(C * H)
    for r in nb.prange(C * H):
        c = r // H
        i = r % H
        ar = bound_row(alpha, c, i)
        orow = out[c, i]
        s = 0.0
        for j in range(W):
            orow[j] = bound_at(ar, j) * image[c, i, j] + residual[c, i, j] - proposal[c, i, j]
            e = np.float64(orow[j])   # as stored (float32 rounds it), squared in float64 (Numba's
            #                           float() of a float32 is a float32)
            s += e * e
        rows[r] = s
    return row_sum(rows)


@_jit
def _sobel_normal_at(v, c, p, q, H, W, mode):
    """``(Sx^T Sx + Sy^T Sy) v`` at one pixel, boundary-aware (slow path)."""
    s = 0.0
    for ka in range(3):
        a = _fold_source(ka, p, H, mode)
        if a == -2:
            continue
        for kb in range(3):
            b = _fold_source(kb, q, W, mode)
            if b == -2:
                continue
            # full convolution of (Sx v, Sy v) at padded position (a, b)
            for du in range(-1, 2):
                i = a - du
                if i < 0 or i >= H:
                    continue
                for dv in range(-1, 2):
                    j = b - dv
                    if j < 0 or j >= W:
                        continue
                    gx, gy = _sobel_at(v, c, i, j, H, W, mode)
                    s += (2.0 - abs(du)) * (-dv) * gx + (-du) * (2.0 - abs(dv)) * gy
    return s


@_jit
def _difference_normal_at(v, c, p, q, H, W, taps):
    """``(Dx^T Dx + Dy^T Dy) v`` at one pixel for 'valid' filters (slow path)."""
    k = taps.shape[0] - 1
    s = 0.0
    for m in range(k + 1):
        j = q - m
        if 0 <= j < W - k:
            t = 0.0
            for n in range(k + 1):
                t += taps[n] * v[c, p, j + n]
            s += taps[m] * t
        i = p - m
        if 0 <= i < H - k:
            t = 0.0
            for n in range(k + 1):
                t += taps[n] * v[c, i + n, q]
            s += taps[m] * t
    return s


def normal_matvec(v, out, mode, weight, taps, dot=False, shift=0.0):
    """``out = (S^T S + weight D^T D + shift I) v``: the solver's Hessian.

    ``D`` is the 'valid' difference filter with ``taps`` (at most 3 taps).
    Away from a two-pixel frame this is one fixed 5x5 stencil,

    ``S^T S = [1,4,6,4,1]_y (x) [-1,0,2,0,-1]_x + [-1,0,2,0,-1]_y (x) [1,4,6,4,1]_x``

    plus ``weight`` times the autocorrelation of ``taps`` along x and y and
    ``shift`` at the centre (the level term of :func:`gradfusion.solve`),
    applied by a branch-free (vectorised) kernel. Near the border the stencil
    depends only on the pixel's distance to it: the frame pixels use 24 such
    5x5 stencils, read off the boundary-aware single-pixel path once per
    (mode, weight, taps, shift) by :func:`_frame_table`.

    Returns ``out``, or with ``dot=True`` the float64 inner product
    ``v . out`` (the curvature ``p^T A p`` of a CG step), accumulated in the
    same pass while each row is still in cache.
    """
    taps = tuple(float(t) for t in np.ravel(taps))
    if len(taps) > 3:
        raise ValueError(f"normal_matvec supports at most 3 taps, got {len(taps)}")
    C, H, W = v.shape
    if H < 5 or W < 5 or v.size <= _PROBE * _PROBE:
        # tiny arrays (also the 9x9 float64 probes of the stencil's constants: no fast pass is
        # compiled for them in a float32 solve) take the single-pixel path
        _normal_slow(v, out, mode, float(weight), np.asarray(taps, dtype=v.dtype), float(shift))
        return _row_dot(v.ravel(), out.ravel()) if dot else out
    coef, table = _matvec_constants(int(mode), float(weight), taps, float(shift), v.dtype.str)
    rows = np.empty(C * H if dot else 1)
    none, no_mask = _no_arrays(v.dtype)
    _normal_apply_by_size(v, out, coef, table, APPLY_DOT if dot else APPLY, none, none,
                          no_mask, v.dtype.type(0.0), rows)
    return float(rows.sum()) if dot else out


def normal_pre_smooth(b, mask, s, x, mode, weight, taps, shift=0.0):
    """``x = mask (b - s A b)`` (``A`` :func:`normal_matvec`'s operator): the residual of the
    Richardson step ``s b`` from zero, with each row of ``A b`` used as it is computed
    (``x`` must not be ``b``). ``s`` in the arrays' dtype."""
    ab = _fused_apply(b, PRE_SMOOTH, b, b, mask, s, x, mode, weight, taps, shift)
    if ab is not None:                    # tiny arrays: the product, then the expression
        x[...] = (b - s * ab) * mask
    return x


def normal_post_smooth(e, b, r, mask, s, x, mode, weight, taps, shift=0.0):
    """``x = s b + e + s mask (r - A e)`` and return ``b . x`` (float64, in row order): the
    post-smoothed result of a V-cycle level (``e`` its coarse correction, ``r`` the residual
    before it; ``x`` may be ``r``, not ``e``), each row of ``A e`` used as it is computed."""
    C, H, _ = e.shape
    rows = np.empty(C * H)
    ae = _fused_apply(e, POST_SMOOTH, b, r, mask, s, x, mode, weight, taps, shift, rows)
    if ae is not None:
        x[...] = s * b + e + s * ((r - ae) * mask)
        return float(np.dot(b.ravel().astype(np.float64), x.ravel().astype(np.float64)))
    return row_sum(rows)


def _fused_apply(v, kind, b, r, mask, s, x, mode, weight, taps, shift, rows=None):
    """The fused pass ``kind`` of :func:`_normal_apply_rows`, or on arrays too small for it
    ``A v`` for the caller to finish with NumPy."""
    taps = tuple(float(t) for t in np.ravel(taps))
    C, H, W = v.shape
    if H < 5 or W < 5 or v.size <= _PROBE * _PROBE:
        return normal_matvec(v, np.empty_like(v), mode, weight, taps, shift=shift)
    coef, table = _matvec_constants(int(mode), float(weight), taps, float(shift), v.dtype.str)
    _normal_apply_by_size(v, x, coef, table, kind, b, r, mask, s,
                          rows if rows is not None else np.empty(1))
    return None


#: what :func:`_normal_apply_rows` does with each row of ``A v``: store it (``APPLY``), also
#: take its dot with ``v`` (``APPLY_DOT``), or finish a V-cycle level's smoothing with it
#: (``PRE_SMOOTH``, ``POST_SMOOTH``: :func:`normal_pre_smooth`, :func:`normal_post_smooth`)
APPLY, APPLY_DOT, PRE_SMOOTH, POST_SMOOTH = 0, 1, 2, 3


@functools.lru_cache(maxsize=4)
def _no_arrays(dtype):
    """Placeholders for the arguments a pass of :func:`_normal_apply_rows` does not read (of
    the types it is compiled for: one compiled pass serves every kind)."""
    return np.zeros((1, 1, 1), dtype=dtype), np.zeros((1, 1, 1), dtype=np.uint8)


def add_diagonal(v, d, out, dot=False):
    """``out += d * v``, ``d`` of shape ``(1, H, W)`` (one map for every channel) or
    ``(C, H, W)``: the spatially weighted level term of :func:`gradfusion.solve`.

    Returns ``out``, or with ``dot=True`` the float64 ``v . (d * v)`` (what the
    diagonal adds to ``v . A v``).
    """
    rows = np.empty(v.shape[0] * v.shape[1])
    _add_diagonal(v, d, out, rows)
    return float(rows.sum()) if dot else out


def _add_diagonal_rows(v, d, out, rows):
    C, H, W = v.shape
    per_channel = d.shape[0] > 1
    for r in nb.prange(C * H):
        c = r // H
        i = r % H
        vrow = v[c, i]
        drow = d[c if per_channel else 0, i]
        orow = out[c, i]
        s = 0.0
        for j in range(W):
            t = drow[j] * vrow[j]
            orow[j] += t
            s += t * vrow[j]
        rows[r] = s


#: :func:`add_diagonal`'s pass, serial on small arrays (:class:`gradfusion._jit.BySize`)
_add_diagonal = BySize(_add_diagonal_rows)


@serial_fast
def _row_dot(a, b):
    """``a . b`` of two 1-D arrays, accumulated in float64 (reassociated: vectorised)."""
    s = 0.0
    for j in range(a.shape[0]):
        s += a[j] * b[j]
    return s


@functools.lru_cache(maxsize=32)
def _matvec_constants(mode, weight, taps, shift, dtype):
    """``(coef, frame table)`` of :func:`normal_matvec` for one operator and dtype (cached:
    the solver applies the same operator hundreds of times).

    ``coef = [2 a0 + shift, a1, a2, 2, 4, 6]`` in the array's dtype (float32 products
    stay float32: 2.4x faster than promoting every tap to float64), ``a_k`` the lag-``k``
    autocorrelation of the (zero-extended) taps times ``weight``.
    """
    t = np.zeros(3)
    t[:len(taps)] = taps
    acf = [weight * float(np.dot(t[:3 - lag], t[lag:])) for lag in range(3)]
    coef = np.array([2.0 * acf[0] + shift, acf[1], acf[2], 2.0, 4.0, 6.0],
                    dtype=np.dtype(dtype))
    coef.flags.writeable = False
    return coef, _frame_table(mode, weight, taps, shift)




def _normal_apply_rows(v, out, coef, table, kind, b, r, mask, s, rows):
    """:func:`normal_matvec` for ``H, W >= 5``, in one parallel pass over the rows, and what
    ``kind`` does with each row of ``A v`` while it is in cache:

    * ``APPLY``: ``out = A v``; ``APPLY_DOT``: also ``rows[q] = v[q] . out[q]`` for every
      row ``q`` of the ``(C * H, W)`` view;
    * ``PRE_SMOOTH``: ``out = mask (v - s A v)`` (:func:`normal_pre_smooth`);
    * ``POST_SMOOTH``: ``out = s b + v + s mask (r - A v)``, ``rows[q] = b[q] . out[q]``
      (:func:`normal_post_smooth`; ``out`` may be ``r``).

    Interior rows and columns (2 .. n-3) take the branch-free 5x5 stencil with
    ``coef = [2 a0 + shift, a1, a2, 2, 4, 6]`` in ``v``'s dtype (``a_k``: lag ``k`` of
    the regulariser's autocorrelation times its weight); the two-pixel frame the
    class stencils ``table`` of :func:`_frame_table` (one pass rather than two:
    a parallel launch costs more than the frame's work). The stencil is written once, here:
    as a helper function taking its arrays as arguments it ran 2-3x slower (LLVM cannot
    tell them apart and does not vectorise its loops).
    """
    C, H, W = v.shape
    two_a0, a1, a2 = coef[0], coef[1], coef[2]
    two, four, six = coef[3], coef[4], coef[5]
    n = C * H
    chunks = row_chunks(n)
    for t in nb.prange(chunks):
        # the column buffers once per chunk of rows (an allocation per row cost ~10%)
        d0 = np.empty(W, dtype=v.dtype)
        d1 = np.empty(W, dtype=v.dtype)
        d2 = np.empty(W, dtype=v.dtype)
        av = np.empty(W if kind >= PRE_SMOOTH else 1, dtype=v.dtype)
        for q in range(t * n // chunks, (t + 1) * n // chunks):
            c = q // H
            i = q % H
            orow = out[c, i] if kind <= APPLY_DOT else av
            if i < 2 or i >= H - 2:
                _frame_row(v, c, i, table, orow)
            else:
                r0 = v[c, i - 2]
                r1 = v[c, i - 1]
                r2 = v[c, i]
                r3 = v[c, i + 1]
                r4 = v[c, i + 2]
                # the vertical passes once per column: b = [1,4,6,4,1]_y v and
                # c = [-1,0,2,0,-1]_y v, combined with the regulariser's vertical part into
                # the column sums that the horizontal pass weighs by the column offset: d2
                # (offsets -2, +2: c - b + a2 v), d1 (-1, +1: 4 c + a1 v) and d0 (0: 6 c + 2 b
                # + 2 a0 v + a1 (v_up1 + v_dn1) + a2 (v_up2 + v_dn2)); 23% (float32) and 12%
                # (float64) faster than a horizontal pass reading b, c and v at five offsets
                for j in range(W):
                    s04 = r0[j] + r4[j]
                    s13 = r1[j] + r3[j]
                    x = r2[j]
                    colb = s04 + four * s13 + six * x
                    colc = two * x - s04
                    d2[j] = colc - colb + a2 * x
                    d1[j] = four * colc + a1 * x
                    d0[j] = six * colc + two * colb + two_a0 * x + a1 * s13 + a2 * s04
                for j in range(2, W - 2):
                    orow[j] = (d2[j - 2] + d2[j + 2]) + (d1[j - 1] + d1[j + 1]) + d0[j]
                # (a loop, not four calls with the literals 0 and 1: Numba would compile
                # _frame_point for each literal, three specialisations instead of one)
                for j in (0, 1, W - 2, W - 1):
                    orow[j] = _frame_point(v, c, i, j, H, W, table)
            if kind == APPLY_DOT:
                rows[q] = _row_dot(v[c, i], orow)
            elif kind == PRE_SMOOTH:
                vr, mr, xr = v[c, i], mask[c, i], out[c, i]
                for j in range(W):
                    xr[j] = (vr[j] - s * av[j]) * mr[j]
            elif kind == POST_SMOOTH:
                vr, br, rr, mr, xr = v[c, i], b[c, i], r[c, i], mask[c, i], out[c, i]
                for j in range(W):
                    xr[j] = s * br[j] + vr[j] + s * ((rr[j] - av[j]) * mr[j])
                rows[q] = _row_dot(br, xr)


#: :func:`normal_matvec`'s pass, on the calling thread for arrays under ``SERIAL_CELLS`` cells
#: (each twin compiles on its first use only)
_normal_apply_by_size = BySize(_normal_apply_rows)


@_jit
def _normal_slow(v, out, mode, weight, taps, shift):
    """:func:`normal_matvec` at every pixel by the boundary-aware single-pixel
    paths; serial (images under 5x5 and the 9x9 probe of :func:`_frame_table`)."""
    C, H, W = v.shape
    for c in range(C):
        for i in range(H):
            for j in range(W):
                val = _sobel_normal_at(v, c, i, j, H, W, mode)
                if weight != 0.0:
                    val += weight * _difference_normal_at(v, c, i, j, H, W, taps)
                if shift != 0.0:
                    val += shift * v[c, i, j]
                out[c, i, j] = val


#: side of the probe grid on which the frame stencils are measured: every
#: (row class, column class) of an image with H, W >= 5 occurs in it
_PROBE = 9
#: probe pixel of each class: border 0, 1, interior, second last, last
_PROBE_PIXELS = (0, 1, _PROBE // 2, _PROBE - 2, _PROBE - 1)


@functools.lru_cache(maxsize=32)
def _frame_table(mode, weight, taps, shift=0.0):
    """Coefficients of :func:`normal_matvec` near the border, by position class.

    ``table[rc, cc, 2 + di, 2 + dj]`` is the weight of ``v[p + di, q + dj]``
    in ``out[p, q]`` for a pixel whose row is of class ``rc`` and column of
    class ``cc`` (0, 1: first rows/columns; 2: interior; 3, 4: the last two).
    Read off the single-pixel path as impulse responses on a 9x9 probe: the
    operator reaches two pixels, so a border class looks the same in every
    image of at least 5x5 pixels.
    """
    n = _PROBE
    taps = np.asarray(taps, dtype=np.float64)
    impulse = np.zeros((1, n, n))
    response = np.empty_like(impulse)
    table = np.zeros((5, 5, 5, 5))
    for a in range(n):
        for b in range(n):
            impulse[0, a, b] = 1.0
            _normal_slow(impulse, response, mode, float(weight), taps, float(shift))
            impulse[0, a, b] = 0.0
            for rc, p in enumerate(_PROBE_PIXELS):
                for cc, q in enumerate(_PROBE_PIXELS):
                    if abs(a - p) <= 2 and abs(b - q) <= 2:
                        table[rc, cc, a - p + 2, b - q + 2] = response[0, p, q]
    table.flags.writeable = False           # cached and shared: nobody may change it
    return table


def hessian_columns(shape, mode, weight, taps, shift=0.0):
    """The columns of :func:`normal_matvec`'s operator, for sparse updates.

    Returns ``(table, row_class, col_class)`` with ``table`` from
    :func:`_frame_table` and the border class of every row and column index
    (0, 1: first; 2: interior; 3, 4: last two), so that the column (= row, the
    operator is symmetric) at pixel ``(i, j)`` is the 5x5 stencil
    ``table[row_class[i], col_class[j]]``; None when ``H`` or ``W`` is below 5
    (such images use the single-pixel path, which has no class table).
    """
    _, H, W = shape
    if H < 5 or W < 5:
        return None
    taps = tuple(float(t) for t in np.asarray(taps, dtype=np.float64))
    table = _frame_table(int(mode), float(weight), taps, float(shift))
    return table, _border_classes(H), _border_classes(W)


@_jit
def _position_class(i, n):
    if i < 2:
        return i
    if i >= n - 2:
        return 4 - (n - 1 - i)
    return 2


@_jit
def _border_classes(n):
    """:func:`_position_class` of every index ``0 .. n-1``."""
    out = np.empty(n, dtype=np.int64)
    for i in range(n):
        out[i] = _position_class(i, n)
    return out


@_jit
def _frame_row(v, c, i, table, orow):
    """Row ``i`` of the two-pixel frame (``i < 2`` or ``i >= H - 2``): its interior
    columns share one class stencil and are accumulated stencil entry by stencil
    entry (in :func:`_frame_point`'s order, so the sums are the same), vectorised
    along the row; its first and last two columns take :func:`_frame_point`."""
    C, H, W = v.shape
    rc = _position_class(i, H)
    acc = np.zeros(W)
    for di in range(-2, 3):
        ii = i + di
        if ii < 0 or ii >= H:
            continue
        src = v[c, ii]
        for dj in range(-2, 3):
            k = table[rc, 2, di + 2, dj + 2]
            for j in range(2, W - 2):
                acc[j] += k * src[j + dj]
    for j in range(2, W - 2):
        orow[j] = acc[j]
    for j in (0, 1, W - 2, W - 1):
        orow[j] = _frame_point(v, c, i, j, H, W, table)


@_jit
def _frame_point(v, c, i, j, H, W, table):
    """``(A v)[c, i, j]`` near the border, from the class stencil of its row and column
    classes (:func:`_frame_table`)."""
    rc = _position_class(i, H)
    cc = _position_class(j, W)
    s = 0.0
    for di in range(-2, 3):
        ii = i + di
        if ii < 0 or ii >= H:
            continue
        for dj in range(-2, 3):
            jj = j + dj
            if 0 <= jj < W:
                s += table[rc, cc, di + 2, dj + 2] * v[c, ii, jj]
    return s
