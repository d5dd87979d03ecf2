r"""Image quality metrics for comparing outputs with the proposal.

Every metric takes ``(reference, image)``, the reference first as in
scikit-image's ``(image_true, image_test)`` -- for gradfusion the proposal
``P`` and an output ``O``; :func:`~gradfusion.gradient_error` too, and :func:`flicker`
takes ``proposals=`` and ``outputs=`` -- with scikit-image's conventions: arrays of the
same shape, ``uint8``/``uint16`` (scaled to [0, 1]) or float in [0, 1], and
``channel_axis`` naming the colour axis of 3-D images (2-D images are
grayscale). Since images are brought to [0, 1], every data range is 1.

The paper reports metrics averaged over non-overlapping square patches
(150x150 for Day2Night, 100x100 for the Last Supper). ``patch_size=K`` does
the same for PSNR, SSIM, GMSD and LPIPS; ``partial`` says what happens to the
strips along the right and bottom borders that are narrower than ``K``:

``"drop"`` (default)
    They are left out: the image is tiled by full patches from its top-left
    corner, as a ``reshape``-based tiling would.
``"shift"``
    The last patch of each row and column is moved back to end at the border,
    so it overlaps its neighbour; every pixel is covered and every patch is
    ``K x K``.

``normalize`` applies StayPositive's global min-max normalisation
:func:`minmax_normalize` to both images before the metric -- ``"global"``
once per image, ``"patch"`` once per patch -- a stand-in for the eye's
adaptation that compares structure rather than absolute light.

LPIPS needs the optional packages ``torch`` and ``lpips``
(``pip install "gradfusion[lpips]"``); they are imported only when
:func:`lpips` is called.
"""

import numpy as np

from . import _deprecation, _lpips
from . import _validation as v
from ._lpips import LPIPSUnavailableError
from .objective import gradient_error

__all__ = ["psnr", "ssim", "gmsd", "lpips", "gradient_error", "stripe_share",
           "minmax_normalize", "patch_slices", "LPIPSUnavailableError", "flicker",
           "border_artifacts"]

PARTIAL_MODES = v.PARTIAL_MODES
NORMALIZE_MODES = v.NORMALIZE_MODES
#: side of scikit-image's default SSIM window: the smallest image or patch SSIM can score
SSIM_WINDOW = 7

#: torchvision backbone checkpoints that ``lpips.LPIPS(net=...)`` loads
LPIPS_BACKBONES = _lpips.BACKBONES

# GMSD constants (Xue et al. 2014): T = 170 for images in [0, 255].
_GMSD_T = 170.0 / 255.0 ** 2
_LUMA = np.array([0.299, 0.587, 0.114])


# --------------------------------------------------------------------------- helpers

def minmax_normalize(image):
    """StayPositive's normalisation ``N(x) = (x - min x) / (max x - min x)``.

    The minimum and maximum are taken over the whole array (all channels).

    Parameters
    ----------
    image : ndarray
        Floating-point array.

    Returns
    -------
    normalized : ndarray
        Same shape and dtype, values in [0, 1]. A constant array (``max ==
        min``) has no contrast to stretch and normalises to all zeros.

    Examples
    --------
    >>> import numpy as np
    >>> from gradfusion.metrics import minmax_normalize
    >>> minmax_normalize(np.array([0.2, 0.4, 0.6]))
    array([0. , 0.5, 1. ])
    >>> minmax_normalize(np.full(3, 0.7))
    array([0., 0., 0.])
    """
    lo, hi = float(image.min()), float(image.max())
    if hi > lo:
        return (image - lo) / (hi - lo)
    return np.zeros_like(image)


def patch_slices(shape, patch_size, partial="drop"):
    """The non-overlapping ``patch_size`` squares that tile an image.

    Parameters
    ----------
    shape : tuple of int
        ``(H, W)`` of the image.
    patch_size : int
        Side of the square patches.
    partial : {"drop", "shift"}, optional
        What to do with the border strips narrower than ``patch_size``: leave
        them out, or shift the last patch back so that it ends at the border.

    Returns
    -------
    slices : list of (slice, slice)
        Row-major order.

    Raises
    ------
    ValueError
        If ``patch_size`` is larger than the image.

    Examples
    --------
    >>> from gradfusion.metrics import patch_slices
    >>> [(r.start, c.start) for r, c in patch_slices((5, 7), 3)]
    [(0, 0), (0, 3)]
    >>> [(r.start, c.start) for r, c in patch_slices((5, 7), 3, "shift")]
    [(0, 0), (0, 3), (0, 4), (2, 0), (2, 3), (2, 4)]
    """
    H, W = shape
    if partial not in PARTIAL_MODES:
        raise ValueError(f"partial must be one of {PARTIAL_MODES}, got {partial!r}")
    K = v.check_patch_size(patch_size, (H, W))

    def starts(n):
        s = list(range(0, n - K + 1, K))
        if partial == "shift" and s[-1] + K < n:
            s.append(n - K)
        return s

    return [(slice(i, i + K), slice(j, j + K)) for i in starts(H) for j in starts(W)]


