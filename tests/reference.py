"""Plain NumPy / SciPy references for the Numba kernels of gradfusion.

Every function mirrors one kernel of :mod:`gradfusion._stencils` or
:mod:`gradfusion._solvers._kernels` but is written independently of it
(``scipy.ndimage`` correlations, explicit extension matrices, boolean masks),
computes in float64 and returns its results instead of writing into output
arguments.  Arrays are ``(C, H, W)``; the box is ``0 <= x <= upper``, ``upper`` per channel ``(C,)``
or per pixel ``(C or 1, H, W)`` (an alpha map).
"""

import numpy as np
from scipy import ndimage

ZERO = 0
REFLECT = 1

#: Sobel cross-correlation kernels: kx differentiates along x (columns),
#: ky = kx.T along y (rows); "top minus bottom", "left minus right".
KX = np.array([[1.0, 0.0, -1.0],
               [2.0, 0.0, -2.0],
               [1.0, 0.0, -1.0]])
KY = KX.T.copy()


def _f64(a):
    """Return ``a`` as a float64 ndarray (a copy only when needed)."""
    return np.asarray(a, dtype=np.float64)


def _scipy_mode(mode):
    """Translate a gradfusion boundary flag into a ``scipy.ndimage`` mode name."""
    if mode == ZERO:
        return "constant"
    if mode == REFLECT:
        return "reflect"
    raise ValueError(f"unknown boundary mode {mode!r}")


def extension_matrix(n):
    """The ``(n + 2, n)`` 0/1 matrix of one-pixel half-sample reflection (edge copy)."""
    E = np.zeros((n + 2, n))
    E[np.arange(1, n + 1), np.arange(n)] = 1.0
    E[0, 0] = 1.0
    E[n + 1, n - 1] = 1.0
    return E


def sobel_forward(u, mode):
    """Sobel pair ``(gx, gy)`` of ``u`` by ``scipy.ndimage.correlate`` per channel."""
    u = _f64(u)
    smode = _scipy_mode(mode)
    gx = np.stack([ndimage.correlate(ch, KX, mode=smode, cval=0.0) for ch in u])
    gy = np.stack([ndimage.correlate(ch, KY, mode=smode, cval=0.0) for ch in u])
    return gx, gy


def sobel_forward_padded(u, mode):
    """Sobel pair by explicit padding (``np.pad``) and shifted slices (cross-check)."""
    u = _f64(u)
    C, H, W = u.shape
    pad_mode = "constant" if mode == ZERO else "symmetric"
    e = np.pad(u, ((0, 0), (1, 1), (1, 1)), mode=pad_mode)
    gx = np.zeros_like(u)
    gy = np.zeros_like(u)
    for a in range(3):
        for b in range(3):
            win = e[:, a:a + H, b:b + W]
            gx += KX[a, b] * win
            gy += KY[a, b] * win
    return gx, gy


def sobel_adjoint(gx, gy, mode):
    """Explicit adjoint ``E^T K^T`` of the padded Sobel pair (full convolution, then fold)."""
    gx = _f64(gx)
    gy = _f64(gy)
    C, H, W = gx.shape
    out = np.empty_like(gx)
    for c in range(C):
        # K^T y: full convolution, evaluated on the (H+2, W+2) padded grid.
        zx = np.pad(gx[c], 1)
        zy = np.pad(gy[c], 1)
        full = (ndimage.convolve(zx, KX, mode="constant", cval=0.0)
                + ndimage.convolve(zy, KY, mode="constant", cval=0.0))
        if mode == ZERO:
            # E is the zero extension: E^T keeps the interior, drops the ring.
            out[c] = full[1:-1, 1:-1]
        elif mode == REFLECT:
            # E = Er (.) Ec copies edge pixels onto the ring; E^T folds it back.
            out[c] = extension_matrix(H).T @ full @ extension_matrix(W)
        else:
            raise ValueError(f"unknown boundary mode {mode!r}")
    return out


def forward_difference(u):
    """Forward differences with zero last column (``dx``) / last row (``dy``)."""
    u = _f64(u)
    dx = np.zeros_like(u)
    dy = np.zeros_like(u)
    dx[:, :, :-1] = np.diff(u, axis=2)
    dy[:, :-1, :] = np.diff(u, axis=1)
    return dx, dy


