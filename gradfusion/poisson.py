r"""Classical Poisson image editing (Perez, Gangnet & Blake 2003), solved to convergence.

Three tools built on the 4-neighbour (forward-difference) discretisation of
:class:`gradfusion.ForwardDifference` (whose kernels compute :func:`gradient` and the
divergence here: one gradient-operator abstraction):

* :func:`reconstruct` recovers an image from its gradients and one pixel
  value (a Neumann Poisson solve by DCT, exact to rounding);
* :func:`blend` is seamless cloning, ``guidance="normal"`` (source gradients)
  or ``"mixed"`` (the larger of the source and target gradients), with
  Dirichlet values from the target; it returns a :class:`BlendResult`;
* :func:`color2gray` is a gradient-domain grayscale conversion: the
  luminance, with colour contrast added back where the luminance loses it.

:func:`gradient` computes the gradients :func:`reconstruct` takes.
"""

import numbers
import time
import warnings

import numba
import numpy as np
import scipy.fft
from . import _poisson_kernels as pk
from . import _validation as v
from ._multigrid.coarsest import SparseLU
from ._multigrid.hierarchy import Hierarchy, Level
from ._multigrid.pcg import PCGHooks, pcg
from .operators import ForwardDifference
from ._deprecation import REMOVAL, Result

__all__ = ["gradient", "reconstruct", "blend", "BlendResult", "color2gray", "BLEND_GUIDANCE",
           "BLEND_METHODS"]

#: the guidance fields of :func:`blend`
#: ``blend``'s guidance fields: the source gradients, or the larger of source and target
BLEND_GUIDANCE = ("normal", "mixed")

#: the former name of :data:`BLEND_GUIDANCE` (``blend``'s ``method`` argument was renamed
#: ``guidance``: ``method`` names the solver everywhere else)
BLEND_METHODS = BLEND_GUIDANCE

#: ``BlendResult.status``: 0 converged, 1 the iteration limit, 2 the restarts ran out (the
#: recursive residual drifted from the true one three times: ``tol`` is below the accuracy the
#: dtype allows for this system)
BLEND_STATUS = {0: "converged", 1: "iteration limit reached", 2: "attainable accuracy reached"}

#: restarts of the conjugate gradients from the true residual before giving up on ``tol``
_RESTARTS = 3

#: stop coarsening when a level has at most this many unknowns (then a dense solve)
_COARSEST_UNKNOWNS = 256


# --------------------------------------------------------------------------- validation


def _is_int(x):
    return isinstance(x, numbers.Integral) and not isinstance(x, (bool, np.bool_))


def _check_tol_maxiter(tol, maxiter):
    v.real(tol, "tol", "a number in (0, 1)", lambda t: 0 < t < 1)
    v.integer(maxiter, "maxiter", "a positive integer", lambda n: n >= 1)


def _as_mask(mask, shape):
    """A 2-D boolean mask of spatial shape ``shape``: nonzero is inside.

    Boolean, unsigned or signed integer (a 0/255 PNG, 0/1) and float masks
    are accepted; NaN is refused (it is neither zero nor a number).
    """
    what = "a boolean or numeric array (nonzero = inside)"
    if isinstance(mask, np.ma.MaskedArray):
        raise TypeError("mask must be a plain ndarray, got a masked array")
    if mask is None or isinstance(mask, (str, bytes)):
        raise TypeError(f"mask must be {what}, got {v.describe(mask)}")
    m = np.asarray(mask)
    if m.dtype != np.bool_ and m.dtype.kind not in "uif":
        raise TypeError(f"mask must be {what}, got dtype {m.dtype}")
    if m.ndim != 2:
        raise ValueError(f"mask must be 2-D, got {m.ndim}-D shape {m.shape}")
    if m.shape != shape:
        raise ValueError(
            f"mask must have the spatial shape of source {shape}, got {m.shape}")
    if m.dtype == np.bool_:
        return m
    if m.dtype.kind == "f":
        nan = int(np.count_nonzero(np.isnan(m)))
        if nan:
            raise ValueError(
                f"mask contains NaN ({nan} of {m.size} values); use 0 outside the region and "
                "a nonzero value inside")
    return m != 0


def _pair_of_ints(value, name, what="(row, col)"):
    """``(int, int)`` from a pair; TypeError for anything that is not a pair of integers."""
    try:
        a, b = value
    except (TypeError, ValueError):
        if isinstance(value, (tuple, list, np.ndarray)):
            raise ValueError(f"{name} must be a pair of integers {what}, got {value!r}") from None
        raise TypeError(f"{name} must be a pair of integers {what}, got {value!r}") from None
    if not (_is_int(a) and _is_int(b)):
        raise TypeError(f"{name} must be a pair of integers {what}, got {value!r}")
    return int(a), int(b)


def _as_offset(offset):
    return _pair_of_ints(offset, "offset")


# --------------------------------------------------------------------------- reconstruct


def gradient(image, *, channel_axis=-1):
    r"""Forward-difference gradients of an image, stacked as ``(2, *image.shape)``.

    ``g[0][i, j] = x[i, j+1] - x[i, j]`` (0 on the last column) and
    ``g[1][i, j] = x[i+1, j] - x[i, j]`` (0 on the last row): the output of
    :class:`gradfusion.ForwardDifference`, reshaped (its kernel computes it). The
    image may be any finite float array (it is not required to lie in [0, 1]);
    integers are converted as by :func:`gradfusion.solve`. float32 stays float32;
    other float types are differenced in float64 and returned in their own dtype.

    Parameters
    ----------
    image : (H, W) or (H, W, C) array
    channel_axis : int or None, optional

    Returns
    -------
    g : ndarray of shape ``(2,) + image.shape``

    Examples
    --------
    >>> import numpy as np
    >>> from gradfusion.poisson import gradient
    >>> gradient(np.array([[0.0, 1.0, 3.0]]))[0]
    array([[1., 2., 0.]])
    """
    x = v.as_real_array(image, "image")
    xc, axis = v.channels_first(x, "image", channel_axis)
    gx, gy = _forward_difference(xc.shape, xc.dtype).gradients(xc)
    return np.stack([v.channels_last(gx, axis), v.channels_last(gy, axis)]).astype(xc.dtype,
                                                                                 copy=False)


def _neumann_eigenvalues(H, W, dtype=np.float64):
    """Eigenvalues of ``D^T D`` (5-point Neumann Laplacian) in the DCT-II basis."""
    ky = 4.0 * np.sin(np.pi * np.arange(H) / (2.0 * H)) ** 2
    kx = 4.0 * np.sin(np.pi * np.arange(W) / (2.0 * W)) ** 2
    return (ky[:, None] + kx[None, :]).astype(dtype)