def _prepare(reference, image, channel_axis):
    """Validated float64 ``(C, H, W)`` copies of both images."""
    R = v.as_float_image(reference, "reference")
    X = v.as_float_image(image, "image")
    if R.shape != X.shape:
        raise ValueError(
            f"reference and image must have the same shape, got {R.shape} and {X.shape}")
    Rc, _ = v.channels_first(R.astype(np.float64), "reference", channel_axis)
    Xc, _ = v.channels_first(X.astype(np.float64), "image", channel_axis)
    return Rc, Xc


def _pairs(reference, image, channel_axis, patch_size, partial, normalize, min_size=1):
    """Validate, normalise and cut both images; return lists of (C, h, w) pairs."""
    R, X = _prepare(reference, image, channel_axis)
    v.check_metric_options(R.shape, patch_size, partial, normalize, min_size)
    if normalize == "global":
        R, X = minmax_normalize(R), minmax_normalize(X)
    if patch_size is None:
        return [R], [X]
    cuts = patch_slices(R.shape[1:], patch_size, partial)
    Rs = [R[:, r, c] for r, c in cuts]
    Xs = [X[:, r, c] for r, c in cuts]
    if normalize == "patch":
        Rs = [minmax_normalize(p) for p in Rs]
        Xs = [minmax_normalize(p) for p in Xs]
    return Rs, Xs


def _mean_over(fn, Rs, Xs):
    return float(np.mean([fn(r, x) for r, x in zip(Rs, Xs)]))


_PATCH_DOC = """
    channel_axis : int or None, optional
        Axis of the colour channels of 3-D images.
    patch_size : int, optional
        Average the metric over non-overlapping ``patch_size`` squares
        (the paper: 150 for Day2Night, 100 for the Last Supper). Default:
        the whole image at once.
    partial : {"drop", "shift"}, optional
        Border strips narrower than ``patch_size``: left out, or covered by a
        patch shifted back to the border (see the module notes).
    normalize : {None, "global", "patch"}, optional
        Min-max normalise both images (:func:`minmax_normalize`) first, once
        per image or once per patch."""


def _with_patch_doc(fn):
    if fn.__doc__:                            # None under python -OO
        fn.__doc__ = fn.__doc__.replace("    {patch_parameters}", _PATCH_DOC.strip("\n"))
    return fn


# --------------------------------------------------------------------------- PSNR / SSIM

def _psnr(r, x):
    mse = float(np.mean((r - x) ** 2))
    return np.inf if mse == 0.0 else 10.0 * np.log10(1.0 / mse)


@_with_patch_doc
def psnr(reference, image, *, channel_axis=-1, patch_size=None, partial="drop",
         normalize=None):
    r"""Peak signal-to-noise ratio in dB, optionally averaged over patches.

    Parameters
    ----------
    reference, image : (H, W) or (H, W, C) array
        The images to compare (uint8, uint16, or float in [0, 1]).
    {patch_parameters}

    Returns
    -------
    psnr : float
        ``inf`` if the images (or, with patches, any patch pair) are equal.

    Notes
    -----
    With a data range of 1, :math:`\mathrm{PSNR} = -10 \log_{10}
    \mathrm{mean}((x - r)^2)` over all pixels and channels, equal to
    :func:`skimage.metrics.peak_signal_noise_ratio` with ``data_range=1``.
    Patch averages are means of the per-patch PSNR (in dB).

    Examples
    --------
    >>> import numpy as np
    >>> from gradfusion.metrics import psnr
    >>> r = np.zeros((4, 4)); x = np.full((4, 4), 0.1)
    >>> round(psnr(r, x), 6)
    20.0
    """
    Rs, Xs = _pairs(reference, image, channel_axis, patch_size, partial, normalize)
    return _mean_over(_psnr, Rs, Xs)


