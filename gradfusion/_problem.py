"""The residual problem in solver form (channels first, sum normalisation).

For one call of :func:`gradfusion.solve` with ``C`` channels of ``H x W``
pixels the minimised objective is

    F(R) = 1/m * ( ||S(O - P)||_G^2 + w ||D(O - P)||^2 + 2 sum lam (O - P)^2 ),

``O = alpha I + R``, with ``m = 2 C H W`` (the number of gradient entries), ``S``
the Sobel pair, ``D`` the regulariser's pair of 1-D difference filters and ``lam``
the level weight (a scalar or a map): the last term is ``mean(lam (O - P)^2)``.
``||.||_G`` weighs each pixel's two Sobel responses by the gradient weight ``G``
(a map, 1 without one). With ``t = P - alpha I`` and
``A = S^T G S + w D^T D + 2 diag(lam)`` this is the box QP

    min 1/2 x^T A x - b^T x,  b = A t,  0 <= x <= 1 - alpha,

and ``F(x) = 2/m * (1/2 (x - t)^T A (x - t))``. ``alpha`` is one value per channel or a
map (one per pixel, or per pixel and channel): the bounds follow it entry by entry.
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

#: the default ``boundary`` of every function that extends images past their frame for the
#: Sobel stencils: half-sample reflection (zero padding, the paper's ``conv2d(padding=1)``,
#: leaves stripes and a dark frame along the border: docs/model.md)
DEFAULT_BOUNDARY = "reflect"


def round_down(x, dtype):
    """float64 ``x`` in ``dtype``, rounded towards zero where rounding would go above ``x``."""
    x = np.asarray(x, dtype=np.float64)
    dtype = np.dtype(dtype)
    y = x.astype(dtype)
    return np.where(y.astype(np.float64) > x, np.nextafter(y, dtype.type(0)), y).astype(dtype)


def residual_upper(alpha, dtype):
    """The residual's upper bound ``1 - alpha`` in ``dtype`` (per channel, or per pixel for an
    alpha map: the same shape as ``alpha``), from the float64 ``alpha`` and rounded down: a
    float32 residual at its bound never exceeds ``1 - alpha``."""
    return np.ascontiguousarray(round_down(1.0 - np.asarray(alpha, dtype=np.float64), dtype))


def broadcastable(values):
    """Per-channel values ``(C,)`` as ``(C, 1, 1)``; a map ``(C or 1, H, W)`` as it is."""
    return values[:, None, None] if values.ndim == 1 else values


class Hessian:
    """``A = S^T G S + w D^T D + shift I + diag(diagonal)`` on one grid, in sum form.

    ``shift`` (a scalar level weight, ``2 lam``) is fused into the stencil pass;
    ``diagonal`` (a level-weight map times 2, shape ``(1, h, w)`` for one map shared by
    the channels or ``(C, h, w)``, in the arrays' dtype) costs a second pass. The
    stencil part works on arrays of any size; with a ``diagonal`` the arrays must have
    its grid. The multigrid builds its coarse levels with :meth:`replace`.

    ``gradient_weight`` (``G``, a non-negative map of shape ``(1, h, w)`` or
    ``(C, h, w)``) weighs the Sobel responses of each pixel: the product is the fused
    stencil pass plus ``S^T ((G - 1) S v)`` (a Sobel pass, a product and an adjoint
    pass), and the bounds below scale the stencil's by ``max(1, max G)``.
    """

    def __init__(self, mode, reg_weight, taps, shift=0.0, diagonal=None, gradient_weight=None):
        self.mode = mode
        self.reg_weight = float(reg_weight)
        self.taps = tuple(float(t) for t in np.ravel(taps))
        self.shift = float(shift)
        self.diagonal = diagonal
        self.gradient_weight = gradient_weight
        self._excess = None if gradient_weight is None else gradient_weight - 1
        self._stencil_scale = 1.0 if gradient_weight is None else max(
            1.0, float(gradient_weight.max()))
        self._scratch = None          # the weighted pass's three arrays, kept between products

    def replace(self, *, shift, diagonal, gradient_weight=None):
        """The same stencil with another level part and gradient weight (a coarse level's)."""
        return Hessian(self.mode, self.reg_weight, self.taps, shift, diagonal, gradient_weight)

    def window(self, rows, cols):
        """The same operator on the crop ``[:, rows, cols]`` (``slice`` objects) of its grid:
        its diagonal map and gradient weight cropped, the border handled by ``mode``.

        On variables held at zero in a ring of two pixels inside the crop's edges (except
        where the crop meets the grid's own border) this is the whole grid's ``A`` restricted
        to the rest of the crop: every stencil that reaches those variables lies inside the
        crop (the stencils reach two pixels). :mod:`gradfusion._solvers.window` solves a
        window of a problem so.
        """
        def crop(a):
            return None if a is None else np.ascontiguousarray(a[:, rows, cols])
        return self.replace(shift=self.shift, diagonal=crop(self.diagonal),
                            gradient_weight=crop(self.gradient_weight))

    def _weighted_sobel(self, v, out, dot):
        """``out += S^T ((G - 1) S v)``; returns ``v . S^T (G - 1) S v`` when ``dot``."""
        if self._scratch is None or self._scratch[0].shape != v.shape \
                or self._scratch[0].dtype != v.dtype:
            self._scratch = tuple(np.empty_like(v) for _ in range(3))
        return _add_weighted_sobel(v, out, self._excess, self.mode, dot, *self._scratch)

    def matvec(self, v, out):
        """``out = A v``."""
        st.normal_matvec(v, out, self.mode, self.reg_weight, self.taps, shift=self.shift)
        if self.diagonal is not None:
            st.add_diagonal(v, self.diagonal, out)
        if self.gradient_weight is not None:
            self._weighted_sobel(v, out, dot=False)
        return out

    def matvec_dot(self, v, out):
        """``out = A v`` and return ``v . A v`` (float64), the stencil's in the same pass."""
        d = st.normal_matvec(v, out, self.mode, self.reg_weight, self.taps, dot=True,
                             shift=self.shift)
        if self.diagonal is not None:
            d += st.add_diagonal(v, self.diagonal, out, dot=True)
        if self.gradient_weight is not None:
            d += self._weighted_sobel(v, out, dot=True)
        return d

    @property
    def fused_smoothing(self):
        """Whether :meth:`pre_smooth` and :meth:`post_smooth` run as single passes: ``A`` is
        the stencil alone (no diagonal map, no gradient weight)."""
        return self.diagonal is None and self.gradient_weight is None

    def pre_smooth(self, b, mask, s, x):
        """``x = mask (b - s A b)`` in one pass (:attr:`fused_smoothing` operators only)."""
        return st.normal_pre_smooth(b, mask, s, x, self.mode, self.reg_weight, self.taps,
                                    self.shift)

    def post_smooth(self, e, b, r, mask, s, x):
        """``x = s b + e + s mask (r - A e)`` in one pass; returns ``b . x``
        (:attr:`fused_smoothing` operators only)."""
        return st.normal_post_smooth(e, b, r, mask, s, x, self.mode, self.reg_weight,
                                     self.taps, self.shift)

    @property
    def max_diagonal(self):
        """The largest entry of the level part (``shift`` plus the map's maximum)."""
        extra = 0.0 if self.diagonal is None else float(self.diagonal.max())
        return self.shift + extra

    @property
    def lipschitz(self):
        """Upper bound on ``||A||``: the stencil's symbol maximum plus 1%, plus the level
        part's largest entry (also 1% more).

        With zero padding, reflection or 'valid' filters, the stencil is a compression of
        the infinite-domain convolution (or is diagonalised by a DCT with eigenvalues
        sampled from the same symbol), so its norm is at most the symbol's maximum over
        the frequency square; a diagonal adds at most its largest entry.
        """
        return (self._stencil_scale * _symbol_bound(self.taps, self.reg_weight)
                + 1.01 * self.max_diagonal)

    @property
    def centre(self):
        """The largest diagonal entry of ``A`` away from the border."""
        return (self._stencil_scale * _stencil_centre(self.mode, self.taps, self.reg_weight)
                + self.max_diagonal)

    @property
    def abs_row_sum(self):
        """The largest absolute row sum of ``A`` (the stencil's, away from the border, plus the
        level part's largest entry): the rounding model of the gap estimate's floor."""
        return (self._stencil_scale * _stencil_abs_sum(self.mode, self.taps, self.reg_weight)
                + self.max_diagonal)

    def columns(self, shape):
        """``(table, row_class, col_class)`` of :func:`gradfusion._stencils.hessian_columns`
        for arrays of ``shape`` (None for images under 5x5 and with a diagonal map,
        whose columns are not class stencils): the solver's sparse gradient corrections."""
        if self.diagonal is not None or self.gradient_weight is not None:
            return None
        return st.hessian_columns(shape, self.mode, self.reg_weight, self.taps, self.shift)

    def dense(self, shape):
        """``A`` on an ``h x w`` grid as dense float64 matrices: one per channel of the
        diagonal map, or one for every channel."""
        h, w = shape
        n = h * w
        impulses = np.eye(n).reshape(n, h, w)           # n impulses as channels
        out = np.empty_like(impulses)
        st.normal_matvec(impulses, out, self.mode, self.reg_weight, self.taps,
                         shift=self.shift)
        base = out.reshape(n, n).T.copy()
        if self.diagonal is None and self.gradient_weight is None:
            return [base]
        maps = [m for m in (self.diagonal, self.gradient_weight) if m is not None]
        mats = []
        for c in range(max(m.shape[0] for m in maps)):
            a = base.copy()
            if self.diagonal is not None:
                a += np.diag(self.diagonal[min(c, self.diagonal.shape[0] - 1)].ravel()
                             .astype(np.float64))
            if self.gradient_weight is not None:
                g = self.gradient_weight[min(c, self.gradient_weight.shape[0] - 1)]
                extra = np.zeros_like(impulses)
                _add_weighted_sobel(impulses, extra, g[np.newaxis].astype(np.float64) - 1,
                                    self.mode, False, *(np.empty_like(impulses) for _ in range(3)))
                a += extra.reshape(n, n).T
            mats.append(a)
        return mats


class ResidualProblem:
    """Box-constrained least squares of one (image, proposal, alpha) triple.

    Arrays are ``(C, H, W)`` of one float dtype; ``alpha`` has shape (C,), or is an alpha
    map of shape ``(1, H, W)`` (one transmission per pixel) or ``(C, H, W)`` (float64:
    the bounds are rounded from it, ``self.alpha`` is it in the images' dtype, ``self.upper``
    the bounds ``1 - alpha`` of the same shape; :attr:`alpha_field` and :attr:`upper_field`
    broadcast against the images).
    ``level_weight`` is a float or an array of shape ``(1, H, W)`` (one map for all
    channels) or ``(C, H, W)``; ``gradient_weight`` None or such an array.
    """

    def __init__(self, image, proposal, alpha, *, boundary="zero",
                 regularizer="nyquist", reg_weight=0.0, level_weight=0.0, gradient_weight=None):
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
        # t = P - alpha I in one array (an expression allocates two more: at 4134x1496 a
        # float32 image-sized array is 74 MB, above the allocator's mapping threshold, so
        # each is fresh pages to fault in)
        self.target = np.multiply(self.alpha_field, image, dtype=self.dtype)
        np.subtract(proposal, self.target, out=self.target)
        if np.ndim(level_weight) == 0:
            self.level_weight = float(level_weight)
            shift, diagonal = 2.0 * self.level_weight, None
        else:
            self.level_weight = np.ascontiguousarray(level_weight, dtype=self.dtype)
            shift, diagonal = 0.0, 2 * self.level_weight
        self.gradient_weight = None if gradient_weight is None else np.ascontiguousarray(
            gradient_weight, dtype=self.dtype)
        self.hessian = Hessian(self.mode, self.reg_weight, self.taps, shift, diagonal,
                               self.gradient_weight)
        self.b = np.empty_like(image)
        self.matvec(self.target, self.b)

    @property
    def alpha_field(self):
        """``alpha`` in the images' dtype, broadcastable against them."""
        return broadcastable(self.alpha)

    @property
    def upper_field(self):
        """The residual's upper bounds, broadcastable against the images."""
        return broadcastable(self.upper)

    @property
    def lipschitz(self):
        """Upper bound on ``||A||`` (:attr:`Hessian.lipschitz`)."""
        return self.hessian.lipschitz

    def matvec(self, v, out):
        """``out = A v`` (one fused Numba pass, two with a level-weight map)."""
        return self.hessian.matvec(v, out)

    def matvec_dot(self, v, out):
        """``out = A v`` and return ``v . A v`` (float64), in the same pass."""
        return self.hessian.matvec_dot(v, out)

    def columns(self):
        """:meth:`Hessian.columns` of this problem's grid."""
        return self.hessian.columns(self.image.shape)

    def heuristic(self):
        """The heuristic residual ``clip(P - alpha I, 0, 1 - alpha)``."""
        out = np.empty_like(self.target)
        st.clip_channels(self.target, self.upper, out)
        return out

    def terms(self, residual):
        """``(objective, bare_objective, regularizer_term, level_error)`` of ``residual``.

        ``level_error`` is the unweighted ``mean((O - P)^2)``; the objective adds
        ``mean(level_weight (O - P)^2)``. ``bare_objective`` is the paper's unweighted
        Sobel term; with a gradient weight the objective has the weighted one. Evaluated
        from scratch (not from the solver's gradient) and accumulated in float64; the
        scratch map is allocated here, not with the problem, so that it does not count
        towards the solver's peak memory.
        """
        d = np.empty_like(self.image)
        squares = st.output_difference(self.image, self.proposal, residual, self.alpha, d)
        bare = st.sobel_energy(d, self.mode) / self.n_entries
        sobel = bare
        if self.gradient_weight is not None:
            gx, gy = np.empty_like(d), np.empty_like(d)
            st.sobel_forward(d, gx, gy, self.mode)
            sobel = _weighted_energy(gx, gy, self.gradient_weight) / self.n_entries
        reg = 0.0
        if self.reg_weight > 0.0:
            reg = st.difference_energy(d, self.taps) / self.n_entries
        level_error = squares / d.size
        if np.ndim(self.level_weight) == 0:
            level = self.level_weight * level_error
        else:
            d64 = d.astype(np.float64)
            level = float((np.broadcast_to(self.level_weight, d.shape) * d64 * d64).mean())
        return sobel + self.reg_weight * reg + level, bare, reg, level_error

    def to_normalized_gradient_scale(self):
        """Factor from the sum-form gradient ``A x - b`` to ``dF/dx``."""
        return 2.0 / self.n_entries


def _weighted_energy(gx, gy, weight):
    """``sum weight (gx^2 + gy^2)`` in float64."""
    return float(np.sum(weight * (gx.astype(np.float64) ** 2 + gy.astype(np.float64) ** 2)))


def _add_weighted_sobel(v, out, excess, mode, dot, gx, gy, back):
    """``out += S^T (excess S v)`` with the work arrays ``gx``, ``gy``, ``back`` (shaped like
    ``v``); returns ``v . S^T excess S v`` (float64) when ``dot``, else 0."""
    st.sobel_forward(v, gx, gy, mode)
    extra = _weighted_energy(gx, gy, excess) if dot else 0.0
    gx *= excess
    gy *= excess
    st.sobel_adjoint(gx, gy, back, mode)
    out += back
    return extra


@functools.lru_cache(maxsize=16)
def _stencil_centre(mode, taps, reg_weight):
    """The interior diagonal entry of ``S^T S + reg_weight D^T D`` (the response of a 5x5
    impulse at its centre)."""
    e = np.zeros((1, 5, 5))
    e[0, 2, 2] = 1.0
    out = np.empty_like(e)
    st.normal_matvec(e, out, mode, reg_weight, taps)
    return float(out[0, 2, 2])


@functools.lru_cache(maxsize=16)
def _stencil_abs_sum(mode, taps, reg_weight):
    """The sum of the absolute entries of an interior column of ``S^T S + reg_weight D^T D``
    (the response of a 9x9 impulse at its centre)."""
    e = np.zeros((1, 9, 9))
    e[0, 4, 4] = 1.0
    out = np.empty_like(e)
    st.normal_matvec(e, out, mode, reg_weight, taps)
    return float(np.abs(out).sum())


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