def forward_difference_adjoint(dx, dy):
    """Transpose of :func:`forward_difference`, by scattering each difference to its two pixels."""
    dx = _f64(dx)
    dy = _f64(dy)
    out = np.zeros_like(dx)
    vx = dx[:, :, :-1]          # dx[.., j] = u[.., j+1] - u[.., j]
    out[:, :, 1:] += vx
    out[:, :, :-1] -= vx
    vy = dy[:, :-1, :]
    out[:, 1:, :] += vy
    out[:, :-1, :] -= vy
    return out


def _valid_correlate_last(u, taps):
    """'Valid' correlation of ``u`` with ``taps`` along the last axis, zero-filled to full length."""
    n = u.shape[-1]
    k = taps.shape[0] - 1
    out = np.zeros_like(u)
    if n > k:
        win = np.lib.stride_tricks.sliding_window_view(u, k + 1, axis=-1)
        out[..., :n - k] = win @ taps
    return out


def _valid_correlate_last_adjoint(d, taps):
    """Transpose of :func:`_valid_correlate_last` (scatter of every valid output)."""
    n = d.shape[-1]
    k = taps.shape[0] - 1
    out = np.zeros_like(d)
    if n > k:
        for m in range(k + 1):
            out[..., m:m + n - k] += taps[m] * d[..., :n - k]
    return out


def difference_forward(u, taps):
    """'Valid' 1-D ``taps`` correlation along x (``dx``) and along y (``dy``), zero beyond."""
    u = _f64(u)
    taps = _f64(taps)
    dx = _valid_correlate_last(u, taps)
    dy = np.swapaxes(_valid_correlate_last(np.swapaxes(u, 1, 2), taps), 1, 2)
    return dx, dy


def difference_adjoint(dx, dy, taps):
    """Transpose of :func:`difference_forward` applied to ``(dx, dy)``."""
    dx = _f64(dx)
    dy = _f64(dy)
    taps = _f64(taps)
    out = _valid_correlate_last_adjoint(dx, taps)
    out += np.swapaxes(_valid_correlate_last_adjoint(np.swapaxes(dy, 1, 2), taps), 1, 2)
    return out


def _field(values):
    """Per-channel values ``(C,)`` as ``(C, 1, 1)``; a per-pixel map ``(C or 1, H, W)`` as it is
    (an alpha map's bounds)."""
    return values[:, None, None] if values.ndim == 1 else values


def clip_channels(x, upper):
    """``(clip(x[c], 0, upper[c]), sum |clip - x|)``."""
    x = _f64(x)
    out = np.clip(x, 0.0, _field(_f64(upper)))
    return out, float(np.abs(out - x).sum())


def sobel_energy(d, mode):
    """``sum gx^2 + gy^2`` of the reference Sobel pair of ``d``."""
    gx, gy = sobel_forward(d, mode)
    return float(np.sum(gx * gx) + np.sum(gy * gy))


def output_difference(image, proposal, residual, alpha):
    """``alpha[c] * image + residual - proposal``."""
    a = _field(_f64(alpha))
    return a * _f64(image) + _f64(residual) - _f64(proposal)


# --------------------------------------------------------------------------
# Solver kernels (box 0 <= x[c] <= upper[c])
# --------------------------------------------------------------------------

def box_masks(x, upper):
    """Boolean masks ``(at_lower, at_upper, free)`` with the lower bound taking precedence."""
    x = np.asarray(x)
    hi = _field(np.asarray(upper, dtype=x.dtype))
    lower = x <= 0
    upper_ = (x >= hi) & ~lower
    free = ~(lower | upper_)
    return lower, upper_, free


def free_gradient(x, g, upper):
    """Free gradient ``phi``: ``g`` where ``0 < x < upper``, else 0."""
    _, _, free = box_masks(x, upper)
    return np.where(free, _f64(g), 0.0)


def chopped_gradient(x, g, upper):
    """Chopped gradient ``beta``: ``min(g, 0)`` at 0, ``max(g, 0)`` at upper, else 0."""
    lower, upper_, _ = box_masks(x, upper)
    g = _f64(g)
    return np.where(lower, np.minimum(g, 0.0), np.where(upper_, np.maximum(g, 0.0), 0.0))


