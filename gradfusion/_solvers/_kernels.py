"""Fused Numba vector kernels of the bound-constrained QP solver.

The feasible set is the box ``0 <= x <= upper``: ``upper`` holds one bound per channel
(shape ``(C,)``) or one per pixel (``(C, H, W)``, or ``(1, H, W)`` shared by the channels:
an alpha map), read through :func:`gradfusion._stencils.bound_row` / ``bound_at``, which
pick the access at compile time (the per-channel kernels read a scalar per row, as before);
arrays are ``(C, H, W)``.  Fusing the MPRGP bookkeeping into single passes keeps the
solver memory-bound on the Hessian product, not on NumPy temporaries.
Plain NumPy references live in ``tests/reference.py``.
"""

import numba as nb
import numpy as np

from .._jit import inline as _inline
from .._jit import parallel_fast as _pjit
from .._jit import serial as _jit
from .._stencils import bound_at, bound_row, bound_row_near, column_sum, row_chunks, row_sum


@_inline
def _kkt_point(xi, gi, hi, inv_abar):
    """One variable's share of the KKT measures: ``(free, beta^2, phi~ phi, projected gradient)``.

    At a bound the chopped gradient ``beta`` (the part pointing into the box)
    is the projected gradient; a free variable contributes its reduced free
    gradient ``phi~`` (the step ``abar`` would not cross a bound) times ``g``.
    The bound tests become 0/1 factors and every branch a select, so that the
    row loops calling this vectorise (boolean selects shared between several
    results kept LLVM from vectorising them: 6x slower).
    """
    at_lo = 1.0 if xi <= 0.0 else 0.0
    at_hi = 1.0 if xi >= hi else 0.0
    free = 1.0 - at_lo - at_hi
    gp = free * gi + at_lo * min(gi, 0.0) + at_hi * max(gi, 0.0)
    beta = gp - free * gi
    room = xi * inv_abar if gi > 0.0 else (xi - hi) * inv_abar
    pt = min(room, gi) if gi > 0.0 else max(room, gi)
    return free, beta * beta, free * pt * gi, gp


#: lanes of the running maximum in :func:`_row_max` (a multiple of the SIMD width)
_LANES = 8


@_inline
def _row_max(buf, n, lanes):
    """``max(buf[:n])`` of non-negative values with ``_LANES`` independent running maxima
    (``lanes``: a scratch buffer of ``_LANES`` values of ``buf``'s dtype, the caller's, so
    that no row allocates).

    A single running maximum is a loop-carried dependence that LLVM does not
    vectorise inside a larger loop body; the measures passes therefore store
    the squared projected gradient of a row and reduce it here.
    """
    for k in range(_LANES):
        lanes[k] = 0.0
    m = n - n % _LANES
    for j0 in range(0, m, _LANES):
        for k in range(_LANES):
            q = buf[j0 + k]
            lanes[k] = q if q > lanes[k] else lanes[k]
    # a plain loop rather than lanes[:] = 0 and lanes.max(): the same values (the lanes
    # hold no NaN), without compiling NumPy's slicing and max into every caller
    best = lanes[0]
    for k in range(1, _LANES):
        best = max(best, lanes[k])
    for j in range(m, n):
        best = max(best, buf[j])
    return best