@_with_patch_doc
def ssim(reference, image, *, channel_axis=-1, patch_size=None, partial="drop",
         normalize=None, **kwargs):
    r"""Structural similarity, optionally averaged over patches.

    Parameters
    ----------
    reference, image : (H, W) or (H, W, C) array
        The images to compare (uint8, uint16, or float in [0, 1]).
    {patch_parameters}
    **kwargs
        Passed to :func:`skimage.metrics.structural_similarity` (for example
        ``win_size``, ``gaussian_weights``); ``data_range`` is always 1.

    Returns
    -------
    ssim : float

    Notes
    -----
    Computed by :func:`skimage.metrics.structural_similarity` with
    ``data_range=1`` and its defaults (7x7 uniform window), per channel and
    averaged over channels. With patches, each patch pair is an image of its
    own (the window does not see across patch borders), as when patches are
    cropped and scored one by one.

    References
    ----------
    .. [1] Z. Wang, A. C. Bovik, H. R. Sheikh and E. P. Simoncelli, "Image
       quality assessment: from error visibility to structural similarity",
       IEEE Trans. Image Process. 13(4), 2004.

    Examples
    --------
    >>> import numpy as np
    >>> from gradfusion.metrics import ssim
    >>> r = np.random.default_rng(0).random((32, 32))
    >>> ssim(r, r)
    1.0
    """
    from skimage.metrics import structural_similarity

    if "data_range" in kwargs or "channel_axis" in kwargs:
        raise TypeError("ssim: data_range is always 1 and channel_axis is a keyword of its own")
    win = kwargs.get("win_size", SSIM_WINDOW)

    def one(r, x):
        return structural_similarity(r, x, data_range=1.0, channel_axis=0, **kwargs)

    Rs, Xs = _pairs(reference, image, channel_axis, patch_size, partial, normalize,
                    min_size=win if isinstance(win, int) else SSIM_WINDOW)
    return _mean_over(one, Rs, Xs)


# --------------------------------------------------------------------------- GMSD

def _gmsd(r, x):
    import scipy.ndimage as ndi

    def luma_half(u):
        # RGB: Rec. 601 luma; any other channel count: the channels' mean (the luma
        # weights once met 2 or 4 channels: silently wrong, or a shape error)
        y = np.tensordot(_LUMA, u, axes=1) if u.shape[0] == 3 else u.mean(axis=0)
        # 2x2 average then keep every second pixel (zero past the border)
        H, W = y.shape
        y = np.pad(y, ((0, H % 2), (0, W % 2)))
        return 0.25 * (y[0::2, 0::2] + y[1::2, 0::2] + y[0::2, 1::2] + y[1::2, 1::2])

    prewitt = np.array([[1.0, 0.0, -1.0]] * 3) / 3.0

    def magnitude(y):
        gx = ndi.correlate(y, prewitt, mode="constant")
        gy = ndi.correlate(y, prewitt.T, mode="constant")
        return np.sqrt(gx * gx + gy * gy)

    mr, mx = magnitude(luma_half(r)), magnitude(luma_half(x))
    gms = (2.0 * mr * mx + _GMSD_T) / (mr * mr + mx * mx + _GMSD_T)
    return float(np.std(gms, ddof=1)) if gms.size > 1 else 0.0


@_with_patch_doc
def gmsd(reference, image, *, channel_axis=-1, patch_size=None, partial="drop",
         normalize=None):
    r"""Gradient magnitude similarity deviation (lower is better, 0 = same).

    A classical perceptual index that needs no learned weights.

    Parameters
    ----------
    reference, image : (H, W) or (H, W, C) array
        The images to compare (uint8, uint16, or float in [0, 1]); RGB
        images are reduced to luma ``0.299 R + 0.587 G + 0.114 B``, other
        channel counts to the channels' mean.
    {patch_parameters}

    Returns
    -------
    gmsd : float

    Notes
    -----
    Follows the authors' reference code: the luma is averaged over 2x2
    blocks and subsampled by 2, Prewitt gradients
    ``[[1, 0, -1]] * 3 / 3`` (zero padding) give magnitudes :math:`m_r,
    m_x`, and

    .. math:: \mathrm{GMS} = \frac{2 m_r m_x + T}{m_r^2 + m_x^2 + T}, \qquad
              \mathrm{GMSD} = \mathrm{std}(\mathrm{GMS}),

    with :math:`T = 170 / 255^2` (their 170 for 8-bit values) and the
    sample standard deviation (``ddof=1``, as MATLAB's ``std2``).

    References
    ----------
    .. [1] W. Xue, L. Zhang, X. Mou and A. C. Bovik, "Gradient magnitude
       similarity deviation: a highly efficient perceptual image quality
       index", IEEE Trans. Image Process. 23(2), 2014.

    Examples
    --------
    >>> import numpy as np
    >>> from gradfusion.metrics import gmsd
    >>> r = np.random.default_rng(0).random((32, 32))
    >>> gmsd(r, r)
    0.0
    >>> gmsd(r, 0.5 * r) > 0
    True
    """
    Rs, Xs = _pairs(reference, image, channel_axis, patch_size, partial, normalize,
                    min_size=2)
    return _mean_over(_gmsd, Rs, Xs)


