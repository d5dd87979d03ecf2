"""The residual problem in solver form (channels first, sum normalisation).

For one call of :func:`gradfusion.solve` with ``C`` channels of ``H x W``
pixels the minimised objective is

    F(R) = 1/m * ( ||S(O - P)||^2 + w ||D(O - P)||^2 ),   O = alpha I + R,

with ``m = 2 C H W`` (the number of gradient entries), ``S`` the Sobel pair
and ``D`` the regulariser's pair of 1-D difference filters.  With
``t = P - alpha I`` and ``A = S^T S + w D^T D`` this is the box QP

    min 1/2 x^T A x - b^T x,  b = A t,  0 <= x[c] <= 1 - alpha[c],

and ``F(x) = 2/m * (1/2 (x - t)^T A (x - t))``.
"""

import functools

import numpy as np

from . import _stencils as st

#: regulariser name -> taps of its 1-D 'valid' difference filter
REGULARIZER_TAPS = {
    "nyquist": (1.0, -2.0, 1.0),
    "gradient": (-1.0, 1.0),
}
BOUNDARY_MODES = {"zero": st.ZERO, "reflect": st.REFLECT}


def round_down(x, dtype):
    """float64 ``x`` in ``dtype``, rounded towards zero where rounding would go above ``x``."""
    x = np.asarray(x, dtype=np.float64)
    dtype = np.dtype(dtype)
    y = x.astype(dtype)
    return np.where(y.astype(np.float64) > x, np.nextafter(y, dtype.type(0)), y).astype(dtype)


def residual_upper(alpha, dtype):
    """The residual's upper bound ``1 - alpha`` per channel in ``dtype``, from the float64
    ``alpha`` and rounded down: a float32 residual at its bound never exceeds ``1 - alpha``."""
    return round_down(1.0 - np.asarray(alpha, dtype=np.float64), dtype)


class ResidualProblem:
    """Box-constrained least squares of one (image, proposal, alpha) triple.

    Arrays are ``(C, H, W)`` of one float dtype; ``alpha`` has shape (C,) (float64:
    the bounds are rounded from it, ``self.alpha`` is it in the images' dtype).
    """

    def __init__(self, image, proposal, alpha, *, boundary="zero",
                 regularizer="nyquist", reg_weight=0.0):
        self.image = image
        self.proposal = proposal
        self.dtype = image.dtype
        self.alpha = np.asarray(alpha).astype(self.dtype)
        self.mode = BOUNDARY_MODES[boundary]
        self.boundary = boundary
        self.regularizer = regularizer
        self.reg_weight = float(reg_weight) if regularizer is not None else 0.0
        taps = REGULARIZER_TAPS.get(regularizer, (0.0,))
        self.taps = np.asarray(taps, dtype=self.dtype)
        self.upper = residual_upper(alpha, self.dtype)
        self.n_entries = 2 * image.size
        self.target = (proposal - self.alpha[:, None, None] * image).astype(self.dtype)
        self.b = np.empty_like(image)
        self.matvec(self.target, self.b)

    @property
    def lipschitz(self):
        """Upper bound on ``||A||``: the maximum of its symbol, plus 1%.

        With zero padding, reflection or 'valid' filters, ``A`` is a
        compression of the infinite-domain convolution (or is diagonalised
        by a DCT with eigenvalues sampled from the same symbol), so its norm
        is at most the symbol's maximum over the frequency square.
        """
        return _symbol_bound(tuple(self.taps.astype(np.float64).tolist()), self.reg_weight)

    def matvec(self, v, out):
        """``out = A v`` (one fused Numba pass)."""
        st.normal_matvec(v, out, self.mode, self.reg_weight, self.taps)
        return out

    def matvec_dot(self, v, out):
        """``out = A v`` and return ``v . A v`` (float64), in the same pass."""
        return st.normal_matvec(v, out, self.mode, self.reg_weight, self.taps, dot=True)

    def columns(self):
        """``(table, row_class, col_class)`` of :func:`gradfusion._stencils.hessian_columns`
        (None for images under 5x5): the solver's sparse gradient corrections."""
        return st.hessian_columns(self.image.shape, self.mode, self.reg_weight, self.taps)

    def heuristic(self):
        """The heuristic residual ``clip(P - alpha I, 0, 1 - alpha)``."""
        out = np.empty_like(self.target)
        st.clip_channels(self.target, self.upper, out)
        return out

    def terms(self, residual):
        """``(objective, bare_objective, regularizer_term)`` of ``residual``.

        Evaluated from scratch (not from the solver's gradient) and
        accumulated in float64; the scratch map is allocated here, not with the problem,
        so that it does not count towards the solver's peak memory.
        """
        d = np.empty_like(self.image)
        st.output_difference(self.image, self.proposal, residual, self.alpha, d)
        bare = st.sobel_energy(d, self.mode) / self.n_entries
        reg = 0.0
        if self.reg_weight > 0.0:
            reg = st.difference_energy(d, self.taps) / self.n_entries
        return bare + self.reg_weight * reg, bare, reg

    def to_normalized_gradient_scale(self):
        """Factor from the sum-form gradient ``A x - b`` to ``dF/dx``."""
        return 2.0 / self.n_entries


@functools.lru_cache(maxsize=16)
def _symbol_bound(taps, reg_weight):
    """1.01 times the maximum over ``[0, pi]^2`` (257 x 257 samples) of the symbol of
    ``S^T S + reg_weight D^T D`` (cached: every scale of every solve asks for it)."""
    w = np.linspace(0.0, np.pi, 257)
    wx, wy = np.meshgrid(w, w)
    sobel = (4 * np.sin(wx) ** 2 * (2 + 2 * np.cos(wy)) ** 2
             + 4 * np.sin(wy) ** 2 * (2 + 2 * np.cos(wx)) ** 2)
    taps = np.asarray(taps, dtype=np.float64)
    k = np.arange(taps.size)
    hx = np.abs(np.exp(1j * np.multiply.outer(wx, k)) @ taps) ** 2
    hy = np.abs(np.exp(1j * np.multiply.outer(wy, k)) @ taps) ** 2
    return 1.01 * float((sobel + reg_weight * (hx + hy)).max())