def _forward_difference(shape, dtype):
    """:class:`gradfusion.ForwardDifference` of one ``(H, W)`` channel of ``shape``
    ``(C, H, W)`` (its :meth:`~gradfusion.ForwardDifference.gradients` and
    :meth:`~gradfusion.ForwardDifference.gradients_adjoint` take any number of channels)."""
    dtype = np.float32 if np.dtype(dtype) == np.float32 else np.float64
    return ForwardDifference(tuple(shape[1:]), dtype=dtype)


def _divergence_adjoint(gx, gy):
    """``D^T (gx, gy)`` for ``(C, H, W)`` maps (:class:`gradfusion.ForwardDifference`'s
    adjoint); the last column of gx / row of gy is unused."""
    return _forward_difference(gx.shape, gx.dtype).gradients_adjoint(gx, gy)


def _screened_poisson(rhs, weight):
    """Solve ``(D^T D + weight I) x = rhs`` per channel by DCT (the zero mode kept at 0 if weight == 0)."""
    _, H, W = rhs.shape
    lam = _neumann_eigenvalues(H, W) + weight
    coef = scipy.fft.dctn(rhs, type=2, axes=(1, 2), norm="ortho", workers=1)
    if weight == 0.0:
        lam[0, 0] = 1.0
        coef[:, 0, 0] = 0.0
    coef /= lam
    return scipy.fft.idctn(coef, type=2, axes=(1, 2), norm="ortho", workers=1)


def reconstruct(gradients, value=0.0, *, anchor=(0, 0), channel_axis=-1):
    r"""Recover an image from its forward-difference gradients and one pixel value.

    Parameters
    ----------
    gradients : ndarray of shape ``(2, H, W)`` or ``(2, H, W, C)``
        The two gradient maps stacked along the first axis, as returned by
        :func:`gradient` (or by :class:`gradfusion.ForwardDifference`,
        reshaped to ``(2,) + image_shape``). The last column of ``gradients[0]``
        and the last row of ``gradients[1]`` are not used (they are 0 for a
        true gradient).
    value : float or sequence of float, optional
        The value of the image at ``anchor`` (one per channel, or a scalar).
    anchor : (int, int), optional
        Row and column of the pixel whose value is given (negative indices
        count from the end).
    channel_axis : int or None, optional
        Axis of the channels of one gradient map (``gradients[0]``).

    Returns
    -------
    image : ndarray of shape ``gradients.shape[1:]``
        float64 (float32 for float32 gradients). Not clipped.

    Notes
    -----
    The least-squares integral of a field ``g`` is the solution of the
    Neumann Poisson equation

    .. math:: D^T D\, x = D^T g,

    with ``D`` the forward differences. ``D^T D`` is diagonalised by the
    orthonormal 2-D DCT-II with eigenvalues
    ``4 sin^2(pi k / 2H) + 4 sin^2(pi l / 2W)``; its null space is the
    constants, fixed by ``x[anchor] = value``. When ``g`` is the gradient of
    an image, that image is recovered exactly (to rounding: about ``1e-12``
    for a 1-megapixel image); otherwise the result is the least-squares fit.
    Cost: one forward and one inverse DCT per channel.

    References
    ----------
    .. [1] Patrick Perez, Michel Gangnet and Andrew Blake, "Poisson image
       editing", ACM Trans. Graph. 22(3) (2003) 313-318.

    Examples
    --------
    >>> import numpy as np
    >>> from gradfusion.poisson import gradient, reconstruct
    >>> img = np.random.default_rng(0).random((5, 7, 3))
    >>> rec = reconstruct(gradient(img), value=img[0, 0])
    >>> bool(np.abs(rec - img).max() < 1e-12)
    True
    """
    g = v.as_real_array(gradients, "gradients")
    v.check_channel_axis(channel_axis)
    if g.ndim not in (3, 4) or g.shape[0] != 2:
        raise ValueError(
            "gradients must have shape (2, H, W) or (2, H, W, C) (the x and y maps stacked "
            f"first), got shape {g.shape}")
    gx, axis = v.channels_first(g[0], "gradients[0]", channel_axis)
    gy, _ = v.channels_first(g[1], "gradients[1]", channel_axis)
    C, H, W = gx.shape
    ai, aj = _pair_of_ints(anchor, "anchor")
    if not (-H <= ai < H and -W <= aj < W):
        raise ValueError(f"anchor must be a (row, col) pair inside the {H}x{W} image, got {anchor!r}")
    try:
        if isinstance(value, (str, bytes, bool, np.bool_)) or value is None:
            raise TypeError
        val = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise TypeError(f"value must be a number or one number per channel ({C}), "
                        f"got {v.describe(value)}") from None
    if val.ndim > 1 or (val.ndim == 1 and val.shape[0] != C) or not np.all(np.isfinite(val)):
        raise ValueError(
            f"value must be a finite scalar or one value per channel ({C}), got {value!r}")
    val = np.broadcast_to(val, (C,))
    x = _screened_poisson(_divergence_adjoint(gx.astype(np.float64), gy.astype(np.float64)), 0.0)
    x += (val - x[:, ai, aj])[:, None, None]
    return v.channels_last(x.astype(g.dtype, copy=False), axis)


# --------------------------------------------------------------------------- blend


class BlendResult(Result):
    """Result of :func:`blend` (a dict with attribute access).

    ``output``, ``success``, ``status``, ``message`` and ``time`` mean what
    they mean in :class:`~gradfusion.SynthesisResult`; a blend has no
    displayed residual ``R`` and no objective, and its linear-system residual
    is ``system_residual`` (:doc:`/results`).

    Attributes
    ----------
    output : ndarray
        The target with the masked region replaced by the Poisson solution, in
        the layout of the target, float64 (float32 if both images are
        float32), clipped to [0, 1] unless ``clip=False``.
    system_residual : float
        Largest over channels of the relative residual ``||b - A f|| / ||b||``
        of the linear system (recomputed from scratch at the end). Formerly
        ``residual_norm`` (deprecated: ``residual`` is the displayed image
        ``R`` in the synthesis results).
    system_residuals : ndarray
        The same per channel (formerly ``residual_norms``).
    nit : int
        Preconditioned conjugate-gradient iterations (all channels together).
    n_unknowns : int
        Pixels of the masked region inside the target.
    n_cropped : int
        Mask pixels dropped because the offset places them outside the target.
    n_levels : int
        Levels of the multigrid hierarchy (1: a dense solve only). Formerly
        ``levels`` (deprecated: ``SolveResult.levels`` is a list of per-scale
        records).
    setup_time, time : float
        Seconds spent building the system and hierarchy, and in total.
    success : bool
        ``system_residual <= tol``.
    status : int
        0 converged, 1 iteration limit, 2 the attainable accuracy reached
        before ``tol`` (the conjugate gradients were restarted from the true
        residual three times and it stayed above ``tol``: ask for a larger
        ``tol`` in this dtype).
    message : str
    time : float
        Wall-clock seconds of the call (validation included).
    """

    _deprecated = {
        old: (new, None, f"BlendResult.{old} is renamed {new} ({old} will be removed in {REMOVAL}"
                         f"{why})")
        for old, new, why in (
            ("levels", "n_levels", ": SolveResult.levels is a list of per-scale records"),
            ("residual_norm", "system_residual", ": residual is the displayed image R in "
                                                 "the synthesis results"),
            ("residual_norms", "system_residuals", ""))}