def reduced_free_gradient(x, g, upper, abar):
    """Reduced free gradient ``phi~``: the free gradient capped by ``x / abar`` or ``(x - u) / abar``."""
    _, _, free = box_masks(x, upper)
    xf = _f64(x)
    g = _f64(g)
    hi = _field(_f64(upper))
    pt = np.where(g > 0, np.minimum(xf / abar, g), np.maximum((xf - hi) / abar, g))
    return np.where(free, pt, 0.0)


def projected_gradient_measures(x, g, upper, abar):
    """``(||beta||^2, phi~ . phi, ||g^P||_inf, ||g^P||^2)`` with ``g^P = phi + beta``."""
    beta = chopped_gradient(x, g, upper)
    phi = free_gradient(x, g, upper)
    pt = reduced_free_gradient(x, g, upper, abar)
    gp = phi + beta
    return (float(np.sum(beta * beta)), float(np.sum(pt * phi)),
            float(np.max(np.abs(gp))), float(np.sum(gp * gp)))


def max_feasible_step(x, p, upper):
    """Largest ``a >= 0`` keeping ``x - a p`` in the box, by the explicit ratio test."""
    x = _f64(x)
    p = _f64(p)
    hi = np.broadcast_to(_field(_f64(upper)), x.shape)
    ratios = np.full(x.shape, np.inf)
    pos = p > 0
    neg = p < 0
    ratios[pos] = x[pos] / p[pos]
    ratios[neg] = (x[neg] - hi[neg]) / p[neg]
    return max(float(ratios.min()), 0.0)


def dot(a, b):
    """``sum(a * b)`` in float64."""
    return float(np.sum(_f64(a) * _f64(b)))


def step_and_update(x, g, p, ap, step):
    """``(x - step p, g - step ap)``."""
    return _f64(x) - step * _f64(p), _f64(g) - step * _f64(ap)


def projected_step(x, d, upper, step):
    """``clip(x - step d, 0, upper)``."""
    return np.clip(_f64(x) - step * _f64(d), 0.0, _field(_f64(upper)))


def conjugate_direction(x, g, upper, p, gamma):
    """``phi(x) - gamma p`` on free variables, 0 at a bound."""
    x = _f64(x)
    up = _field(_f64(upper))
    inside = (x > 0) & (x < up)
    return np.where(inside, _f64(g) - gamma * _f64(p), 0.0)


def residual_gradient(ax, b):
    """``ax - b``."""
    return _f64(ax) - _f64(b)


def free_dot(x, g, upper, v):
    """``phi(x) . v``."""
    return float(np.sum(free_gradient(x, g, upper) * _f64(v)))


def normal_matvec(v, mode, weight, taps, shift=0.0, diagonal=None):
    """``(S^T S + weight D^T D + shift I + diag(diagonal)) v`` composed from the
    forward/adjoint references (``diagonal`` of shape (1 or C, H, W) or None)."""
    gx, gy = sobel_forward(v, mode)
    out = sobel_adjoint(gx, gy, mode)
    if weight:
        dx, dy = difference_forward(v, taps)
        out = out + weight * difference_adjoint(dx, dy, taps)
    out = out + shift * _f64(v)
    if diagonal is not None:
        out = out + _f64(diagonal) * _f64(v)
    return out


def add_diagonal(v, d, out):
    """``(out + d * v, v . (d * v))``, ``d`` broadcast over channels."""
    dv = _f64(d) * _f64(v)
    return _f64(out) + dv, float(np.sum(dv * _f64(v)))


def cg_scalars(x, g, p, ap, b):
    """``(p.Ap, g.p, x.g, x.b)``."""
    return (dot(p, ap), dot(g, p), dot(x, g), dot(x, b))


def conjugate_direction_measures(x, g, upper, p, gamma, abar):
    """``(p', measures + (g.p',))``: :func:`conjugate_direction`,
    :func:`projected_gradient_measures` and the next step's ``g . p``."""
    p2 = conjugate_direction(x, g, upper, p, gamma)
    measures = tuple(projected_gradient_measures(x, g, upper, abar))
    return p2, measures + (dot(g, p2),)


def gradient_and_dots(ax, b, x, upper, v):
    """``(g, (x.g, x.b, phi(x).v))`` with ``g = ax - b``."""
    g = residual_gradient(ax, b)
    return g, (dot(x, g), dot(x, b), free_dot(x, g, upper, v))


