r"""Cell-centred grid transfers: the coarse-to-fine driver's and the synthesis multigrid's.

``(C, H, W)`` arrays; a coarse cell ``(I, J)`` covers the fine cells
``2I..2I+1 x 2J..2J+1`` (an odd last row or column is its own pair: the edge
replicates). The transfers are

* :func:`downsample`: the 2x2 area average;
* :func:`prolong` (:func:`upsample` without a mask): bilinear interpolation on
  cell centres, separable, with the 1-D weights

  .. math:: (P e)_{2k} = \tfrac34 e_k + \tfrac14 e_{k-1}, \qquad
            (P e)_{2k+1} = \tfrac34 e_k + \tfrac14 e_{k+1}

  (clamped at the ends, where the two weights fall on one coarse cell), times a
  0/1 mask of the fine cells;
* :func:`restrict`: ``cmask * P^T``, the exact transpose of the unmasked
  prolongation, masked on the coarse side (``P^T 1 = 4`` away from the border);
* :func:`coarse_mask`: a coarse cell is on when all the fine cells of its 2x2
  cell are.

One prolongation kernel serves both the masked multigrid transfer and the
driver's upsampling: :func:`upsample` passes a mask of ones (one row, broadcast),
compiled without reassociation (its values are the NumPy reference's bits), the
multigrid's :func:`prolong` with it (fused multiply-adds allowed).

The Poisson hierarchy is vertex-centred and its transfers are fused into its
fine-level passes (:mod:`gradfusion._poisson.fused_kernels`); they are not these.

Every kernel here is a :class:`gradfusion._jit.BySize` pair of twins whose rows are
independent (no float reduction), so the twins agree bitwise. NumPy references:
``tests/reference.py`` and ``tests/test_multigrid.py``.
"""

import types

import numba as nb
import numpy as np

from .._jit import BySize
from .._jit import inline as _inline
from .._jit import parallel as _pjit
from .._stencils import row_chunks


@_pjit
def _downsample(a, out):
    C, H, W = a.shape
    _, Hc, Wc = out.shape
    for r in nb.prange(C * Hc):
        c = r // Hc
        i0 = 2 * (r % Hc)
        i1 = min(i0 + 1, H - 1)
        top = a[c, i0]
        bot = a[c, i1]
        orow = out[c, r % Hc]
        for J in range(Wc):
            j0 = 2 * J
            j1 = min(j0 + 1, W - 1)
            orow[J] = 0.25 * (top[j0] + bot[j0] + top[j1] + bot[j1])


