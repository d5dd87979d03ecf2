"""Evaluate the gradient-domain objective and the Residual Aligned authors' loss."""

import numpy as np

from . import _stencils as st
from . import _validation as v
from ._deprecation import renamed_keywords
from ._problem import BOUNDARY_MODES, DEFAULT_BOUNDARY, residual_upper

__all__ = ["gradient_error", "paper_loss"]


def _mode(boundary):
    return BOUNDARY_MODES[v.choice(boundary, "boundary", sorted(BOUNDARY_MODES))]


@renamed_keywords("gradient_error", ("output", "proposal"), output="image", proposal="reference")
def gradient_error(reference, image, *, channel_axis=-1, boundary=DEFAULT_BOUNDARY):
    r"""Mean squared Sobel-gradient difference between two images.

    This is the authors' ``recon`` term, the bare objective of
    :func:`gradfusion.solve` (``bare_objective`` of every result is
    ``gradient_error(P, O)``).

    Parameters
    ----------
    reference, image : (H, W) or (H, W, C) array
        Images of the same shape (uint8, uint16 or float in [0, 1]): the
        reference first, as in every metric of :mod:`gradfusion.metrics`
        (for gradfusion the proposal ``P``, then an output ``O``). Formerly
        ``output`` and ``proposal``, in that order: the old keywords still
        work with a ``FutureWarning`` until gradfusion 0.2, and a positional
        call gives the same value in either order (the error is symmetric).
    channel_axis : int or None, optional
    boundary : {"zero", "reflect"}, optional

    Returns
    -------
    error : float

    Notes
    -----
    .. math:: e = \frac{1}{2CHW} \sum_{c} \| S_x(O_c - P_c) \|^2 + \| S_y(O_c - P_c) \|^2

    Examples
    --------
    >>> import numpy as np
    >>> from gradfusion import gradient_error
    >>> a = np.zeros((8, 8)); b = np.full((8, 8), 0.5)
    >>> gradient_error(b, b)
    0.0
    """
    mode = _mode(boundary)
    P = v.check_image(reference, "reference")
    O = v.check_image(image, "image")
    v.check_same_shape(P, O, "reference", "image")
    shape, _ = v.channels_first_shape(P.shape, "reference", channel_axis)
    v.check_min_size(shape, "reference")
    O, P = v.to_float(O), v.to_float(P)
    dtype = np.result_type(O.dtype, P.dtype)
    d, _ = v.channels_first((O.astype(dtype) - P.astype(dtype)), "image", channel_axis)
    return float(st.sobel_energy(d, mode)) / (2 * d.size)


def paper_loss(image, proposal, residual, alpha, *, channel_axis=-1, boundary="zero",
               penalty=10.0):
    r"""The Residual Aligned authors' full training loss of a residual.

    Parameters
    ----------
    image, proposal : (H, W) or (H, W, C) array
        Scene ``I`` and proposal ``P``.
    residual : float array of the same shape
        The residual ``R``; it may violate the bounds (the loss penalises it).
    alpha : float, sequence of float or array
        As for :func:`gradfusion.solve`: a scalar, one value per channel, or
        an alpha map (one transmission per pixel, or per pixel and channel).
    channel_axis : int or None, optional
    boundary : {"zero", "reflect"}, optional
    penalty : float, optional
        Weight of the bound-violation term (the authors use 10).

    Returns
    -------
    loss : float

    Notes
    -----
    With ``R~ = clip(R, 0, 1 - alpha)`` and ``O = alpha I + R~``:

    .. math:: L(R) = \frac{1}{2CHW} \| S O - S P \|^2
              + \lambda \, \mathrm{mean} | \tilde R - R |,

    the ``recon`` term of the clipped output plus ``penalty`` times the mean
    absolute bound violation. For a feasible ``R`` it equals
    :func:`gradient_error` of ``O``.

    Examples
    --------
    >>> import numpy as np
    >>> from gradfusion import paper_loss
    >>> I = np.full((8, 8), 0.5); P = np.full((8, 8), 0.35)
    >>> round(paper_loss(I, P, np.full((8, 8), -0.1), 0.7), 12)   # recon 0 + 10 * 0.1
    1.0
    """
    mode = _mode(boundary)
    penalty = v.real(penalty, "penalty", "a finite number >= 0",
                     lambda x: np.isfinite(x) and x >= 0)
    # the residual has the pair's (broadcast) shape: a gray image beside an RGB proposal
    image, proposal = v.broadcast_pair(image, proposal, channel_axis)
    I, P, a, _, dtype = v.prepare_pair(
        image, proposal, alpha, channel_axis,
        before_work=lambda shape, dtype: v.check_like_image(residual, "residual", image))
    Rc = v.like_image(residual, "residual", image, channel_axis, dtype)
    clipped = np.empty_like(Rc)
    violation = st.clip_channels(Rc, residual_upper(a, dtype), clipped)
    d = np.empty_like(Rc)
    st.output_difference(I, P, clipped, a.astype(dtype), d)
    recon = float(st.sobel_energy(d, mode)) / (2 * d.size)
    return recon + penalty * float(violation) / Rc.size
