"""The Numba kernels of the StayPositive baseline (private): its loss at an affine residual.

:func:`gradfusion.baselines.stay_positive` searches the residual ``R = a P + b`` (one pair
``(a, b)``, or one per channel) that minimises the StayPositive loss. It evaluates that loss
on compressed samples: the pixels' ``(alpha I, P, 1 - alpha, channel, N(P))`` rows with
equal values merged, each with its count as its weight ``w`` (exact: the loss is a weighted
mean). The arrays, all of one length ``n``:

``lo``  ``alpha I`` of the sample (the output is ``lo + clip(R, 0, u)``)
``p``   the proposal ``P``
``u``   the upper bound ``1 - alpha`` of the residual
``t``   the min-max normalised proposal ``N(P)``
``w``   the weight (a count)
``ch``  the channel (int64), the index into the parameters ``A``, ``B`` (all 0 for a
        pair shared by the channels)

:func:`affine_loss` evaluates one point; :func:`affine_loss_grid` many (the global grid
search), each point on its own (parallel over the points on large inputs: a
:class:`gradfusion._jit.BySize` pair, whose twins give the same bits). NumPy's error
model (``numpy_errors``), as Poisson editing's kernels: no division raises. The plain
NumPy references are ``tests/reference.py``'s ``affine_loss`` and ``affine_loss_grid``.
"""

import numba as nb
import numpy as np

from ._jit import jit

__all__ = ["affine_loss", "affine_loss_grid"]

# the flags are gradfusion._jit's; NumPy's error model, as the Poisson kernels
_serial = jit(numpy_errors=True)
_parallel = jit(parallel=True, numpy_errors=True)


@_serial
def affine_loss(A, B, ch, lo, p, u, t, w, penalty):
    """StayPositive loss of ``R = A[ch] p + B[ch]`` over the weighted samples.

    Returns ``(loss, fidelity, violation)`` (weighted means): ``violation`` the mean of
    ``|clip(R, 0, u) - R|``, ``fidelity`` the mean of ``|t - N(O)|`` for the output
    ``O = lo + clip(R, 0, u)`` (``N(O) = 0`` for a constant output), ``loss = fidelity +
    penalty * violation``.
    """
    n = lo.size
    mn = np.inf
    mx = -np.inf
    viol = 0.0
    wsum = 0.0
    for k in range(n):
        r = A[ch[k]] * p[k] + B[ch[k]]
        rc = min(max(r, 0.0), u[k])
        viol += w[k] * abs(rc - r)
        o = lo[k] + rc
        mn = min(mn, o)
        mx = max(mx, o)
        wsum += w[k]
    fid = 0.0
    if mx > mn:
        inv = 1.0 / (mx - mn)
        for k in range(n):
            r = A[ch[k]] * p[k] + B[ch[k]]
            o = lo[k] + min(max(r, 0.0), u[k])
            fid += w[k] * abs(t[k] - (o - mn) * inv)
    else:
        for k in range(n):
            fid += w[k] * t[k]
    fid /= wsum
    viol /= wsum
    return fid + penalty * viol, fid, viol


@_parallel
def affine_loss_grid(As, Bs, which, A0, B0, ch, lo, p, u, t, w, penalty, out):
    """``out[g]``: the loss at ``(As[g], Bs[g])`` put in channel ``which`` of the parameters
    ``(A0, B0)`` (in every channel if ``which`` is -1)."""
    for g in nb.prange(As.size):
        A = A0.copy()
        B = B0.copy()
        if which < 0:
            A[:] = As[g]
            B[:] = Bs[g]
        else:
            A[which] = As[g]
            B[which] = Bs[g]
        out[g] = affine_loss(A, B, ch, lo, p, u, t, w, penalty)[0]
