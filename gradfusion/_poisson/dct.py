"""Neumann Poisson solves by DCT, and the forward differences they invert (private).

:func:`gradfusion.poisson.reconstruct` and :func:`gradfusion.poisson.color2gray` solve
``(D^T D + weight I) x = rhs`` exactly, with ``D`` the forward differences of
:class:`gradfusion.ForwardDifference` (Neumann boundary): ``D^T D`` is diagonalised by the
orthonormal 2-D DCT-II (:func:`neumann_eigenvalues`), so one transform pair per channel
solves it (:func:`screened_poisson`).
"""

import numpy as np
import scipy.fft

from ..operators import ForwardDifference


def neumann_eigenvalues(H, W, dtype=np.float64):
    """Eigenvalues of ``D^T D`` (5-point Neumann Laplacian) in the DCT-II basis."""
    ky = 4.0 * np.sin(np.pi * np.arange(H) / (2.0 * H)) ** 2
    kx = 4.0 * np.sin(np.pi * np.arange(W) / (2.0 * W)) ** 2
    return (ky[:, None] + kx[None, :]).astype(dtype)


def forward_difference(shape, dtype):
    """:class:`gradfusion.ForwardDifference` of one ``(H, W)`` channel of ``shape``
    ``(C, H, W)`` (its :meth:`~gradfusion.ForwardDifference.gradients` and
    :meth:`~gradfusion.ForwardDifference.gradients_adjoint` take any number of channels)."""
    dtype = np.float32 if np.dtype(dtype) == np.float32 else np.float64
    return ForwardDifference(tuple(shape[1:]), dtype=dtype)


def divergence_adjoint(gx, gy):
    """``D^T (gx, gy)`` for ``(C, H, W)`` maps (:class:`gradfusion.ForwardDifference`'s
    adjoint); the last column of gx / row of gy is unused."""
    return forward_difference(gx.shape, gx.dtype).gradients_adjoint(gx, gy)


def screened_poisson(rhs, weight):
    """Solve ``(D^T D + weight I) x = rhs`` per channel by DCT (the zero mode kept at 0 if
    weight == 0)."""
    _, H, W = rhs.shape
    lam = neumann_eigenvalues(H, W) + weight
    coef = scipy.fft.dctn(rhs, type=2, axes=(1, 2), norm="ortho", workers=1)
    if weight == 0.0:
        lam[0, 0] = 1.0
        coef[:, 0, 0] = 0.0
    coef /= lam
    return scipy.fft.idctn(coef, type=2, axes=(1, 2), norm="ortho", workers=1)