@_pjit
def projected_gradient_measures(x, g, upper, abar):
    """One pass over the KKT state of the box QP.

    Returns ``(beta2, phit_phi, gp_inf, gp2)``: the squared norm of the
    chopped gradient, ``phi~ . phi`` (reduced free gradient times free
    gradient), and the inf- and squared 2-norm of the projected gradient.
    """
    C, H, W = x.shape
    rows = np.zeros((C * H, 4))
    inv_abar = 1.0 / abar
    n, chunks = C * H, row_chunks(C * H)
    for t in nb.prange(chunks):
        gp_sq, lanes = np.empty(W), np.empty(_LANES)
        for r in range(t * n // chunks, (t + 1) * n // chunks):
            c = r // H
            i = r % H
            _measure_row(x[c, i], g[c, i], bound_row(upper, c, i), inv_abar, x[c, i], 0.0, False, rows[r],
                         gp_sq, lanes)
    return _sum_rows(rows)


@_inline
def _measure_row(xr, gr, hr, inv_abar, pr, gamma, update_p, out, gp_sq, lanes):
    """Row share of :func:`projected_gradient_measures`: ``out[:4] = (beta^2, phi~ phi,
    |gp|^2, max gp^2)`` summed over the row (the maximum from an L1 row buffer);
    with ``update_p`` also ``pr = phi - gamma pr`` on the free variables, 0 elsewhere,
    and ``out[4] = g . p`` of the new ``p``. ``hr``: the row's bounds (:func:`bound_row`)."""
    W = xr.shape[0]
    s_beta = 0.0
    s_pt = 0.0
    s_gp = 0.0
    s_gdir = 0.0
    for j in range(W):
        gi = gr[j]
        xi = xr[j]
        free, b2, pt_phi, gp = _kkt_point(xi, gi, bound_at(hr, j), inv_abar)
        if update_p:
            pr[j] = free * (gi - gamma * pr[j])
            s_gdir += gi * pr[j]       # p as stored: float32 rounds it, and the next step uses that p
        s_beta += b2
        s_pt += pt_phi
        q = gp * gp
        s_gp += q
        gp_sq[j] = q
    out[0] = s_beta
    out[1] = s_pt
    out[2] = s_gp
    out[3] = _row_max(gp_sq, W, lanes)
    if update_p:
        out[4] = s_gdir


@_inline
def _feasible_step(xj, pj, hi):
    """Largest ``t >= 0`` with ``0 <= xj - t pj <= hi`` (``inf`` if ``pj == 0``): a select,
    then one division (branch-free, for loops that vectorise)."""
    room = xj if pj > 0.0 else xj - hi
    t = room / (pj if pj != 0.0 else 1.0)
    return t if pj != 0.0 else np.inf


@_jit
def _sum_rows(rows):
    """``(beta2, phit_phi, gp_inf, gp2)`` from the per-row partial results."""
    beta2 = 0.0
    ptp = 0.0
    gp2 = 0.0
    gp_sq_max = 0.0
    for r in range(rows.shape[0]):
        beta2 += rows[r, 0]
        ptp += rows[r, 1]
        gp2 += rows[r, 2]
        gp_sq_max = max(gp_sq_max, rows[r, 3])
    return beta2, ptp, np.sqrt(gp_sq_max), gp2


@_pjit
def free_gradient(x, g, upper, out):
    """``out = g`` on free variables, 0 on variables at a bound."""
    C, H, W = x.shape
    for r in nb.prange(C * H):
        c = r // H
        i = r % H
        hr = bound_row(upper, c, i)
        for j in range(W):
            hi = bound_at(hr, j)
            xi = x[c, i, j]
            out[c, i, j] = g[c, i, j] if (xi > 0.0 and xi < hi) else 0.0


@_pjit
def chopped_gradient(x, g, upper, out):
    """The part of ``g`` at a bound that points into the box (else 0)."""
    C, H, W = x.shape
    for r in nb.prange(C * H):
        c = r // H
        i = r % H
        hr = bound_row(upper, c, i)
        for j in range(W):
            hi = bound_at(hr, j)
            xi = x[c, i, j]
            gi = g[c, i, j]
            if xi <= 0.0:
                out[c, i, j] = min(gi, 0.0)
            elif xi >= hi:
                out[c, i, j] = max(gi, 0.0)
            else:
                out[c, i, j] = 0.0


@_pjit
def max_feasible_step(x, p, upper):
    """Largest ``a >= 0`` with ``x - a p`` inside the box (inf if unbounded)."""
    C, H, W = x.shape
    step = np.inf
    for r in nb.prange(C * H):
        c = r // H
        i = r % H
        hr = bound_row(upper, c, i)
        for j in range(W):
            hi = bound_at(hr, j)
            step = min(step, _feasible_step(x[c, i, j], p[c, i, j], hi))
    return max(step, 0.0)


@_pjit
def dot(a, b):
    """``sum(a * b)`` accumulated in float64 (per row, the rows in order: :func:`row_sum`)."""
    C, H, W = a.shape
    rows = np.empty(C * H)
    for r in nb.prange(C * H):
        c = r // H
        i = r % H
        s = 0.0
        for j in range(W):
            s += a[c, i, j] * b[c, i, j]
        rows[r] = s
    return row_sum(rows)


@_pjit
def step_and_update(x, g, p, ap, step):
    """``x -= step p`` and ``g -= step A p`` in one pass."""
    C, H, W = x.shape
    for r in nb.prange(C * H):
        c = r // H
        i = r % H
        for j in range(W):
            x[c, i, j] -= step * p[c, i, j]
            g[c, i, j] -= step * ap[c, i, j]


@_pjit
def projected_step(x, d, upper, step):
    """``x = clip(x - step d, 0, upper)``."""
    C, H, W = x.shape
    for r in nb.prange(C * H):
        c = r // H
        i = r % H
        hr = bound_row(upper, c, i)
        for j in range(W):
            hi = bound_at(hr, j)
            x[c, i, j] = min(max(x[c, i, j] - step * d[c, i, j], 0.0), hi)


@_pjit
def residual_gradient(ax, b, out):
    """``out = ax - b``."""
    C, H, W = ax.shape
    for r in nb.prange(C * H):
        c = r // H
        i = r % H
        for j in range(W):
            out[c, i, j] = ax[c, i, j] - b[c, i, j]


@_pjit
def cg_scalars(x, g, p, ap, b):
    """``(p.Ap, g.p, x.g, x.b)`` in one pass."""
    C, H, W = x.shape
    rows = np.empty((C * H, 4))
    for r in nb.prange(C * H):
        c = r // H
        i = r % H
        xr, gr, pr, apr, br = x[c, i], g[c, i], p[c, i], ap[c, i], b[c, i]
        pap = 0.0
        gp = 0.0
        xg = 0.0
        xb = 0.0
        for j in range(W):
            pj = pr[j]
            xj = xr[j]
            pap += pj * apr[j]
            gp += gr[j] * pj
            xg += xj * gr[j]
            xb += xj * br[j]
        rows[r, 0] = pap
        rows[r, 1] = gp
        rows[r, 2] = xg
        rows[r, 3] = xb
    return column_sum(rows, 0), column_sum(rows, 1), column_sum(rows, 2), column_sum(rows, 3)


@_pjit
def conjugate_direction_measures(x, g, upper, p, gamma, abar):
    """``p = phi(x) - gamma p`` on the free variables (0 elsewhere) and
    :func:`projected_gradient_measures`, in one pass; also the next step's ``g . p``.

    Returns ``(beta2, phit_phi, gp_inf, gp2, g_dot_p)``. (The feasible step along
    ``-p`` is not formed here: the step's projection finds whether the CG step
    leaves the box, and :func:`sparse_correction` the feasible step when it does.
    Its division per variable cost a quarter of this pass.)
    """
    C, H, W = x.shape
    rows = np.zeros((C * H, 5))
    inv_abar = 1.0 / abar
    n, chunks = C * H, row_chunks(C * H)
    for t in nb.prange(chunks):
        gp_sq, lanes = np.empty(W), np.empty(_LANES)
        for r in range(t * n // chunks, (t + 1) * n // chunks):
            c = r // H
            i = r % H
            _measure_row(x[c, i], g[c, i], bound_row(upper, c, i), inv_abar, p[c, i], gamma, True, rows[r],
                         gp_sq, lanes)
    beta2, ptp, gp_inf, gp2 = _sum_rows(rows)
    gdir = 0.0
    for r in range(C * H):
        gdir += rows[r, 4]
    return beta2, ptp, gp_inf, gp2, gdir


@_pjit
def gradient_and_dots(ax, b, x, upper, v, g):
    """``g = ax - b`` (``ax`` may be ``g`` itself); returns ``(x.g, x.b, phi(x).v)``."""
    C, H, W = x.shape
    rows = np.empty((C * H, 3))
    for r in nb.prange(C * H):
        c = r // H
        i = r % H
        hr = bound_row(upper, c, i)
        xg = 0.0
        xb = 0.0
        fv = 0.0
        for j in range(W):
            hi = bound_at(hr, j)
            gi = ax[c, i, j] - b[c, i, j]
            g[c, i, j] = gi
            xi = x[c, i, j]
            xg += xi * gi
            xb += xi * b[c, i, j]
            if xi > 0.0 and xi < hi:
                fv += gi * v[c, i, j]
        rows[r, 0] = xg
        rows[r, 1] = xb
        rows[r, 2] = fv
    return column_sum(rows, 0), column_sum(rows, 1), column_sum(rows, 2)


# --------------------------------------------------------------------------- sparse gradient correction


@_pjit
def project_step_update(x, g, p, ap, b, upper, step, saved, row_clips):
    """``saved = x``; ``x = clip(x - step p, 0, upper)``; ``g -= step A p``.

    ``g`` becomes the gradient at the *unclipped* point ``x - step p``;
    ``row_clips[c * H + i] = (n, first, stop)``: the number of variables of row
    ``(c, i)`` that the projection moved (they need :func:`sparse_correction`) and
    the span of their columns, ``first .. stop - 1`` (``(0, W, 0)`` for none), so
    that the correction reads only that span of the row. Returns their total and
    the dot products ``(x.g, x.b, phi(x).Ap)`` at the new ``x`` with this ``g``
    (:func:`sparse_correction` returns what its update adds to the first and
    third, so that no step needs a further pass for them).
    """
    C, H, W = x.shape
    sums = np.empty((C * H, 3))
    for r in nb.prange(C * H):
        c = r // H
        i = r % H
        hr = bound_row(upper, c, i)
        xg = 0.0
        xb = 0.0
        fv = 0.0
        xr = x[c, i]
        gr = g[c, i]
        pr = p[c, i]
        apr = ap[c, i]
        br = b[c, i]
        sr = saved[c, i]
        n = 0
        first = W
        stop = 0
        for j in range(W):
            hi = bound_at(hr, j)
            xo = xr[j]
            y = xo - step * pr[j]
            xn = min(max(y, 0.0), hi)
            sr[j] = xo
            xr[j] = xn
            gr[j] -= step * apr[j]
            moved = xn != y
            n += 1 if moved else 0
            first = min(first, j if moved else W)     # integer min/max reductions: vectorise
            stop = max(stop, j + 1 if moved else 0)
            xn = xr[j]                 # the dots of the values as stored (float32 rounds them)
            gn = gr[j]
            xg += xn * gn
            xb += xn * br[j]
            fv += gn * apr[j] if (xn > 0.0 and xn < hi) else 0.0
        row_clips[r, 0] = n
        row_clips[r, 1] = first
        row_clips[r, 2] = stop
        sums[r, 0] = xg
        sums[r, 1] = xb
        sums[r, 2] = fv
    total = 0
    for r in range(C * H):
        total += row_clips[r, 0]
    return total, column_sum(sums, 0), column_sum(sums, 1), column_sum(sums, 2)


@_pjit
def sparse_correction(x, saved, p, step, upper, row_clips, table, row_class, col_class, g, ap):
    """``g += A (x - (saved - step p))``: the columns of ``A`` of the variables that
    :func:`project_step_update` clipped (at a bound now, and moved by the clip; each
    row is read only in the span of its clipped columns that ``row_clips`` holds).

    ``A`` is symmetric, so its column at ``q`` is its row there: the 5x5 stencil
    ``table[row_class[i], col_class[j]]`` (``table[rc, cc, 2 + di, 2 + dj]``: the
    weight of ``v[i + di, j + dj]`` in ``(A v)[i, j]``). Channels in parallel, the
    rows of a channel in order (the columns of neighbouring variables overlap).

    Returns what the update adds to ``x.g`` and to ``phi(x).ap`` (``phi`` the
    free part of ``g``; ``x`` is not changed here), and the largest feasible step
    along ``-p`` from ``saved``: the smallest ratio of a clipped variable (the
    others reach no bound before ``step``), as :func:`max_feasible_step` of
    ``saved`` would give it (``inf`` if no variable was clipped).
    """
    C, H, W = x.shape
    first_bound = np.full(C, np.inf)
    sums = np.empty((C, 2))               # per channel, added in channel order
    for c in nb.prange(C):
        hc = bound_row(upper, c, 0)         # per channel: the channel's bound, read once
        a_f = np.inf
        dxg = 0.0
        dfv = 0.0
        for i in range(H):
            if row_clips[c * H + i, 0] == 0:
                continue
            rc = row_class[i]
            hr = bound_row_near(upper, hc, c, i)
            for j in range(row_clips[c * H + i, 1], row_clips[c * H + i, 2]):
                hi = bound_at(hr, j)
                xn = x[c, i, j]
                if xn != 0.0 and xn != hi:
                    continue
                d = xn - (saved[c, i, j] - step * p[c, i, j])
                if d == 0.0:
                    continue
                a_f = min(a_f, _feasible_step(saved[c, i, j], p[c, i, j], hi))
                cc = col_class[j]
                for di in range(-2, 3):
                    ii = i + di
                    if ii < 0 or ii >= H:
                        continue
                    hq_row = bound_row_near(upper, hr, c, ii)
                    for dj in range(-2, 3):
                        jj = j + dj
                        if 0 <= jj < W:
                            t = table[rc, cc, di + 2, dj + 2] * d
                            g[c, ii, jj] += t
                            xq = x[c, ii, jj]
                            dxg += xq * t
                            hq = bound_at(hq_row, jj)     # per channel: hi itself
                            dfv += t * ap[c, ii, jj] if (xq > 0.0 and xq < hq) else 0.0
        first_bound[c] = a_f
        sums[c, 0] = dxg
        sums[c, 1] = dfv
    smallest = np.inf                  # first_bound.min(), without compiling NumPy's min
    for c in range(C):
        smallest = min(smallest, first_bound[c])
    return column_sum(sums, 0), column_sum(sums, 1), max(smallest, 0.0)


@_pjit
def add_columns(x, saved, moves, table, row_class, col_class, g):
    """``g += A (x - saved)`` from the columns of ``A`` of the variables that moved.

    ``moves[c * H + i] = (n, first, stop)`` holds the number of moved variables of row
    ``(c, i)`` and their column span (``first .. stop - 1``), as
    :func:`gradfusion._solvers._mg_kernels.active_set` and ``project_box`` record them;
    the column of ``A`` at ``(i, j)`` is the 5x5 stencil
    ``table[row_class[i], col_class[j]]``, as for :func:`sparse_correction`. Keeps the
    gradient ``g = A x - b`` current when a few variables move, for the price of their
    columns instead of a product with ``A``. Channels in parallel, the rows of a channel
    in order (the columns of neighbouring variables overlap).
    """
    C, H, W = x.shape
    for c in nb.prange(C):
        for i in range(H):
            q = c * H + i
            if moves[q, 0] == 0:
                continue
            rc = row_class[i]
            for j in range(moves[q, 1], moves[q, 2]):
                d = x[c, i, j] - saved[c, i, j]
                if d == 0.0:
                    continue
                stencil = table[rc, col_class[j]]
                for ii in range(max(i - 2, 0), min(i + 3, H)):
                    for jj in range(max(j - 2, 0), min(j + 3, W)):
                        g[c, ii, jj] += stencil[ii - i + 2, jj - j + 2] * d


# --------------------------------------------------------------------------- the gap estimate


@_pjit
def gap_measures(x, g, target, b, upper, row_sum, gp):
    """The vectors and sums of the gap estimate (:mod:`gradfusion._solvers.gap`), in one pass.

    Writes the projected gradient into ``gp`` (``g`` on free variables, its part pointing
    into the box at a bound, 0 otherwise) and returns ``((x - t) . g, sum (s |x| + |b|)^2,
    |gp|^2)`` (``t`` the ``target``, ``s`` the Hessian's largest absolute row sum): twice the
    objective in sum form, the rounding model's sum and the squared projected gradient,
    accumulated per row in float64 and summed in row order (deterministic).
    """
    C, H, W = x.shape
    n, chunks = C * H, row_chunks(C * H)
    rows = np.zeros((n, 3))
    for t in nb.prange(chunks):
        for r in range(t * n // chunks, (t + 1) * n // chunks):
            c = r // H
            i = r % H
            hr = bound_row(upper, c, i)
            xr, gr, tr, br, pr = x[c, i], g[c, i], target[c, i], b[c, i], gp[c, i]
            s_phi = 0.0
            s_noise = 0.0
            s_gp = 0.0
            for j in range(W):
                hi = bound_at(hr, j)
                xi = xr[j]
                gi = gr[j]
                at_lo = 1.0 if xi <= 0.0 else 0.0
                at_hi = 1.0 if xi >= hi else 0.0
                v = (1.0 - at_lo - at_hi) * gi + at_lo * min(gi, 0.0) + at_hi * max(gi, 0.0)
                pr[j] = v
                s_gp += v * v
                s_phi += (xi - tr[j]) * gi
                e = row_sum * abs(xi) + abs(br[j])
                s_noise += e * e
            rows[r, 0] = s_phi
            rows[r, 1] = s_noise
            rows[r, 2] = s_gp
    phi2 = 0.0
    noise = 0.0
    gp2 = 0.0
    for r in range(n):
        phi2 += rows[r, 0]
        noise += rows[r, 1]
        gp2 += rows[r, 2]
    return phi2, noise, gp2