def _channels_first_view(image, name, channel_axis):
    """Like :func:`gradfusion._validation.channels_first`, without the copy."""
    if image.ndim == 2:
        return image[np.newaxis], None
    _, axis = v.channels_first(image[:1, :1], name, channel_axis)   # validates only
    return np.moveaxis(image, axis, 0), axis


def _span(flags):
    """``'a..b'``: first and last index of the True entries of a 1-D array."""
    idx = np.flatnonzero(flags)
    return f"{idx[0]}..{idx[-1]}"


def _bbox(mask):
    rows = np.flatnonzero(mask.any(axis=1))
    cols = np.flatnonzero(mask.any(axis=0))
    return rows[0], rows[-1] + 1, cols[0], cols[-1] + 1


def _galerkin_constant(stencil):
    """Interior Galerkin stencil ``P^T A P`` of a constant 3x3 stencil (bilinear ``P``)."""
    from scipy.signal import convolve2d

    p = np.array([[0.25, 0.5, 0.25], [0.5, 1.0, 0.5], [0.25, 0.5, 0.25]])
    full = convolve2d(convolve2d(p, np.asarray(stencil).reshape(3, 3)), p)   # 7x7
    return np.ascontiguousarray(full[1:6:2, 1:6:2]).ravel()


class _FineLevel(Level):
    """The finest Poisson level: the 5-point operator ``m (d x - x_N - x_S - x_E - x_W)``,
    red-black Gauss-Seidel (black-red after the coarse correction), vertex-centred
    transfers to level 1; and its two fused passes for the conjugate gradients
    (:meth:`step_presmooth`, :meth:`prolong_postsmooth`), which run the level's half of
    the V-cycle together with a step of the iteration."""

    def __init__(self, hier, C):
        self.shape = (C,) + hier.kinds[0].shape
        self.count, self.spans = hier.count, hier.level_spans[0]
        self.m, self.d, self.inv_d = hier.masks[0], hier.ops[0], hier.inv_d[0]
        self.mask_c = hier.masks[1]
        self.edges, self.edges_c = hier.level_edges[0], hier.level_edges[1]
        self.tables, self.restriction = hier.tables[0], hier.restrictions[0]

    def matvec(self, x, out):
        pk.residual(self.m, self.d, x, np.zeros_like(x), out)
        np.negative(out, out=out)

    def smooth(self, b, x, reverse=False, zero=False):
        if zero:
            x[:] = 0.0
        pk.gauss_seidel(self.inv_d, x, b, reverse)

    def residual(self, b, x, r):
        pk.residual(self.m, self.d, x, b, r)

    def restrict(self, r, out):
        pk.restrict(r, self.mask_c, *self.restriction, self.spans, self.edges_c, out)

    def prolong_add(self, xc, x):
        pk.prolong_add(xc, self.m, *self.tables, self.spans, self.edges, x)

    def step_presmooth(self, x, r, p, z, alpha, beta, rr, edges, b, first):
        """:func:`~gradfusion._poisson_kernels.fused_step_presmooth` into the next level's
        right-hand side (:attr:`b_c`, the hierarchy's ``b[1]``)."""
        pk.fused_step_presmooth(self.count, self.spans, x, r, p, z, alpha, beta,
                                *self.restriction, self.mask_c, self.b_c, rr, edges, b, first)

    def prolong_postsmooth(self, r, z, p, sums, edges):
        """:func:`~gradfusion._poisson_kernels.fused_prolong_postsmooth` from the next
        level's result (:attr:`x_c`, the hierarchy's ``x[1]``)."""
        pk.fused_prolong_postsmooth(self.count, self.spans, r, z, p, self.x_c, *self.tables,
                                    sums, edges)


class _CoarseLevel(Level):
    """A coarse Poisson level ``lev``: the Galerkin 9-point stencil (regular rows from its
    interior constant), lexicographic Gauss-Seidel within row bands (backward after the
    correction), vertex-centred transfers to level ``lev + 1``."""

    def __init__(self, hier, lev, C):
        self.shape = (C,) + hier.kinds[lev].shape
        self.m, self.st, self.const = hier.masks[lev], hier.ops[lev], hier.consts[lev]
        self.inv_d, self.irregular = hier.inv_d[lev], hier.irregular[lev]
        self.spans, self.edges = hier.level_spans[lev], hier.level_edges[lev]
        self.mask_c, self.edges_c = hier.masks[lev + 1], hier.level_edges[lev + 1]
        self.tables, self.restriction = hier.tables[lev], hier.restrictions[lev]
        self.r = np.zeros(self.shape)

    def matvec(self, x, out):
        out[...] = 0.0                   # the 9-point passes write the rows' spans of unknowns only
        self.residual(np.zeros_like(x), x, out)
        np.negative(out, out=out)

    def smooth(self, b, x, reverse=False, zero=False):
        pk.gauss_seidel9(self.inv_d, self.st, self.const, *self.irregular, self.spans,
                         self.edges, x, b, reverse, zero)

    def residual(self, b, x, r):
        pk.residual9(self.m, self.st, self.const, *self.irregular, self.spans, self.edges, x, b,
                     r)

    def work(self, b):
        return self.r

    def restrict(self, r, out):
        pk.restrict(r, self.mask_c, *self.restriction, self.spans, self.edges_c, out)

    def prolong_add(self, xc, x):
        pk.prolong_add(xc, self.m, *self.tables, self.spans, self.edges, x)


