"""The colour side of :func:`gradfusion.poisson.color2gray` (private): the colour channels of an
image, luminance and opponent chroma, the colour contrast added to the luminance's gradients, and
the correction brought into the room the luminance leaves. The solve between them is
:func:`gradfusion._poisson.dct.screened_poisson`.
"""

import numpy as np

from .arguments import channels_first_view

#: Rec. 709 weights of :func:`skimage.color.rgb2gray` (R, G, B)
LUMA = (0.2125, 0.7154, 0.0721)


def gray_channels(img, channel_axis):
    """A ``(C, H, W)`` view of the colour channels of ``img`` without alpha, and ``C`` (1 or 3).

    An alpha channel (the last of 2 or 4) must be fully opaque (1 after the
    conversion to float, 255 for uint8) and is dropped.
    """
    x, _ = channels_first_view(img, "image", channel_axis)
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


def opponent(rgb):
    """Luminance ``Y`` and opponent chroma ``a`` (red +), ``b`` (yellow +) of ``(3, H, W)``."""
    wr, wg, wb = LUMA
    R, G, B = rgb
    Y = wr * R + wg * G + wb * B
    a = (R - Y) * (0.5 / (1.0 - wr))          # Rec. 709 Cr
    b = (Y - B) * (0.5 / (1.0 - wb))          # minus Rec. 709 Cb
    return Y, a, b


def colour_term(Y, a, b, weight, angle):
    """Per forward-difference edge, what the guidance adds to the luminance difference.

    ``s * max(0, weight * c - |dY|) / c`` with ``c = |(da, db)|`` and ``s`` the chroma
    difference projected on the direction ``angle`` (radians); 0 where ``c == 0``.
    Returned as the ``(gx, gy)`` maps of :func:`gradfusion.poisson.gradient` (0 on the last
    column / row).
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


def into_range(Y, e):
    """``Y + e`` brought into the room the luminance leaves: ``Y + e / sqrt(1 + (e / h)^2)``,
    ``h`` the room on the side ``e`` points to (``1 - Y`` up, ``Y`` down).

    Not ``h tanh(e / h)``: tanh rounds to 1 from ``e / h`` about 19, which put pixels of a
    luminance of 3e-4 exactly at 0; this sigmoid stays below 1 up to ``e / h`` about 7e7.
    """
    room = np.where(e > 0, 1.0 - Y, Y)
    t = np.divide(e, room, out=np.zeros_like(e), where=room > 0)
    return np.clip(Y + room * (t / np.sqrt(1.0 + t * t)), 0.0, 1.0)