def project_step_update(x, g, p, ap, upper, step):
    """``(saved, x', g', clips)``: ``x' = clip(x - step p)``, ``g' = g - step ap`` (the
    gradient at the unclipped point), and per (c, i) row the number of clipped
    variables and the span of their columns, ``(n, first, stop)`` (``(0, W, 0)`` if none)."""
    y = _f64(x) - step * _f64(p)
    xn = projected_step(x, p, upper, step)
    return _f64(x).copy(), xn, _f64(g) - step * _f64(ap), _moves(y, xn)


def sparse_correction(x, saved, p, step, g, mode, weight, taps):
    """``g + A (x - (saved - step p))`` by a dense product with the operator."""
    d = _f64(x) - (_f64(saved) - step * _f64(p))
    return _f64(g) + normal_matvec(d, mode, weight, taps)


def objective_dots(x, g, b, upper, v):
    """``(x.g, x.b, phi(x).v)``."""
    return dot(x, g), dot(x, b), free_dot(x, g, upper, v)


# --------------------------------------------------------------------------
# Grid transfers of the coarse-to-fine driver (in the arrays' own dtype: the
# kernels must agree bitwise)
# --------------------------------------------------------------------------


def downsample(a):
    """2x2 area average of a ``(C, H, W)`` array (odd edges replicate)."""
    if a.shape[1] % 2:
        a = np.concatenate([a, a[:, -1:]], axis=1)
    if a.shape[2] % 2:
        a = np.concatenate([a, a[:, :, -1:]], axis=2)
    return 0.25 * (a[:, 0::2, 0::2] + a[:, 1::2, 0::2] + a[:, 0::2, 1::2] + a[:, 1::2, 1::2])


def _linear_up_axis(a, axis):
    """2x linear interpolation along ``axis`` on cell centres (edges clamp)."""
    a = np.moveaxis(a, axis, -1)
    left = np.concatenate([a[..., :1], a[..., :-1]], axis=-1)
    right = np.concatenate([a[..., 1:], a[..., -1:]], axis=-1)
    out = np.empty(a.shape[:-1] + (2 * a.shape[-1],), dtype=a.dtype)
    out[..., 0::2] = 0.75 * a + 0.25 * left
    out[..., 1::2] = 0.75 * a + 0.25 * right
    return np.moveaxis(out, -1, axis)


def upsample(a, shape):
    """Bilinear 2x upsampling along rows, then columns, cropped to ``shape``."""
    up = _linear_up_axis(_linear_up_axis(a, 1), 2)
    return np.ascontiguousarray(up[:, :shape[1], :shape[2]])


# --------------------------------------------------------------------------
# Active-set solver (gradfusion._solvers._mg_kernels) and the grid transfers of its multigrid
# (gradfusion._multigrid.transfer)
# --------------------------------------------------------------------------


def prolongation_matrix_1d(n):
    """The ``(n, (n + 1) // 2)`` matrix of 1-D linear interpolation on cell centres
    (:func:`_linear_up_axis` cropped to ``n``), assembled entry by entry."""
    nc = (n + 1) // 2
    P = np.zeros((n, nc))
    for i in range(n):
        k = i // 2
        other = max(k - 1, 0) if i % 2 == 0 else min(k + 1, nc - 1)
        P[i, k] += 0.75
        P[i, other] += 0.25
    return P


def prolongation_matrix(shape):
    """``scipy.sparse`` matrix of the 2-D bilinear prolongation of one ``(H, W)`` channel
    onto the fine grid (Kronecker product of the 1-D matrices, row-major cells)."""
    from scipy import sparse
    _, H, W = shape
    return sparse.kron(sparse.csr_matrix(prolongation_matrix_1d(H)),
                       sparse.csr_matrix(prolongation_matrix_1d(W))).tocsr()


def prolong(coarse, mask):
    """``mask * P coarse`` (fine shape from ``mask``)."""
    return _f64(mask) * upsample(_f64(coarse), mask.shape)


def restrict(fine, cmask):
    """``cmask * P^T fine`` from the assembled prolongation matrix."""
    P = prolongation_matrix(fine.shape)
    out = np.stack([(P.T @ _f64(f).ravel()).reshape(cmask.shape[1:]) for f in fine])
    return _f64(cmask) * out