class _Hierarchy(Hierarchy):
    """Vertex-centred Galerkin multigrid of the masked Laplacian (see :mod:`gradfusion._poisson_kernels`).

    ``kind`` is the fine level's cell kinds (padded grid); ``rows`` and
    ``cols`` the inclusive ranges of padded indices inside the image (they
    may reach beyond the array). Field arrays are ``(C, H, W)``. The set-up
    builds the levels' operators and transfer tables; the cycle, the levels'
    protocol and the coarsest solve are those of :mod:`gradfusion._multigrid`
    (levels :class:`_FineLevel` and :class:`_CoarseLevel`, a
    :class:`~gradfusion._multigrid.coarsest.SparseLU` at the coarsest).
    """

    def __init__(self, kind, rows, cols, C):
        count, m, d, inv_d, reg = pk.fine_operator(kind)
        self.kinds = [kind]
        self.count = count                           # the fine operator for the fused passes
        self.masks = [m]
        self.ranges = [(rows[0], rows[1], cols[0], cols[1])]
        self.ops = [d]                               # level 0: the 5-point diagonal
        self.regs = [None]                           # coarse levels: regular-row flags, ...
        self.irregular = [None]                      # ... the other unknowns by row, ...
        self.consts = [None]                         # ... and the interior constant stencil
        self.inv_d = [inv_d]
        consts = [np.array([0.0, -1.0, 0.0, -1.0, 4.0, -1.0, 0.0, -1.0, 0.0])]
        dummy_st, dummy_d = np.zeros((9, 1, 1)), np.zeros((1, 1))
        while True:
            k = self.kinds[-1]
            n_fine = int(np.count_nonzero(k == pk.UNKNOWN))
            if n_fine <= _COARSEST_UNKNOWNS:
                break
            rlo, rhi, clo, chi = self.ranges[-1]
            rng_c = ((rlo + 1) // 2, rhi // 2, (clo + 1) // 2, chi // 2)
            kc = self._coarsen(k, rng_c)
            uc = kc == pk.UNKNOWN
            n_coarse = int(np.count_nonzero(uc))
            if n_coarse == 0 or n_coarse > 0.6 * n_fine:   # thin structures: stop here
                break
            st = np.empty((9,) + kc.shape)
            reg_c = np.zeros(kc.shape, dtype=np.bool_)
            const = _galerkin_constant(consts[-1])
            if len(self.kinds) == 1:
                pk.galerkin(k, self.ops[0], dummy_st, True, reg, kc, *rng_c, const, st, reg_c)
            else:
                pk.galerkin(k, dummy_d, self.ops[-1], False, reg, kc, *rng_c, const, st, reg_c)
            consts.append(const)
            reg = reg_c
            self.regs.append(reg_c)
            self.irregular.append(pk.irregular_cells(uc, reg_c))
            self.consts.append(const)
            self.kinds.append(kc)
            self.masks.append(uc.astype(np.float64))
            self.ranges.append(rng_c)
            self.ops.append(st)
            self.inv_d.append(np.divide(1.0, st[4], out=np.zeros(kc.shape), where=uc))
        # 1-D parent tables of each transfer (level lev -> lev + 1)
        self.tables = []                 # prolongation: row and column parents, fix-up columns
        self.restrictions = []           # restriction: row parents, column children
        for lev in range(len(self.kinds) - 1):
            rlo, rhi, clo, chi = self.ranges[lev + 1]
            Hp, Wp = self.kinds[lev].shape
            rows_t, cols_t = pk.parent_table(Hp, rlo, rhi), pk.parent_table(Wp, clo, chi)
            self.tables.append(rows_t + cols_t + (pk.prolongation_fixups(*cols_t),))
            children = pk.child_table(*cols_t, self.kinds[lev + 1].shape[1])
            self.restrictions.append(rows_t + (children,))
        # each level's rows' spans of unknowns (the kernels work there only)
        self.level_spans = [pk.row_spans(count)] + [pk.row_spans(m) for m in self.masks[1:]]
        # each level's row bands of the coarse-level kernels (the same on every machine)
        self.level_edges = [pk.smoother_bands(k.shape[0], C) for k in self.kinds]
        n = len(self.kinds)
        levels = ([_FineLevel(self, C)] if n > 1 else []) + [_CoarseLevel(self, lev, C)
                                                              for lev in range(1, n - 1)]
        A, idx = self.matrix(n - 1)
        # work arrays of the coarse levels (the fine level's live in the solver; a V-cycle
        # from level 0, as the tests run, allocates its residual on demand)
        super().__init__(levels, SparseLU(A, idx), [(C,) + k.shape for k in self.kinds],
                         np.float64)
        if levels:                       # the fine level's fused passes use level 1's arrays
            levels[0].b_c, levels[0].x_c = self.b[1], self.x[1]

    @staticmethod
    def _coarsen(kind, rng_c):
        """Kinds of the coarse cells: those of the fine cells ``(2I, 2J)``."""
        Hp, Wp = kind.shape
        Hc, Wc = Hp // 2 + 1, Wp // 2 + 1
        rlo, rhi, clo, chi = rng_c
        I = np.arange(Hc)[:, None]
        J = np.arange(Wc)[None, :]
        inside = (I >= rlo) & (I <= rhi) & (J >= clo) & (J <= chi)
        kc = np.where(inside, pk.FIXED, pk.OUTSIDE).astype(kind.dtype)  # beyond the fine array
        sub = kind[::2, ::2]
        kc[:sub.shape[0], :sub.shape[1]] = sub
        return kc

    def matrix(self, lev):
        """The operator of level ``lev`` on its unknowns, as a CSC matrix (and their flat indices)."""
        import scipy.sparse as sp

        kind, op = self.kinds[lev], self.ops[lev]
        Wp = kind.shape[1]
        idx = np.flatnonzero(kind.ravel() == pk.UNKNOWN)
        n = idx.size
        pos = -np.ones(kind.size, dtype=np.int64)
        pos[idx] = np.arange(n)
        rows, cols, vals = [np.arange(n)], [np.arange(n)], []
        if lev == 0:
            vals.append(op.ravel()[idx])
            for step in (1, -1, Wp, -Wp):
                q = pos[idx + step]
                ok = q >= 0
                rows.append(np.arange(n)[ok])
                cols.append(q[ok])
                vals.append(-np.ones(int(ok.sum())))
        else:
            st = op.reshape(9, -1)
            vals.append(st[4, idx])
            for k in range(9):
                if k == 4:
                    continue
                q = pos[idx + (k // 3 - 1) * Wp + (k % 3 - 1)]
                a = st[k, idx]
                ok = (q >= 0) & (a != 0)
                rows.append(np.arange(n)[ok])
                cols.append(q[ok])
                vals.append(a[ok])
        A = sp.csc_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
                          shape=(n, n))
        return A, idx


def _dots(a, b):
    """Per-channel inner products of ``(C, H, W)`` arrays (0 off the unknowns)."""
    return pk.dots(a, b)


class _FusedHooks(PCGHooks):
    """The multigrid-preconditioned iteration of :func:`_pcg` as hooks of the shared loop
    (:func:`gradfusion._multigrid.pcg.pcg`), all channels at once with per-channel scalars.

    The fine level's work of an iteration is two fused passes (see
    :mod:`gradfusion._poisson_kernels`): :meth:`_FineLevel.step_presmooth` (the step, then
    the V-cycle down to the first coarse level; the first call forms the initial residual
    and starts the first V-cycle) and :meth:`_FineLevel.prolong_postsmooth` (back up, and
    the scalars ``<r, z>``, ``<z, A z>``, ``<z, A p>`` that give the next step length:
    ``<p', A p'> = <z, A z> + 2 beta <z, A p> + beta^2 <p, A p>`` for ``p' = z + beta p``,
    so no ``A p`` is stored). The levels below run the shared V-cycle
    (:meth:`~gradfusion._multigrid.hierarchy.Hierarchy.cycle_below`). The direction
    ``p' = z + beta p`` is formed by the next step's pass.
    """

    def __init__(self, hier, b, edges):
        super().__init__(blocks=b.shape[0])
        self.hier, self.fine, self.b, self.edges = hier, hier.levels[0], b, edges
        C = b.shape[0]
        self.rr, self.sums = np.zeros(C), np.zeros((C, 3))
        self.beta = np.zeros(C)
        self.pq = None

    def start(self, x, r, p, z):
        """The initial residual (no step) and the first half of the first V-cycle; keeps
        the direction and preconditioned residual arrays (the fused passes read them)."""
        self.p, self.z = p, z
        self.fine.step_presmooth(x, r, p, z, np.zeros(self.blocks), self.beta, self.rr,
                                 self.edges, self.b, True)
        return self.rr

    def precondition(self, r, z):
        self.hier.cycle_below(0)
        self.fine.prolong_postsmooth(r, z, self.p, self.sums, self.edges)
        return self.sums[:, 0].copy()

    def direction(self, z, p, beta, ap):
        zaz, zap = self.sums[:, 1], self.sums[:, 2]
        if beta is None:
            self.beta = np.zeros(self.blocks)
            self.pq = zaz.copy()
        else:
            self.beta = beta
            self.pq = zaz + 2.0 * beta * zap + beta * beta * self.pq
        return self.pq

    def step(self, x, r, p, ap, alpha):
        self.fine.step_presmooth(x, r, p, self.z, alpha, self.beta, self.rr, self.edges, self.b,
                                 False)
        return self.rr


def _pcg(hier, b, x, tol, maxiter, bnorm, edges):
    """Preconditioned CG, all channels at once with per-channel scalars; returns nit.

    Stops when every channel's recursive residual is at most ``tol * bnorm``
    (``bnorm`` per channel, no zeros); ``edges`` are the row bands of the fused
    passes (:func:`~gradfusion._poisson_kernels.band_edges`). The loop is the shared one
    (:func:`gradfusion._multigrid.pcg.pcg`, ``breakdown="freeze"``: a channel whose
    ``<r, z>`` or curvature is 0 takes no step); with coarse levels its passes are the
    fused ones of :class:`_FusedHooks`.
    """
    if len(hier.kinds) == 1:
        return _pcg_single_level(hier, b, x, tol, maxiter, bnorm)
    r = np.zeros_like(b)             # 0 outside the row spans of unknowns; the first pass fills it
    z = np.zeros_like(b)
    p = np.zeros_like(b)
    hooks = _FusedHooks(hier, b, edges)
    rr = hooks.start(x, r, p, z)
    nit, _, _ = pcg(hooks, x, r, z, p, None, rr,
                    lambda rr, k: np.all(np.sqrt(rr) <= tol * bnorm) or k >= maxiter,
                    breakdown="freeze")
    return nit


class _SingleLevelHooks(PCGHooks):
    """The iteration of :func:`_pcg_single_level`: the coarsest solve as the preconditioner,
    the direction with ``A p`` and ``<p, A p>`` in one pass
    (:func:`~gradfusion._poisson_kernels.fused_direction_apply`)."""

    def __init__(self, hier, C):
        super().__init__(blocks=C)
        self.hier = hier
        self.m, self.d = hier.masks[0], hier.ops[0]
        self.pq = np.zeros(C)

    def precondition(self, r, z):
        self.hier.cycle(r, z)
        self.rz = _dots(r, z)
        return self.rz

    def direction(self, z, p, beta, ap):
        beta = 0.0 * self.rz if beta is None else beta
        pk.fused_direction_apply(self.m, self.d, z, p, beta, ap, self.pq)
        return self.pq

    def step(self, x, r, p, ap, alpha):
        alpha = alpha[:, None, None]
        x += alpha * p
        r -= alpha * ap
        return _dots(r, r)


def _pcg_single_level(hier, b, x, tol, maxiter, bnorm):
    """Conjugate gradients preconditioned by the exact sparse LU solve (no coarse levels: small
    or thin regions, where one iteration converges)."""
    r = np.empty_like(b)
    pk.residual(hier.masks[0], hier.ops[0], x, b, r)
    z, p, q = np.zeros_like(b), np.zeros_like(b), np.zeros_like(b)
    hooks = _SingleLevelHooks(hier, b.shape[0])
    nit, _, _ = pcg(hooks, x, r, z, p, q, _dots(r, r),
                    lambda rr, k: np.all(np.sqrt(rr) <= tol * bnorm) or k >= maxiter,
                    breakdown="freeze")
    return nit


def blend(source, target, mask, offset=(0, 0), *, guidance="normal", channel_axis=-1,
          tol=1e-6, maxiter=200, clip=True, method=None):
    r"""Seamless cloning: paste the masked part of ``source`` into ``target`` by its gradients.

    Parameters
    ----------
    source, target : (H, W) or (H, W, C) array
        uint8, uint16 or float images in [0, 1] with the same number of
        channels; their sizes may differ.
    mask : (Hs, Ws) array of bool, integers or floats
        The region Omega to clone, in source coordinates (the spatial shape
        of ``source``): the pixels where it is nonzero (True, 1, 255 in a
        0/255 PNG mask, any nonzero float; NaN is refused). It may touch the
        border of either image, have holes and several connected components.
    offset : (int, int), optional
        Where the source's pixel (0, 0) lands in the target: source pixel
        ``(i, j)`` goes to target pixel ``(i + offset[0], j + offset[1])``.
        Negative values are allowed.
    guidance : {"normal", "mixed"}, optional
        Guidance field: the source gradients (``"normal"``), or per edge and
        channel the larger in magnitude of the source and target gradients
        (``"mixed"``, for transparent objects and holes).
    channel_axis : int or None, optional
        Channel axis of 3-D images (default -1).
    tol : float, optional
        Stop when every channel's relative residual ``||b - A f|| / ||b||``
        is at most ``tol`` (default 1e-6).
    maxiter : int, optional
        Iteration limit of the preconditioned conjugate gradients.
    clip : bool, optional
        Clip the output to [0, 1] (default). The residual is that of the
        unclipped solution.
    method : {"normal", "mixed"}, optional
        Deprecated name of ``guidance`` (a ``FutureWarning``; it will be
        removed in gradfusion 0.2).

    Returns
    -------
    result : BlendResult
        ``output``, ``system_residual``, ``system_residuals``, ``nit``,
        ``n_unknowns``, ``n_cropped``, ``n_levels``, ``setup_time``, ``time``,
        ``success``, ``status``, ``message``.

    Raises
    ------
    TypeError, ValueError
        On invalid arguments (see :doc:`/errors`), when the offset places
        the whole mask outside the target, and when the mask covers the whole
        target (no Dirichlet value anywhere: the problem has no unique
        solution).

    Notes
    -----
    With Omega the mask pixels inside the target, ``N_p`` the 4-neighbours of
    ``p`` inside the target, ``f*`` the target and ``g`` the source (both in
    target coordinates), the unknown ``f`` on Omega solves Perez et al.'s
    discrete equation, for every ``p`` in Omega,

    .. math:: |N_p| f_p - \sum_{q \in N_p \cap \Omega} f_q
              = \sum_{q \in N_p \setminus \Omega} f^*_q + \sum_{q \in N_p} v_{pq},

    with ``v_pq = g_p - g_q`` (normal) or, for mixed gradients,
    ``v_pq = f*_p - f*_q`` when ``|f*_p - f*_q| > |g_p - g_q|``. Decisions:

    * pixels of the target border have fewer neighbours (``|N_p|`` counts
      only pixels inside the target: a Neumann condition there);
    * holes of the mask are Dirichlet pixels like the rest of the outside;
    * where ``q`` has no source pixel (the mask touches the source border),
      the source gradient across that edge is taken as 0;
    * mask pixels that the offset places outside the target are dropped
      (``n_cropped`` counts them; the message says so and a ``UserWarning``
      is issued); an offset that places the whole mask outside the target
      is a ``ValueError``; an empty mask returns a copy of the target with a
      ``UserWarning``;
    * a mask covering the whole target is refused (no boundary values).

    The system is symmetric positive definite. It is solved by conjugate
    gradients preconditioned with one multigrid V-cycle: vertex-centred
    bilinear transfers, Galerkin coarse operators ``P^T A P`` (9-point),
    red-black Gauss-Seidel on the fine level and Gauss-Seidel on the coarse
    ones (lexicographic within row bands), a sparse LU factor at the coarsest (at most 256
    unknowns, or where coarsening stalls). The hierarchy is built once per
    call and serves all channels, which share every kernel pass; 5 to 8
    iterations reach 1e-6 at any size. The initial guess is the source
    shifted by the mean boundary difference. The reported residual is
    recomputed from scratch after the iterations. See :doc:`/poisson`.

    References
    ----------
    .. [1] Patrick Perez, Michel Gangnet and Andrew Blake, "Poisson image
       editing", ACM Trans. Graph. 22(3) (2003) 313-318.

    Examples
    --------
    >>> import numpy as np
    >>> from gradfusion.poisson import blend
    >>> target = np.full((20, 20), 0.8)
    >>> source = np.full((8, 8), 0.1); source[3:5, 3:5] = 0.3   # a bump on a dark patch
    >>> mask = np.zeros((8, 8), bool); mask[1:7, 1:7] = True
    >>> res = blend(source, target, mask, offset=(6, 6))
    >>> res.success, res.system_residual < 1e-6
    (True, True)
    >>> bool(abs(res.output[6, 6] - 0.8) < 0.05)     # the dark patch takes the target's level
    True
    """
    t_start = time.perf_counter()
    if method is not None:
        if guidance != "normal":
            raise TypeError("blend got both guidance and its deprecated name method; pass "
                            "guidance only")
        warnings.warn("blend's method argument is renamed guidance (method will be removed in "
                      "gradfusion 0.2)", FutureWarning, stacklevel=2)
        guidance = method
    v.check_channel_axis(channel_axis)
    v.choice(guidance, "guidance", BLEND_GUIDANCE)
    _check_tol_maxiter(tol, maxiter)
    clip = v.flag(clip, "clip")
    S = v.as_float_image(source, "source")
    T = v.as_float_image(target, "target")
    if S.ndim != T.ndim:
        raise ValueError(
            f"source and target must both be grayscale (2-D) or both have channels (3-D), "
            f"got shapes {S.shape} and {T.shape}")
    dtype = np.result_type(S.dtype, T.dtype)
    # channels-first *views*: only the bounding box of the region is copied below
    Sc, _ = _channels_first_view(S, "source", channel_axis)
    Tc, _ = _channels_first_view(T, "target", channel_axis)
    if Sc.shape[0] != Tc.shape[0]:
        raise ValueError(
            f"source and target must have the same number of channels, got {Sc.shape[0]} "
            f"and {Tc.shape[0]}")
    C, Hs, Ws = Sc.shape
    _, Ht, Wt = Tc.shape
    m = _as_mask(mask, (Hs, Ws))
    dy, dx = _as_offset(offset)

    # the mask in target coordinates, cropped to the target
    n_total = int(np.count_nonzero(m))
    omega = np.zeros((Ht, Wt), dtype=bool)
    ty0, ty1 = max(dy, 0), min(dy + Hs, Ht)
    tx0, tx1 = max(dx, 0), min(dx + Ws, Wt)
    if ty0 < ty1 and tx0 < tx1:
        omega[ty0:ty1, tx0:tx1] = m[ty0 - dy:ty1 - dy, tx0 - dx:tx1 - dx]
    n_unknowns = int(np.count_nonzero(omega))
    n_cropped = n_total - n_unknowns
    if n_total and not n_unknowns:
        raise ValueError(
            f"offset {(dy, dx)} places all {n_total} mask pixels outside the {Ht}x{Wt} "
            f"target (the mask spans rows {_span(m.any(axis=1))} and columns "
            f"{_span(m.any(axis=0))} of the source)")
    if n_unknowns == 0:
        warnings.warn("blend: the mask is empty; the target is returned unchanged",
                      UserWarning, stacklevel=2)
        return BlendResult(
            output=T.astype(dtype, copy=True), system_residual=0.0,
            system_residuals=np.zeros(C), nit=0, n_unknowns=0, n_cropped=0, n_levels=0,
            setup_time=0.0, time=time.perf_counter() - t_start, success=True, status=0,
            message="the mask is empty: target returned unchanged")
    if n_unknowns == Ht * Wt:
        raise ValueError(
            "mask covers the whole target: there are no target pixels around it to give "
            "boundary (Dirichlet) values, so the blend has no unique solution; leave at "
            "least one target pixel outside the mask")
    if n_cropped:
        warnings.warn(
            f"blend: offset {(dy, dx)} places {n_cropped} of {n_total} mask pixels outside "
            f"the {Ht}x{Wt} target; they are dropped", UserWarning, stacklevel=2)

    # padded bounding box of Omega in target coordinates
    y0, y1, x0, x1 = _bbox(omega)
    py0, px0 = y0 - 1, x0 - 1
    Hp, Wp = (y1 - y0) + 2, (x1 - x0) + 2
    ry0, ry1 = max(py0, 0), min(py0 + Hp, Ht)         # in-image part of the padded box
    rx0, rx1 = max(px0, 0), min(px0 + Wp, Wt)
    sl_p = (slice(ry0 - py0, ry1 - py0), slice(rx0 - px0, rx1 - px0))
    kind = np.zeros((Hp, Wp), dtype=np.int8)
    kind[sl_p] = pk.FIXED
    kind[1:-1, 1:-1][omega[y0:y1, x0:x1]] = pk.UNKNOWN
    tgt = np.empty((C, Hp, Wp))
    pk.padded_window(Tc, py0, px0, tgt)             # 0 outside the image (never read there)
    # the source in the same coordinates, where it exists
    src = np.empty((C, Hp, Wp))
    pk.padded_window(Sc, py0 - dy, px0 - dx, src)
    valid = np.zeros((Hp, Wp), dtype=np.bool_)
    valid[max(dy - py0, 0):max(dy + Hs - py0, 0), max(dx - px0, 0):max(dx + Ws - px0, 0)] = True
    b = np.empty((C, Hp, Wp))
    pk.guided_rhs(kind, tgt, src, valid, guidance == "mixed", b)
    # initial guess: the source shifted by the mean difference across the boundary
    x = np.empty((C, Hp, Wp))
    pk.initial_guess(kind, tgt, src, x)
    del tgt, src

    hier = _Hierarchy(kind, (-py0, Ht - 1 - py0), (-px0, Wt - 1 - px0), C)
    setup_time = time.perf_counter() - t_start
    nit = 0
    bn = np.sqrt(_dots(b, b))
    bn[bn == 0] = 1.0
    edges = pk.band_edges(Hp, C, numba.get_num_threads())
    norms, row = np.empty(C), np.empty((C, 1, Wp))
    for _ in range(_RESTARTS):              # restart if the recursive residual drifted
        nit += _pcg(hier, b, x, tol, maxiter - nit, bn, edges)
        pk.count_residual(hier.count, hier.level_spans[0], x, b, row, edges, norms)   # norms only
        rel = np.sqrt(norms) / bn
        if np.all(rel <= tol) or nit >= maxiter:
            break
    success = bool(np.all(rel <= tol))
    status = 0 if success else (1 if nit >= maxiter else 2)
    out = np.empty(T.shape, dtype=dtype)                 # the target's own layout
    if T.flags.c_contiguous:
        pk.copy_flat(T.reshape(-1), out.reshape(-1))
    else:
        out[...] = T
    pk.write_solution(kind, x, _channels_first_view(out, "target", channel_axis)[0], py0, px0,
                      clip)
    msg = {0: f"converged: relative residual {rel.max():.1e} <= tol {tol:g}",
           1: f"iteration limit reached: relative residual {rel.max():.1e} > tol {tol:g}",
           2: f"attainable accuracy reached: relative residual {rel.max():.1e} > tol {tol:g} "
              f"after {_RESTARTS} restarts from the true residual ({nit} iterations; a smaller "
              f"residual is below the rounding of this dtype)"}[status]
    if n_cropped:
        msg += f"; {n_cropped} mask pixels outside the target were dropped"
    return BlendResult(
        output=out,
        system_residual=float(rel.max()), system_residuals=rel, nit=nit, n_unknowns=n_unknowns,
        n_cropped=n_cropped, n_levels=len(hier.kinds), setup_time=setup_time,
        time=time.perf_counter() - t_start, success=success, status=status, message=msg)


# --------------------------------------------------------------------------- color2gray


#: Rec. 709 weights of :func:`skimage.color.rgb2gray` (R, G, B)
_LUMA = (0.2125, 0.7154, 0.0721)


def _gray_channels(img, channel_axis):
    """A ``(C, H, W)`` view of the colour channels of ``img`` without alpha, and ``C`` (1 or 3).

    An alpha channel (the last of 2 or 4) must be fully opaque (1 after the
    conversion to float, 255 for uint8) and is dropped.
    """
    x, _ = _channels_first_view(img, "image", channel_axis)
    C = x.shape[0]
    if C not in (1, 2, 3, 4):
        raise ValueError(
            "image must have 1 (gray), 2 (gray and alpha), 3 (RGB) or 4 (RGBA) channels, "
            f"got {C}")
    if C in (2, 4):
        alpha = x[-1]
        below = int(np.count_nonzero(alpha != 1.0))
        if below:
            raise ValueError(
                f"image has a translucent alpha channel (below 1 at {below} of {alpha.size} "
                f"pixels, minimum {float(alpha.min()):.6g}); composite it onto a background "
                "first")
        x = x[:-1]
    return x, x.shape[0]


def _opponent(rgb):
    """Luminance ``Y`` and opponent chroma ``a`` (red +), ``b`` (yellow +) of ``(3, H, W)``."""
    wr, wg, wb = _LUMA
    R, G, B = rgb
    Y = wr * R + wg * G + wb * B
    a = (R - Y) * (0.5 / (1.0 - wr))          # Rec. 709 Cr
    b = (Y - B) * (0.5 / (1.0 - wb))          # minus Rec. 709 Cb
    return Y, a, b


def _colour_term(Y, a, b, weight, angle):
    """Per forward-difference edge, what the guidance adds to the luminance difference.

    ``s * max(0, weight * c - |dY|) / c`` with ``c = |(da, db)|`` and ``s`` the chroma
    difference projected on the direction ``angle`` (radians); 0 where ``c == 0``.
    Returned as the ``(gx, gy)`` maps of :func:`gradient` (0 on the last column / row).
    """
    ca, sa = np.cos(angle), np.sin(angle)
    out = []
    for axis in (1, 0):
        dY, da, db = (np.diff(z, axis=axis) for z in (Y, a, b))
        c = np.hypot(da, db)
        excess = np.maximum(weight * c - np.abs(dY), 0.0)
        term = np.divide((ca * da + sa * db) * excess, c, out=np.zeros_like(c), where=c > 0)
        full = np.zeros_like(Y)
        if axis == 1:
            full[:, :-1] = term
        else:
            full[:-1, :] = term
        out.append(full)
    return out


def _into_range(Y, e):
    """``Y + e`` brought into the room the luminance leaves: ``Y + e / sqrt(1 + (e / h)^2)``,
    ``h`` the room on the side ``e`` points to (``1 - Y`` up, ``Y`` down).

    Not ``h tanh(e / h)``: tanh rounds to 1 from ``e / h`` about 19, which put pixels of a
    luminance of 3e-4 exactly at 0; this sigmoid stays below 1 up to ``e / h`` about 7e7.
    """
    room = np.where(e > 0, 1.0 - Y, Y)
    t = np.divide(e, room, out=np.zeros_like(e), where=room > 0)
    return np.clip(Y + room * (t / np.sqrt(1.0 + t * t)), 0.0, 1.0)


def color2gray(image, *, channel_axis=-1, chroma_weight=1.0, chroma_angle=45.0,
               anchor_weight=1e-4):
    r"""Grayscale that follows the luminance and keeps the colour edges luminance loses.

    Parameters
    ----------
    image : (H, W) or (H, W, C) array
        RGB (``C = 3``) or RGBA (``C = 4``, fully opaque: the alpha channel is
        dropped) image, uint8, uint16 or float in [0, 1]. A grayscale image
        (2-D, or ``C = 1``; ``C = 2`` is gray and an opaque alpha) is returned
        unchanged as a float ``(H, W)`` array.
    channel_axis : int or None, optional
        Axis of the channels of a 3-D image (default -1).
    chroma_weight : float, optional
        ``k >= 0``: how much colour contrast is added (default 1). An edge
        whose luminance difference is at least ``k`` times its chroma
        difference keeps its luminance difference; 0 returns the luminance.
    chroma_angle : float, optional
        ``theta`` in degrees (default 45): the direction of the chroma plane,
        from red (0) towards yellow (90), whose colours become the lighter
        side of an edge of equal luminance. 45 makes warm colours (red,
        orange, yellow) lighter than cool ones (green, cyan, blue, violet).
    anchor_weight : float, optional
        Weight ``lambda >= 0`` of the pull towards the luminance (see Notes):
        added colour contrast reaches over about ``1 / sqrt(lambda)`` pixels
        (100 with the default), the luminance holds the level beyond. 0
        keeps only the mean.

    Returns
    -------
    gray : (H, W) ndarray
        In [0, 1], float64 (float32 for float32 input).

    Raises
    ------
    ValueError
        For a translucent alpha channel, or a channel count other than 1 to 4.

    Notes
    -----
    With ``w = (0.2125, 0.7154, 0.0721)`` the weights of
    :func:`skimage.color.rgb2gray`, the luminance and the opponent chroma
    (Rec. 709 ``Cr`` and ``-Cb``) are

    .. math::

        Y = w_R R + w_G G + w_B B, \quad
        a = \frac{R - Y}{2 (1 - w_R)}, \quad
        b = \frac{Y - B}{2 (1 - w_B)}.

    On each forward-difference edge with differences ``dY``, ``da``, ``db``,
    chroma difference ``c = sqrt(da^2 + db^2)`` and signed projection
    ``s = da cos(theta) + db sin(theta)``, the guidance is

    .. math:: v = dY + \frac{s}{c} \max(0,\; k c - |dY|)

    (``v = dY`` where ``c = 0``): the luminance difference, plus colour
    contrast only where the luminance difference is smaller than ``k`` times
    the chroma difference. The sign of the added contrast is that of the
    difference of one function of the colour, ``a cos(theta) + b sin(theta)``,
    so a pair of colours is ordered the same way on every edge and colours
    are ordered consistently across the image. Colours that differ only at
    right angles to ``theta`` get no added contrast. The grayscale is
    ``Y + e`` with

    .. math:: (D^T D + \lambda I)\, e = D^T (v - D Y),

    i.e. ``f = Y + e`` minimises ``||D f - v||^2 + lambda ||f - Y||^2``: the
    gradients decide at short range and the luminance fixes the level
    (``mean(e) = 0`` for every ``lambda``). One DCT pair solves it exactly
    (Neumann boundary). Finally ``e`` is brought into the room the luminance
    leaves,

    .. math:: f = Y + \frac{e}{\sqrt{1 + (e / h)^2}},

    ``h = 1 - Y`` where ``e > 0`` and ``h = Y`` where ``e < 0``: small
    corrections pass almost unchanged, and no pixel is pushed onto 0 or 1 (in
    floating point, only a luminance within about ``1e-8`` of them can round
    onto them).

    References
    ----------
    .. [1] Amy A. Gooch, Sven C. Olsen, Jack Tumblin and Bruce Gooch,
       "Color2Gray: salience-preserving color removal", ACM Trans. Graph.
       24(3) (2005) 634-639.
    .. [2] Patrick Perez, Michel Gangnet and Andrew Blake, "Poisson image
       editing", ACM Trans. Graph. 22(3) (2003) 313-318.

    Examples
    --------
    A red and a gray half of the same luminance: no edge in the luminance, a
    step in the result (red, the warmer colour, is lighter).

    >>> import numpy as np
    >>> from skimage.color import rgb2gray
    >>> from gradfusion.poisson import color2gray
    >>> img = np.zeros((16, 16, 3)); img[:, :8] = (0.8, 0.2, 0.2)
    >>> img[:, 8:] = rgb2gray(img[:1, :1])[0, 0]
    >>> bool(np.ptp(rgb2gray(img)) < 1e-12)
    True
    >>> g = color2gray(img)
    >>> bool(g[:, :8].mean() - g[:, 8:].mean() > 0.1)
    True
    """
    v.check_channel_axis(channel_axis)
    k = v.real(chroma_weight, "chroma_weight", "a finite number >= 0",
               lambda w: np.isfinite(w) and w >= 0)
    theta = v.real(chroma_angle, "chroma_angle", "a finite number (degrees)", np.isfinite)
    lam = v.real(anchor_weight, "anchor_weight", "a finite number >= 0",
                 lambda w: np.isfinite(w) and w >= 0)
    img = v.as_float_image(image, "image")
    x, C = _gray_channels(img, channel_axis)
    if C == 1:
        return np.array(x[0], dtype=img.dtype)            # a copy, in the image's float dtype
    Y, a, b = _opponent(x.astype(np.float64))
    if k == 0.0:
        return np.clip(Y, 0.0, 1.0).astype(img.dtype, copy=False)
    gx, gy = _colour_term(Y, a, b, k, np.radians(theta))
    e = _screened_poisson(_divergence_adjoint(gx[None], gy[None]), lam)[0]
    return _into_range(Y, e).astype(img.dtype, copy=False)
