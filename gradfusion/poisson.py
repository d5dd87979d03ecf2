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

The machinery is the private package ``gradfusion._poisson``; this module holds the
functions, their checks and their results.
"""

import time
import warnings

import numpy as np

from . import _validation as v
from ._deprecation import REMOVAL, Result, warn
from ._poisson import arguments, color, dct, solver
from ._poisson.levels import PoissonHierarchy
from ._poisson.system import System, place, span

__all__ = ["gradient", "reconstruct", "blend", "BlendResult", "color2gray", "BLEND_GUIDANCE",
           "BLEND_METHODS"]

#: ``blend``'s guidance fields: the source gradients, or the larger of source and target
BLEND_GUIDANCE = ("normal", "mixed")

#: the former name of :data:`BLEND_GUIDANCE` (``blend``'s ``method`` argument was renamed
#: ``guidance``: ``method`` names the solver everywhere else)
BLEND_METHODS = BLEND_GUIDANCE

#: ``BlendResult.status``: 0 converged, 1 the iteration limit, 2 the restarts ran out (the
#: recursive residual drifted from the true one three times: ``rtol`` is below the accuracy the
#: dtype allows for this system)
BLEND_STATUS = {0: "converged", 1: "iteration limit reached", 2: "attainable accuracy reached"}


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
    gx, gy = dct.forward_difference(xc.shape, xc.dtype).gradients(xc)
    return np.stack([v.channels_last(gx, axis), v.channels_last(gy, axis)]).astype(xc.dtype,
                                                                                 copy=False)


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
    ai, aj = arguments.pair_of_ints(anchor, "anchor")
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
    x = dct.screened_poisson(
        dct.divergence_adjoint(gx.astype(np.float64), gy.astype(np.float64)), 0.0)
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
        ``system_residual <= rtol``.
    status : int
        0 converged, 1 iteration limit, 2 the attainable accuracy reached
        before ``rtol`` (the conjugate gradients were restarted from the true
        residual three times and it stayed above ``rtol``: ask for a larger
        ``rtol`` in this dtype).
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


def _renamed_argument(old, old_value, new, new_value, default, why=""):
    """``blend``'s argument ``new``: ``new_value``, or the value of its deprecated name ``old``
    (with a ``FutureWarning``) when that was passed."""
    if old_value is None:
        return new_value
    if new_value != default:
        raise TypeError(f"blend got both {new} and its deprecated name {old}; pass {new} only")
    warn(f"blend's {old} argument is renamed {new} ({old} will be removed in {REMOVAL}{why})",
         stacklevel=4)
    return old_value


def blend(source, target, mask, offset=(0, 0), *, guidance="normal", channel_axis=-1,
          rtol=1e-6, maxiter=200, clip=True, method=None, tol=None):
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
    rtol : float, optional
        Stop when every channel's relative residual ``||b - A f|| / ||b||``
        is at most ``rtol`` (default 1e-6): the relative 2-norm of the linear
        system's residual, as ``rtol`` of :func:`scipy.sparse.linalg.cg`.
    maxiter : int, optional
        Iteration limit of the preconditioned conjugate gradients.
    clip : bool, optional
        Clip the output to [0, 1] (default). The residual is that of the
        unclipped solution.
    method : {"normal", "mixed"}, optional
        Deprecated name of ``guidance`` (a ``FutureWarning``; it will be
        removed in gradfusion 0.2).
    tol : float, optional
        Deprecated name of ``rtol`` (a ``FutureWarning``; it will be removed
        in gradfusion 0.2: :func:`gradfusion.solve`'s ``tol`` is an objective
        gap).

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
    guidance = _renamed_argument("method", method, "guidance", guidance, "normal")
    rtol = _renamed_argument("tol", tol, "rtol", rtol, 1e-6,
                             ": it is a relative residual, scipy.sparse.linalg.cg's rtol; "
                             "solve's tol is an objective gap")
    v.check_channel_axis(channel_axis)
    v.choice(guidance, "guidance", BLEND_GUIDANCE)
    arguments.check_rtol_maxiter(rtol, maxiter)
    clip = v.flag(clip, "clip")
    S = v.as_float_image(source, "source")
    T = v.as_float_image(target, "target")
    if S.ndim != T.ndim:
        raise ValueError(
            f"source and target must both be grayscale (2-D) or both have channels (3-D), "
            f"got shapes {S.shape} and {T.shape}")
    dtype = np.result_type(S.dtype, T.dtype)
    # channels-first *views*: only the bounding box of the region is copied
    Sc, _ = arguments.channels_first_view(S, "source", channel_axis)
    Tc, _ = arguments.channels_first_view(T, "target", channel_axis)
    if Sc.shape[0] != Tc.shape[0]:
        raise ValueError(
            f"source and target must have the same number of channels, got {Sc.shape[0]} "
            f"and {Tc.shape[0]}")
    C, Hs, Ws = Sc.shape
    _, Ht, Wt = Tc.shape
    m = arguments.as_mask(mask, (Hs, Ws))
    dy, dx = arguments.as_offset(offset)

    omega = place(m, (dy, dx), (Ht, Wt))
    n_total = int(np.count_nonzero(m))
    n_unknowns = int(np.count_nonzero(omega))
    n_cropped = n_total - n_unknowns
    if n_total and not n_unknowns:
        raise ValueError(
            f"offset {(dy, dx)} places all {n_total} mask pixels outside the {Ht}x{Wt} "
            f"target (the mask spans rows {span(m.any(axis=1))} and columns "
            f"{span(m.any(axis=0))} of the source)")
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

    system = System(Sc, Tc, omega, (dy, dx), guidance == "mixed")
    hier = PoissonHierarchy(system.kind, system.rows, system.cols, C)
    setup_time = time.perf_counter() - t_start
    nit, rel, status = solver.solve(hier, system.b, system.x, rtol, maxiter)
    out = system.output(T, dtype, channel_axis, clip)
    msg = {0: f"converged: relative residual {rel.max():.1e} <= rtol {rtol:g}",
           1: f"iteration limit reached: relative residual {rel.max():.1e} > rtol {rtol:g}",
           2: f"attainable accuracy reached: relative residual {rel.max():.1e} > rtol {rtol:g} "
              f"after {solver.RESTARTS} restarts from the true residual ({nit} iterations; a "
              f"smaller residual is below the rounding of this dtype)"}[status]
    if n_cropped:
        msg += f"; {n_cropped} mask pixels outside the target were dropped"
    return BlendResult(
        output=out,
        system_residual=float(rel.max()), system_residuals=rel, nit=nit, n_unknowns=n_unknowns,
        n_cropped=n_cropped, n_levels=len(hier.kinds), setup_time=setup_time,
        time=time.perf_counter() - t_start, success=status == 0, status=status, message=msg)


# --------------------------------------------------------------------------- color2gray


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
    x, C = color.gray_channels(img, channel_axis)
    if C == 1:
        return np.array(x[0], dtype=img.dtype)            # a copy, in the image's float dtype
    Y, a, b = color.opponent(x.astype(np.float64))
    if k == 0.0:
        return np.clip(Y, 0.0, 1.0).astype(img.dtype, copy=False)
    gx, gy = color.colour_term(Y, a, b, k, np.radians(theta))
    e = dct.screened_poisson(dct.divergence_adjoint(gx[None], gy[None]), lam)[0]
    return color.into_range(Y, e).astype(img.dtype, copy=False)
