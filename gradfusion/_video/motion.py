"""The motion between consecutive frames and the warped warm start it gives.

A motion is stored as ``("transform", M)`` with ``M`` a 3x3 homography in scikit-image's
convention (it maps ``(col, row, 1)`` of the previous frame to the current one, as
``skimage.transform.ProjectiveTransform(M)`` estimated from previous to current points), or
``("flow", F)`` with ``F`` a ``(2, H, W)`` field in the convention of
``skimage.registration.optical_flow_tvl1(current, previous)``: the current pixel ``p`` shows
what the previous frame had at ``p + F[:, p]``.
"""

import numbers

import numpy as np

from . import _kernels

__all__ = ["IDENTITY", "NO_TRANSFORM", "translation_matrix", "check_motion",
           "estimate_translation", "warp_chw", "gray_chw"]

IDENTITY = np.eye(3)
#: the ``transform`` reported where none applies (a cold start, a flow field)
NO_TRANSFORM = np.full((3, 3), np.nan)

#: phase correlation runs on 2x2 area averages of frames whose sides are both at least this
_HALVE_FROM = 128
#: sub-pixel resolution of the estimate, in pixels of the frame
_RESOLUTION = 0.1
#: an estimate this close to an integer is that integer (one step of the resolution and a half:
#: the half-resolution correlation of an integer shift lands within a step of it)
_SNAP = 0.15


def translation_matrix(dy, dx):
    """The homography of a shift of the content by ``dy`` rows and ``dx`` columns."""
    return np.array([[1.0, 0.0, dx], [0.0, 1.0, dy], [0.0, 0.0, 1.0]])


def _received(value):
    if isinstance(value, np.ndarray):
        return f"array of shape {value.shape} and dtype {value.dtype}"
    return f"{type(value).__name__} {value!r}"


def check_motion(value, where, hw):
    """``(kind, array)`` of one frame's motion given by the caller, or a ValueError/TypeError
    naming ``where`` (e.g. ``"motion of frame 3"``). ``hw``: the frame's ``(H, W)``.

    Accepts a 3x3 homography, a 2x3 affine matrix (its last row ``0 0 1`` is added), an object
    with a ``params`` matrix (a scikit-image transform), or a ``(2, H, W)`` flow field.
    """
    params = getattr(value, "params", None)
    if params is not None and not isinstance(value, np.ndarray):
        value = params
    if isinstance(value, (numbers.Number, str, bytes)) or value is None:
        raise TypeError(f"{where} must be a 3x3 or 2x3 matrix, a scikit-image transform or a "
                        f"(2, {hw[0]}, {hw[1]}) flow field, got {_received(value)}")
    try:
        a = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise TypeError(f"{where} must be a 3x3 or 2x3 matrix, a scikit-image transform or a "
                        f"(2, {hw[0]}, {hw[1]}) flow field, got {_received(value)}") from None
    if a.shape == (2, 3):
        a = np.vstack([a, [0.0, 0.0, 1.0]])
    if a.shape == (3, 3):
        if not np.all(np.isfinite(a)):
            raise ValueError(f"{where} contains NaN or infinite values")
        if abs(np.linalg.det(a)) < 1e-12:
            raise ValueError(f"{where} is a singular matrix (determinant "
                             f"{np.linalg.det(a):.3g})")
        return "transform", a
    if a.shape == (2,) + tuple(hw):
        if not np.all(np.isfinite(a)):
            raise ValueError(f"{where} contains NaN or infinite values")
        return "flow", np.ascontiguousarray(a)
    raise ValueError(f"{where} must be a 3x3 or 2x3 matrix or a (2, {hw[0]}, {hw[1]}) flow "
                     f"field, got shape {a.shape}")


def gray_chw(image_chw):
    """The channels' mean of a ``(C, H, W)`` stack, float32 (what motion estimates look at)."""
    return image_chw.mean(axis=0, dtype=np.float32)


def _halve(a):
    H, W = (a.shape[0] // 2) * 2, (a.shape[1] // 2) * 2
    return a[:H, :W].reshape(H // 2, 2, W // 2, 2).mean(axis=(1, 3))


def estimate_translation(previous_gray, current_gray):
    """``(dy, dx)``: the shift of the content from ``previous_gray`` to ``current_gray``.

    Phase correlation (``skimage.registration.phase_cross_correlation``) of the two frames
    under a Hann window, on 2x2 area averages of frames of at least 128x128 pixels, to
    0.1 pixel; values within 0.15 of an integer are rounded to it (an integer shift warps
    without interpolation). 6-9 ms for 1280x720.
    """
    from skimage.filters import window
    from skimage.registration import phase_cross_correlation

    factor = 1
    a, b = previous_gray, current_gray
    if min(a.shape) >= _HALVE_FROM:
        a, b, factor = _halve(a), _halve(b), 2
    w = window("hann", a.shape).astype(a.dtype)
    shift, _, _ = phase_cross_correlation(b * w, a * w, upsample_factor=int(factor / _RESOLUTION),
                                          normalization="phase")
    shift = np.asarray(shift, dtype=np.float64) * factor
    rounded = np.round(shift)
    shift = np.where(np.abs(shift - rounded) <= _SNAP, rounded, shift)
    return float(shift[0]), float(shift[1])


def warp_chw(src, kind, motion, fill=None):
    """``(warped, valid)``: ``src`` (C, H, W) moved by the motion into the current frame.

    ``valid`` (uint8, H x W) is 1 where the previous frame saw the pixel; elsewhere the
    warped stack holds ``fill`` (an array like ``src``), or 0.
    """
    out = np.zeros_like(src) if fill is None else np.array(fill, dtype=src.dtype, order="C")
    valid = np.empty(src.shape[1:], dtype=np.uint8)
    src = np.ascontiguousarray(src)
    if kind == "transform":
        _kernels.warp_homography(src, np.linalg.inv(motion), out, valid)
    else:
        _kernels.warp_flow(src, motion, out, valid)
    return out, valid