# --------------------------------------------------------------------------- stripes

def stripe_share(image, *, channel_axis=-1, cutoff=0.45):
    r"""Share of spectral power above ``cutoff`` cycles/pixel along x or y.

    Exposes the Nyquist stripes that the bare gradient objective leaves
    free: report it for an output beside the proposal's.

    Parameters
    ----------
    image : (H, W) or (H, W, C) array
        uint8, uint16, or float in [0, 1].
    channel_axis : int or None, optional
    cutoff : float, optional
        Frequency in cycles/pixel, in (0, 0.5).

    Returns
    -------
    share : float
        In [0, 1]; 0 for a constant image.

    Notes
    -----
    With :math:`\hat u_c` the 2-D DFT of channel :math:`c` with its mean
    removed, and :math:`f_x, f_y` in cycles/pixel,

    .. math:: s = \frac{\sum_c \sum_{|f_x| > f_0 \,\lor\, |f_y| > f_0}
              |\hat u_c|^2}{\sum_c \sum |\hat u_c|^2}.

    Examples
    --------
    >>> import numpy as np
    >>> from gradfusion.metrics import stripe_share
    >>> stripes = np.tile([0.0, 1.0], (8, 4))      # period 2: all at Nyquist
    >>> stripe_share(stripes)
    1.0
    >>> stripe_share(np.tile(np.linspace(0, 1, 8), (8, 1))) < 0.1
    True
    """
    if not isinstance(cutoff, (int, float, np.floating)) or not 0.0 < cutoff < 0.5:
        raise ValueError(f"cutoff must be a number in (0, 0.5), got {cutoff!r}")
    X = v.as_float_image(image, "image")
    Xc, _ = v.channels_first(X.astype(np.float64), "image", channel_axis)
    _, H, W = Xc.shape
    U = Xc - Xc.mean(axis=(1, 2), keepdims=True)
    power = np.abs(np.fft.fft2(U)) ** 2
    fy = np.abs(np.fft.fftfreq(H))[:, None]
    fx = np.abs(np.fft.fftfreq(W))[None, :]
    total = float(power.sum())
    if total == 0.0:
        return 0.0
    return float(power[:, (fx > cutoff) | (fy > cutoff)].sum()) / total


