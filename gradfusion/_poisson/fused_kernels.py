"""Numba kernels of the fine level fused into the conjugate gradients (private).

The fine-level work of one conjugate-gradient iteration is two fused passes
(:func:`fused_step_presmooth`, :func:`fused_prolong_postsmooth`); each walks
the rows once as a wavefront (stage one on row ``t``, stage two on ``t - 1``,
...), which performs the same arithmetic as separate whole-grid sweeps of
:mod:`~gradfusion._poisson.level_kernels`. They read the fine operator as int8
neighbour counts (one byte per cell instead of the mask, diagonal and inverse
diagonal as doubles), and the second pass returns ``<z, A z>`` and
``<z, A p>``, from which the next direction's curvature follows without a pass
of its own (no ``q = A p`` is stored). Also here: the recomputed residual and
its norms (:func:`count_residual`), the single-level solver's direction and
product (:func:`fused_direction_apply`) and the per-channel inner products
(:func:`dots`).

Row spans and (channel, row band) units: :mod:`~gradfusion._poisson.grid`.
"""

import numba as nb
import numpy as np

from .._stencils import row_sum
from .grid import parallel_fast as _fpjit
from .grid import serial_fast as _fjit
from .level_kernels import _prolong_row, _restrict_row

#: ``1 / d`` by neighbour count ``d`` (0 for cells that are not unknowns)
_INV_COUNT = np.array([0.0, 1.0, 1.0 / 2.0, 1.0 / 3.0, 1.0 / 4.0])


@_fjit
def _apply_row(count, v, i, out, jlo, jhi):
    """``out[jlo:jhi] = (A v)[i, jlo:jhi]`` for the fine operator given by the neighbour
    counts ``count`` (int8, 0 off the unknowns), 0 off the unknowns; ``v`` is 0 off the
    unknowns. Like every span loop here, over views from ``jlo - 1`` (see
    :func:`~.level_kernels._restrict_row`)."""
    o = jlo - 1
    cv, vm, v0, vp, ov = count[i, o:], v[i - 1, o:], v[i, o:], v[i + 1, o:], out[o:]
    for k in range(1, jhi - o):
        d = cv[k]
        on = 1.0 if d > 0 else 0.0
        ov[k] = on * (d * v0[k] - vm[k] - vp[k] - v0[k - 1] - v0[k + 1])


@_fjit
def _gs_count_row(count, b, x, i, color, buf, jlo, jhi):
    """:func:`~.level_kernels._gs_row` with ``inv_d`` looked up from the neighbour counts, on
    the columns ``[jlo, jhi)`` (the row's unknowns lie there)."""
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
    """``r = b - A x`` on the row spans of unknowns (:func:`~.grid.row_spans`; ``r`` must be 0
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
    is processed on its span of unknowns (:func:`~.grid.row_spans`), where the
    fields can be nonzero.

    A wavefront over the rows (:func:`_step_stage`): on row ``t`` the new
    direction, on ``t - 1`` the step (``A p`` needs the new ``p`` of rows
    ``t - 2 .. t``) and the red cells, on ``t - 2`` the black cells, on
    ``t - 3`` the smoother's residual and its restriction. ``z`` is read (the
    old preconditioned residual) on row ``t`` before it is overwritten on row
    ``t - 1``, so one array serves. With ``first`` (the solver's first pass)
    there is no step: ``r = b - A x`` is formed instead (``x`` and ``p`` are
    not touched) and the V-cycle started.

    The (channel, row band) units of ``edges`` (:func:`~.grid.band_edges`) run in
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