def downsample(a):
    """2x2 area average of a ``(C, H, W)`` array (odd edges replicate).

    Parameters
    ----------
    a : (C, H, W) ndarray
        C-contiguous, float32 or float64.

    Returns
    -------
    (C, (H + 1) // 2, (W + 1) // 2) ndarray
        In ``a``'s dtype.
    """
    C, H, W = a.shape
    out = np.empty((C, (H + 1) // 2, (W + 1) // 2), dtype=a.dtype)
    _downsample(a, out)
    return out


@_inline
def _weight(i, k, nc):
    """Weight of coarse index ``k`` in fine index ``i`` of the 1-D bilinear prolongation
    (``nc`` coarse cells): 0.75 from its own cell ``i // 2``, 0.25 from the neighbour on
    its side (clamped at the ends, where the two weights add up)."""
    own = i // 2
    other = max(own - 1, 0) if i % 2 == 0 else min(own + 1, nc - 1)
    w = 0.0
    if own == k:
        w += 0.75
    if other == k:
        w += 0.25
    return w


def _prolong(coarse, mask, e):
    C, H, W = coarse.shape
    _, Hf, Wf = e.shape
    Cm, Hm = mask.shape[0], mask.shape[1]       # (C, Hf, Wf), or (1, 1, Wf) broadcast
    w0 = e.dtype.type(0.75)
    w1 = e.dtype.type(0.25)
    n, chunks = C * Hf, row_chunks(C * Hf)
    for t in nb.prange(chunks):
        col = np.empty(W + 2, dtype=coarse.dtype)      # the row between, clamped ends
        for r in range(t * n // chunks, (t + 1) * n // chunks):
            c = r // Hf
            i = r % Hf
            k = i // 2
            # fine row 2k lies a quarter cell above coarse row k, 2k + 1 a quarter below
            near = coarse[c, k]
            far = coarse[c, max(k - 1, 0) if i % 2 == 0 else min(k + 1, H - 1)]
            for J in range(W):
                col[J + 1] = w0 * near[J] + w1 * far[J]
            col[0] = col[1]
            col[W + 1] = col[W]
            erow, mrow = e[c, i], mask[c % Cm, i % Hm]
            # fine column 2J: 0.75 col[J] + 0.25 col[J - 1]; 2J + 1: 0.75 col[J] + 0.25 col[J + 1]
            for J in range(Wf // 2):
                erow[2 * J] = (w0 * col[J + 1] + w1 * col[J]) * mrow[2 * J]
                erow[2 * J + 1] = (w0 * col[J + 1] + w1 * col[J + 2]) * mrow[2 * J + 1]
            if Wf % 2:
                J = Wf // 2
                erow[2 * J] = (w0 * col[J + 1] + w1 * col[J]) * mrow[2 * J]


def _restrict(fine, cmask, out):
    C, H, W = fine.shape
    _, Hc, Wc = out.shape
    w0 = fine.dtype.type(0.75)
    w1 = fine.dtype.type(0.25)
    last = (W - 3) // 2            # the last coarse column whose four fine columns exist
    n, chunks = C * Hc, row_chunks(C * Hc)
    for t in nb.prange(chunks):
        acc = np.empty(W, dtype=fine.dtype)
        for r in range(t * n // chunks, (t + 1) * n // chunks):
            c = r // Hc
            k = r % Hc
            if 1 <= k and 2 * k + 2 <= H - 1 and k <= Hc - 2:
                # an interior row: its four fine rows with weights 1/4, 3/4, 3/4, 1/4 in one
                # pass (one read of each row and one write of acc, not five passes over acc:
                # at 1280x720x3 2.3 -> 1.7 ms float32, 4.4 -> 2.2 ms float64)
                s0, s1 = fine[c, 2 * k - 1], fine[c, 2 * k]
                s2, s3 = fine[c, 2 * k + 1], fine[c, 2 * k + 2]
                for j in range(W):
                    acc[j] = w1 * (s0[j] + s3[j]) + w0 * (s1[j] + s2[j])
            else:
                acc[:] = 0.0
                for i in range(max(2 * k - 1, 0), min(2 * k + 3, H)):
                    w = fine.dtype.type(_weight(i, k, Hc))
                    src = fine[c, i]
                    for j in range(W):
                        acc[j] += w * src[j]
            orow = out[c, k]
            mrow = cmask[c, k]
            for L in range(1, last + 1):
                j = 2 * L
                orow[L] = (w1 * (acc[j - 1] + acc[j + 2]) + w0 * (acc[j] + acc[j + 1])) * mrow[L]
            for L in range(Wc):
                if 1 <= L <= last:
                    continue              # done above
                s = 0.0
                for j in range(max(2 * L - 1, 0), min(2 * L + 3, W)):
                    s += _weight(j, L, Wc) * acc[j]
                orow[L] = s * mrow[L]


def _coarse_mask(fine, out):
    C, H, W = fine.shape
    _, Hc, Wc = out.shape
    for r in nb.prange(C * Hc):
        c = r // Hc
        k = r % Hc
        top = fine[c, 2 * k]
        bot = fine[c, min(2 * k + 1, H - 1)]
        orow = out[c, k]
        for L in range(Wc):
            j0 = 2 * L
            j1 = min(j0 + 1, W - 1)
            orow[L] = top[j0] & bot[j0] & top[j1] & bot[j1]


def _renamed(func, suffix):
    """A copy of ``func`` named ``<name><suffix>``: its own entries in Numba's disk cache (a
    cache is keyed by qualified name and signature, not by the compile flags)."""
    twin = types.FunctionType(func.__code__, func.__globals__, func.__name__ + suffix,
                              func.__defaults__, func.__closure__)
    twin.__qualname__ = func.__qualname__ + suffix
    twin.__module__ = func.__module__
    return twin


restrict = BySize(_restrict, fast=True, doc="""``restrict(fine, cmask, out)``: ``out = cmask * P^T
fine``, the transpose of the bilinear prolongation, masked. Coarse cell ``K`` gathers the fine
indices ``2K-1 .. 2K+2`` of each axis with weights ``0.25, 0.75, 0.75, 0.25`` (the clamped ends
from the 1-D weights); computed in the arrays' dtype.""")
prolong = BySize(_prolong, fast=True, size_arg=2, doc="""``prolong(coarse, mask, e)``: ``e = mask *
P coarse``, the bilinear prolongation on the cells where ``mask`` (uint8, ``e``'s shape or one row
``(1, 1, W)`` broadcast) is 1.""")
_upsample = BySize(_renamed(_prolong, "_exact"), size_arg=2, doc="""``prolong`` without
reassociation or fused multiply-adds (the driver's :func:`upsample`).""")
coarse_mask = BySize(_coarse_mask, doc="""``coarse_mask(fine, out)``: a coarse variable is free when
all the fine variables of its 2x2 cell are (an odd last row or column is its own pair, as in
:func:`downsample`).""")


def upsample(a, shape):
    """Bilinear 2x upsampling of ``a`` to ``shape`` (the inverse grid of :func:`downsample`).

    Parameters
    ----------
    a : (C, H, W) ndarray
        C-contiguous, float32 or float64.
    shape : tuple of int
        ``(C, Hf, Wf)`` with ``Hf`` in ``2H - 1 .. 2H`` and ``Wf`` in ``2W - 1 .. 2W``.

    Returns
    -------
    ndarray of ``shape``, in ``a``'s dtype

    Notes
    -----
    On cell centres: fine cell ``2k`` is ``0.75 a[k] + 0.25 a[k-1]``, cell
    ``2k+1`` is ``0.75 a[k] + 0.25 a[k+1]`` (edges clamp), along rows, then
    along columns; ``shape`` crops an odd size (:func:`prolong` with every cell
    on). Linear rather than pixel replication: a blocky warm start carries
    high-frequency error that the fine solve would have to remove (measured:
    467 instead of 513 fine-scale iterations at 1024x928, tol 1e-4).
    """
    C, H, W = a.shape
    if (len(shape) != 3 or shape[0] != C or not 2 * H - 1 <= shape[1] <= 2 * H
            or not 2 * W - 1 <= shape[2] <= 2 * W):
        raise ValueError(f"upsample: shape {tuple(shape)} is not a 2x upsampling of {a.shape}")
    out = np.empty(tuple(shape), dtype=a.dtype)
    _upsample(a, np.ones((1, 1, shape[2]), dtype=np.uint8), out)
    return out
