"""Numba kernels that set up a blend's linear system and write its solution back (private).

The padded window of an image around the region (:func:`padded_window`), the
right-hand side of Perez et al.'s discrete equation (:func:`guided_rhs`), the
initial guess (:func:`initial_guess`), and the output (:func:`copy_flat`,
:func:`write_solution`). The padded grid and its cell kinds:
:mod:`~gradfusion._poisson.grid`; the fine operator of the cell kinds:
:func:`~gradfusion._poisson.level_kernels.fine_operator`.
"""

import numba as nb
import numpy as np

from .._stencils import row_sum
from .grid import FIXED, OUTSIDE, UNKNOWN
from .grid import parallel as _pjit
from .grid import parallel_fast as _fpjit
from .grid import serial_fast as _fjit


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