def border_artifacts(reference, image, *, width=6, channel_axis=-1):
    r"""Stripes and a dark (or bright) frame along the image border, against the reference's.

    A gradient-domain solve whose operator is zero-padded sees a jump to zero
    outside the image: its output can alternate bright/dark over the first
    few lines and come out darker (or brighter) along the border than inside.
    This measures both, for the output ``image`` beside the ``reference``
    (the proposal), which has its own border content.

    Parameters
    ----------
    reference, image : (H, W) or (H, W, C) array
        The proposal and the output: uint8, uint16, or float in [0, 1], one
        shape, each side at least ``4 * width + 2`` pixels.
    width : int, optional
        The border band's width in pixels.
    channel_axis : int or None, optional

    Returns
    -------
    measures : dict
        ``alternation`` and ``reference_alternation``: the mean absolute second
        difference of the line means across the band, for the image and the
        reference; ``level_ratio``: the image's band-to-ring brightness ratio
        over the reference's (1: the border keeps the reference's level
        relative to its surroundings; below 1: a dark frame).

    Notes
    -----
    For the left border and channel :math:`c`, with :math:`m_k` the mean of
    column :math:`k` (the other sides alike, rows for the top and bottom),

    .. math:: a = \operatorname{mean}_{c,\,\text{side},\ 1 \le k \le w}
              |m_{k-1} - 2 m_k + m_{k+1}|,

    and with :math:`B` the band of the outermost :math:`w` lines and
    :math:`N` the ring of the next :math:`3w` lines,

    .. math:: \rho = \frac{\bar O_B / \bar O_N}{\bar P_B / \bar P_N}.

    A constant image has :math:`a = 0`; a zero ring makes :math:`\rho` NaN.

    Examples
    --------
    >>> import numpy as np
    >>> from gradfusion.metrics import border_artifacts
    >>> P = np.full((40, 40), 0.5)
    >>> O = P.copy(); O[:, :6] = [0.3, 0.5, 0.3, 0.5, 0.3, 0.5]
    >>> m = border_artifacts(P, O)
    >>> round(m["alternation"], 3), m["reference_alternation"], round(m["level_ratio"], 3)
    (0.075, 0.0, 0.941)
    """
    v.integer(width, "width", "an integer >= 1", lambda n: n >= 1)
    ref = v.as_float_image(reference, "reference")
    img = v.as_float_image(image, "image")
    if ref.shape != img.shape:
        raise ValueError(f"reference and image must have one shape, got {ref.shape} and "
                         f"{img.shape}")
    R, _ = v.channels_first(ref.astype(np.float64), "reference", channel_axis)
    X, _ = v.channels_first(img.astype(np.float64), "image", channel_axis)
    w = int(width)
    if min(X.shape[1:]) < 4 * w + 2:
        raise ValueError(f"image sides must be at least 4 * width + 2 = {4 * w + 2} pixels, "
                         f"got {X.shape[1]}x{X.shape[2]}")

    def alternation(U):
        sides = (U.mean(axis=1)[:, :w + 2],           # column means from the left
                 U.mean(axis=1)[:, ::-1][:, :w + 2],  # from the right
                 U.mean(axis=2)[:, :w + 2],           # row means from the top
                 U.mean(axis=2)[:, ::-1][:, :w + 2])  # from the bottom
        return float(np.mean([np.abs(m[:, :-2] - 2 * m[:, 1:-1] + m[:, 2:])[:, :w]
                              for m in sides]))

    def band_over_ring(U):
        _, H, W = U.shape
        inner = np.zeros((H, W), dtype=bool)
        inner[w:H - w, w:W - w] = True
        core = np.zeros((H, W), dtype=bool)
        core[4 * w:H - 4 * w, 4 * w:W - 4 * w] = True
        band, ring = U[:, ~inner].mean(), U[:, inner & ~core].mean()
        return band / ring if ring > 0 else np.nan

    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = band_over_ring(X) / band_over_ring(R)
    return {"alternation": alternation(X), "reference_alternation": alternation(R),
            "level_ratio": float(ratio)}


# --------------------------------------------------------------------------- LPIPS

def _lpips_batches(Rs, Xs):
    """Stack patch pairs as float32 (N, 3, h, w) arrays in [-1, 1]."""
    def stack(ps):
        a = np.stack(ps).astype(np.float32)
        if a.shape[1] == 1:
            a = np.repeat(a, 3, axis=1)
        return 2.0 * a - 1.0

    return stack(Rs), stack(Xs)