def coarse_mask(fine):
    """1 where all four fine cells of a coarse cell are 1 (odd edges replicate)."""
    f = fine.astype(bool)
    if f.shape[1] % 2:
        f = np.concatenate([f, f[:, -1:]], axis=1)
    if f.shape[2] % 2:
        f = np.concatenate([f, f[:, :, -1:]], axis=2)
    both = f[:, 0::2, 0::2] & f[:, 1::2, 0::2] & f[:, 0::2, 1::2] & f[:, 1::2, 1::2]
    return both.astype(np.uint8)


def pre_smooth(b, ab, mask, s):
    """The residual of ``x = s b``: ``mask (b - s ab)``."""
    return _f64(mask) * (_f64(b) - s * _f64(ab))


def post_smooth(b, e, r, ae, mask, s):
    """``(x, b . x)`` with ``x = s b + e + s mask (r - ae)``."""
    x = s * _f64(b) + _f64(e) + s * _f64(mask) * (_f64(r) - _f64(ae))
    return x, float(np.sum(_f64(b) * x))


def _moves(before, after):
    """Per (c, i) row: the number of variables that differ and their column span,
    ``(n, first, stop)`` (``(0, W, 0)`` if none)."""
    W = before.shape[-1]
    moved = (before != after).reshape(-1, W)
    cols = np.arange(W)
    return np.stack([moved.sum(axis=1), np.where(moved, cols, W).min(axis=1),
                     np.where(moved, cols + 1, 0).max(axis=1)], axis=1)


def active_set(x, g, upper, c):
    """``(x, mask, free, moves)`` after one primal-dual active-set update (``moves`` as
    :func:`_moves` of the update)."""
    x0 = _f64(x)
    x = x0.copy()
    hi = _field(_f64(upper)) + np.zeros_like(x)
    z = x - c * _f64(g)
    lower = z <= 0.0
    upper_set = ~lower & (z >= hi)
    free = ~(lower | upper_set)
    x[lower] = 0.0
    x[upper_set] = hi[upper_set]
    return x, free.astype(np.uint8), int(free.sum()), _moves(x0, x)


def project_box(x, upper):
    """``(clip(x, 0, upper), moves)``."""
    x0 = _f64(x)
    xn = np.clip(x0, 0.0, _field(_f64(upper)))
    return xn, _moves(x0, xn)


def add_columns(g, x, saved, mode, weight, taps):
    """``g + A (x - saved)`` by a dense product with the operator."""
    return _f64(g) + normal_matvec(_f64(x) - _f64(saved), mode, weight, taps)


def free_residual(g, mask):
    """``(r, r . r, max |r|)`` of ``r = -mask g``."""
    r = -_f64(mask) * _f64(g)
    return r, float(np.sum(r * r)), float(np.abs(r).max(initial=0.0))


def cg_update(x, r, g, p, ap, mask, alpha):
    """``(x + alpha p, r_new, g + alpha ap, r_new . r_new, max |r_new|)``,
    ``r_new = mask (r - alpha ap)``."""
    r_new = _f64(mask) * (_f64(r) - alpha * _f64(ap))
    return (_f64(x) + alpha * _f64(p), r_new, _f64(g) + alpha * _f64(ap),
            float(np.sum(r_new * r_new)), float(np.abs(r_new).max(initial=0.0)))


def cg_direction(z, p, beta):
    """``z + beta p``."""
    return _f64(z) + beta * _f64(p)


# --------------------------------------------------------------------------
# The StayPositive baseline's loss at an affine residual
# (gradfusion._baseline_kernels): samples in 1-D arrays, ``ch`` their channel
# --------------------------------------------------------------------------


def affine_loss(A, B, ch, lo, p, u, t, w, penalty):
    """``(loss, fidelity, violation)`` of ``R = A[ch] p + B[ch]``: the weighted means of
    ``|t - N(lo + clip(R, 0, u))|`` (``N`` the min-max normalisation, 0 for a constant) and
    of ``|clip(R, 0, u) - R|``, ``loss = fidelity + penalty * violation``."""
    w = _f64(w)
    R = _f64(A)[ch] * _f64(p) + _f64(B)[ch]
    clipped = np.clip(R, 0.0, _f64(u))
    O = _f64(lo) + clipped
    span = O.max() - O.min()
    N = (O - O.min()) / span if span > 0 else np.zeros_like(O)
    fidelity = np.sum(w * np.abs(_f64(t) - N)) / np.sum(w)
    violation = np.sum(w * np.abs(clipped - R)) / np.sum(w)
    return fidelity + penalty * violation, fidelity, violation


def affine_loss_grid(As, Bs, which, A0, B0, ch, lo, p, u, t, w, penalty):
    """The loss at each ``(As[g], Bs[g])`` put in channel ``which`` of ``(A0, B0)`` (every
    channel if ``which`` is -1)."""
    out = np.empty(np.size(As))
    for g, (a, b) in enumerate(zip(np.ravel(As), np.ravel(Bs))):
        A, B = np.array(A0, dtype=np.float64), np.array(B0, dtype=np.float64)
        channels = slice(None) if which < 0 else which
        A[channels], B[channels] = a, b
        out[g] = affine_loss(A, B, ch, lo, p, u, t, w, penalty)[0]
    return out


# --------------------------------------------------------------------------
# Bilinear warps of the video warm start (gradfusion._video._kernels): arrays
# ``(H, W, C)`` (any strides), the motion mapping each output pixel back to a
# point of the source; ``edge`` is the kernels' ``EDGE``
# --------------------------------------------------------------------------


def bilinear_at(src, sy, sx, edge):
    """``(values, valid)``: ``src`` ``(H, W, C)`` at the points ``(sy, sx)`` (row, column; two
    arrays of one shape ``S``), each the sum of all pixels under tent weights
    ``max(0, 1 - |sy - i|) * max(0, 1 - |sx - j|)``.

    ``valid`` (bool, ``S``): the point lies on the pixel grid ``[0, H - 1] x [0, W - 1]`` or
    at most ``edge`` outside it (such a point is moved onto the grid first). ``values``
    (float64, ``S + (C,)``) is NaN where the point is not valid.
    """
    src = _f64(src)
    H, W, _ = src.shape
    sy, sx = np.broadcast_arrays(_f64(sy), _f64(sx))
    with np.errstate(invalid="ignore"):
        valid = (sy >= -edge) & (sy <= H - 1 + edge) & (sx >= -edge) & (sx <= W - 1 + edge)
    y = np.clip(np.where(valid, sy, 0.0), 0.0, H - 1.0)
    x = np.clip(np.where(valid, sx, 0.0), 0.0, W - 1.0)
    wy = np.maximum(0.0, 1.0 - np.abs(y[..., None] - np.arange(H)))      # S + (H,)
    wx = np.maximum(0.0, 1.0 - np.abs(x[..., None] - np.arange(W)))      # S + (W,)
    values = np.einsum("...i,...j,ijc->...c", wy, wx, src, optimize=True)
    values[~valid] = np.nan
    return values, valid


def warp_homography(src, inverse, edge):
    """``(values, valid)`` of the warp by a homography: output pixel ``(y, x)`` takes the
    source at ``inverse @ (x, y, 1)`` divided by its third coordinate (scikit-image's
    ``(col, row)`` order); not valid where that coordinate is 0 (see :func:`bilinear_at`)."""
    H, W = np.shape(src)[:2]
    y, x = np.indices((H, W), dtype=np.float64)
    p = np.einsum("ij,jyx->iyx", _f64(inverse), np.stack([x, y, np.ones_like(x)]))
    with np.errstate(divide="ignore", invalid="ignore"):
        sx, sy = p[0] / p[2], p[1] / p[2]
    values, valid = bilinear_at(src, sy, sx, edge)
    valid &= p[2] != 0
    values[~valid] = np.nan
    return values, valid


def warp_flow(src, flow, edge):
    """``(values, valid)`` of the warp by a flow field ``(2, H, W)``: output pixel ``(y, x)``
    takes the source at ``(y + flow[0, y, x], x + flow[1, y, x])`` (see :func:`bilinear_at`)."""
    H, W = np.shape(src)[:2]
    y, x = np.indices((H, W), dtype=np.float64)
    flow = _f64(flow)
    return bilinear_at(src, y + flow[0], x + flow[1], edge)