def lpips(reference, image, *, net="alex", channel_axis=-1, patch_size=None,
          partial="drop", normalize=None, batch_size=64, model=None):
    r"""Learned perceptual image patch similarity (lower is better).

    Wraps the ``lpips`` package (an optional extra: ``pip install
    "gradfusion[lpips]"``); torch and lpips are imported on the first call.

    Parameters
    ----------
    reference, image : (H, W) or (H, W, C) array
        The images to compare (uint8, uint16, or float in [0, 1]), RGB or
        grayscale (repeated to three channels).
    net : {"alex", "vgg", "squeeze"}, optional
        Backbone of ``lpips.LPIPS``; the paper used AlexNet.
    channel_axis : int or None, optional
        Axis of the colour channels of 3-D images.
    patch_size : int, optional
        Average over non-overlapping ``patch_size`` squares (see
        :func:`psnr`); the patches are scored in batches.
    partial : {"drop", "shift"}, optional
        Border strips narrower than ``patch_size`` (see :func:`psnr`).
    normalize : {None, "global", "patch"}, optional
        Min-max normalise both images first (see :func:`psnr`).
    batch_size : int, optional
        Patch pairs per forward pass; bounds the memory of the network's
        activations.
    model : callable, optional
        A stand-in for ``lpips.LPIPS``: called as ``model(x, y)`` with two
        float32 tensors of shape ``(N, 3, h, w)`` in [-1, 1], returns ``N``
        distances (any shape with ``N`` elements). Default: the ``lpips``
        network for ``net``, built once per process.

    Returns
    -------
    lpips : float
        Mean distance over the patches (or of the whole image).

    Raises
    ------
    LPIPSUnavailableError
        If torch or lpips cannot be imported, or the backbone weights are
        missing and cannot be downloaded; the message names the file and the
        folder it is looked up in.

    Notes
    -----
    Inputs are mapped from [0, 1] to [-1, 1] (the range ``lpips`` expects).
    A 4-megapixel image in 100x100 patches is 400 pairs, run in
    ``ceil(400 / batch_size)`` forward passes without gradients.

    References
    ----------
    .. [1] R. Zhang, P. Isola, A. A. Efros, E. Shechtman and O. Wang, "The
       unreasonable effectiveness of deep features as a perceptual metric",
       CVPR 2018.
    """
    if net not in LPIPS_BACKBONES:
        raise ValueError(f"net must be one of {sorted(LPIPS_BACKBONES)}, got {net!r}")
    if isinstance(batch_size, (bool, np.bool_)) or not isinstance(batch_size, (int, np.integer)) \
            or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    if model is not None and not callable(model):
        raise TypeError(f"model must be callable, got {type(model).__name__}")
    Rs, Xs = _pairs(reference, image, channel_axis, patch_size, partial, normalize)
    if Rs[0].shape[0] not in (1, 3):
        raise ValueError(
            f"LPIPS compares grayscale or RGB images, got {Rs[0].shape[0]} channels")
    if model is None:
        model = _lpips.model(net)
    import torch

    A, B = _lpips_batches(Rs, Xs)
    total = 0.0
    with torch.no_grad():
        for s in range(0, A.shape[0], batch_size):
            d = model(torch.from_numpy(A[s:s + batch_size]), torch.from_numpy(B[s:s + batch_size]))
            d = torch.as_tensor(d).reshape(-1)
            if d.numel() != min(batch_size, A.shape[0] - s):
                raise ValueError(f"model returned {d.numel()} distances for "
                                 f"{min(batch_size, A.shape[0] - s)} patch pairs")
            total += float(d.double().sum())
    return total / A.shape[0]


def flicker(*args, proposals=None, outputs=None, motion=None, channel_axis=-1):
    r"""Temporal instability of a sequence of outputs relative to its proposals.

    Parameters
    ----------
    proposals : iterable of arrays, keyword
        The proposals ``P_t`` (the reference), any iterable (read once, two frames held at
        a time).
    outputs : iterable of arrays, keyword
        The displayed outputs ``O_t`` (e.g. ``FrameResult.output``), one per proposal, same
        shapes.
    *args
        Deprecated: ``flicker(outputs, proposals)``, the former positional order, still
        works with a ``FutureWarning`` until gradfusion 0.2, which makes the order
        ``flicker(proposals, outputs)``, reference first like every metric. Pass both by
        keyword to be correct in either release.
    motion : None or sequence, optional
        The motion from frame ``t - 1`` to ``t`` (entry 0 not used), in the conventions of
        :func:`gradfusion.solve_sequence` (3x3 or 2x3 matrices, scikit-image transforms,
        ``(2, H, W)`` flow fields): frame ``t - 1`` is moved by it before the difference,
        and pixels it did not see are left out. None: frames are compared in place.
    channel_axis : int or None, optional
        Axis of the colour channels of 3-D frames.

    Returns
    -------
    ratio : float
        ``sum_t c(O)_t / sum_t c(P)_t`` over ``t >= 1``: 1 when the outputs change from frame
        to frame as much as the proposals, above 1 when the display adds flicker. 1.0 when
        neither changes, ``inf`` when only the outputs do.

    Notes
    -----
    With ``W_t`` the warp of :func:`gradfusion.video.warp` by the motion into frame ``t``
    and ``V_t`` the pixels it defines (all without motion), the change of a sequence ``X``
    at frame ``t`` is the root mean square over ``V_t`` and the channels

    .. math:: c(X)_t = \sqrt{\operatorname{mean}_{V_t} (X_t - W_t X_{t-1})^2},

    and the flicker is :math:`\sum_{t \ge 1} c(O)_t / \sum_{t \ge 1} c(P)_t`. Motion
    compensation keeps a moving scene from counting as flicker; what remains is the
    change that a viewer sees as shimmer (a per-frame network's proposals flicker
    by themselves, and the ratio says whether the display amplifies it).

    References
    ----------
    .. [1] W.-S. Lai, J.-B. Huang, O. Wang, E. Shechtman, E. Yumer and M.-H. Yang,
       "Learning blind video temporal consistency", ECCV 2018 (the warping error).

    Examples
    --------
    >>> import numpy as np
    >>> from gradfusion.metrics import flicker
    >>> rng = np.random.default_rng(0)
    >>> P = [np.full((8, 8), 0.5) + 0.01 * rng.standard_normal((8, 8)) for _ in range(4)]
    >>> O = [0.5 * p + 0.25 for p in P]             # half the contrast: half the change
    >>> round(flicker(proposals=P, outputs=O), 6)
    0.5
    """
    import itertools
    import math

    from .video import warp

    if args:
        if len(args) > 2:
            raise TypeError(f"flicker takes at most 2 positional arguments, got {len(args)}")
        if (outputs is not None and len(args) >= 1) or (proposals is not None and len(args) == 2):
            raise TypeError("flicker got the same sequence positionally and by keyword; pass "
                            "proposals= and outputs= by keyword")
        _deprecation.warn(
            "flicker's positional arguments are read as (outputs, proposals), their former "
            f"order, which {_deprecation.REMOVAL} changes to (proposals, outputs), reference "
            "first like every metric: pass proposals= and outputs= by keyword")
        outputs = args[0]
        if len(args) == 2:
            proposals = args[1]
    if outputs is None or proposals is None:
        raise TypeError("flicker needs proposals= and outputs= (iterables of frames)")

    if isinstance(motion, (str, bytes)) or (motion is not None and not (
            isinstance(motion, np.ndarray) or hasattr(motion, "__iter__"))):
        raise TypeError("motion must be None or a sequence of per-frame motions, got "
                        f"{type(motion).__name__} {motion!r}")
    for value, name in ((outputs, "outputs"), (proposals, "proposals")):
        if isinstance(value, (str, bytes)) or not hasattr(value, "__iter__"):
            raise TypeError(f"{name} must be an iterable of frames, got "
                            f"{type(value).__name__} {value!r}")
    motions = iter(motion) if motion is not None else None
    sums = {"outputs": 0.0, "proposals": 0.0}
    previous = None
    end = object()
    out_iter, prop_iter = iter(outputs), iter(proposals)
    for t in itertools.count():
        O, P = next(out_iter, end), next(prop_iter, end)
        if O is end or P is end:
            if O is not P:
                raise ValueError("outputs and proposals must have the same number of frames, "
                                 f"got {t} of {'outputs' if O is end else 'proposals'} and more "
                                 "of the other")
            break
        frames = {}
        for name, X in (("outputs", O), ("proposals", P)):
            chw, _ = v.channels_first(v.as_real_array(X, f"{name}[{t}]").astype(np.float64),
                                      f"{name}[{t}]", channel_axis)
            frames[name] = chw
        v.check_same_shape(frames["outputs"], frames["proposals"], f"outputs[{t}]",
                           f"proposals[{t}]")
        m = next(motions, None) if motions is not None else None
        if previous is not None:
            if frames["outputs"].shape != previous["outputs"].shape:
                raise ValueError(f"outputs[{t}] has shape {frames['outputs'].shape} "
                                 f"(channels first), frame {t - 1} "
                                 f"{previous['outputs'].shape}")
            for name in sums:
                before, valid = previous[name], np.ones(frames[name].shape[1:], bool)
                if m is not None:
                    moved, valid = warp(np.moveaxis(before, 0, -1), m, channel_axis=-1)
                    before = np.moveaxis(moved, -1, 0)
                diff = (frames[name] - before)[:, valid]
                sums[name] += float(np.sqrt(np.mean(diff * diff))) if diff.size else 0.0
        previous = frames
    if sums["proposals"] == 0.0:
        return 1.0 if sums["outputs"] == 0.0 else math.inf
    return sums["outputs"] / sums["proposals"]
