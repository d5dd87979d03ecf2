"""Input checks shared by every public entry point.

Everything here runs before any numerical work, so that a bad call fails
fast with a message that names the argument and what was received.
"""

import numbers

import numpy as np

__all__ = []


def _describe(value):
    if isinstance(value, np.ndarray):
        return f"array of shape {value.shape} and dtype {value.dtype}"
    return f"{type(value).__name__} {value!r}"


def as_float_image(image, name):
    """Validate ``image`` and convert it to floating point in [0, 1].

    The dtype policy is scikit-image's ``img_as_float``: unsigned integers are
    scaled by their maximum into float64, float32 stays float32, float64 stays
    float64. Float inputs must already lie in [0, 1].
    """
    if isinstance(image, np.ma.MaskedArray):
        raise TypeError(f"{name} must be a plain ndarray, got a masked array; "
                        "fill it first (np.ma.filled)")
    if not isinstance(image, np.ndarray):
        try:
            image = np.asarray(image)
        except Exception as exc:  # pragma: no cover - exotic inputs
            raise TypeError(f"{name} must be array-like, got {_describe(image)}") from exc
    dt = image.dtype
    if dt == np.bool_ or dt.kind in "cOSUVmM" or dt.kind == "i":
        raise TypeError(
            f"{name} must have an unsigned integer or floating dtype "
            f"(uint8, uint16, float32, float64), got dtype {dt}")
    if image.size == 0:
        raise ValueError(f"{name} is empty (shape {image.shape})")
    if dt.kind == "u":
        return image.astype(np.float64) / np.iinfo(dt).max
    if dt == np.float16:
        image = image.astype(np.float32)
    if not np.all(np.isfinite(image)):
        raise ValueError(f"{name} contains NaN or infinite values")
    lo, hi = float(image.min()), float(image.max())
    if lo < 0.0 or hi > 1.0:
        raise ValueError(
            f"{name} is a float image, so its values must lie in [0, 1]; "
            f"got values in [{lo:.6g}, {hi:.6g}]")
    return image


def channels_first(image, name, channel_axis):
    """Return a C-contiguous ``(C, H, W)`` view/copy and the channel axis used.

    A 2-D image is grayscale (one channel) whatever ``channel_axis`` says; a
    3-D image needs ``channel_axis`` to say where its channels are.
    """
    if image.ndim == 2:
        return np.ascontiguousarray(image[np.newaxis]), None
    if image.ndim != 3:
        raise ValueError(
            f"{name} must be 2-D (grayscale) or 3-D (with channels), got "
            f"{image.ndim}-D shape {image.shape}")
    if channel_axis is None:
        raise ValueError(
            f"{name} is 3-D with shape {image.shape} but channel_axis is None; "
            "pass channel_axis (e.g. -1) or a 2-D grayscale image")
    if not isinstance(channel_axis, numbers.Integral) or not -3 <= channel_axis < 3:
        raise ValueError(
            f"channel_axis must be an integer in [-3, 2] or None, got {channel_axis!r}")
    axis = int(channel_axis) % 3
    out = np.ascontiguousarray(np.moveaxis(image, axis, 0))
    return out, axis


def check_min_size(shape, name, minimum=2):
    _, H, W = shape
    if H < minimum or W < minimum:
        raise ValueError(
            f"{name} must be at least {minimum}x{minimum} pixels, got {H}x{W}")


def channel_alpha(alpha, n_channels, dtype):
    """Validate ``alpha`` (scalar or one value per channel), return shape (C,)."""
    if isinstance(alpha, (bool, np.bool_)):
        raise TypeError(f"alpha must be a number or a sequence of numbers, got {alpha!r}")
    try:
        arr = np.asarray(alpha, dtype=np.float64)
    except (TypeError, ValueError):
        raise TypeError(
            f"alpha must be a number or a sequence of numbers, got {_describe(alpha)}"
        ) from None
    if arr.ndim > 1:
        raise ValueError(f"alpha must be a scalar or 1-D, got shape {arr.shape}")
    if arr.ndim == 1 and arr.shape[0] != n_channels:
        raise ValueError(
            f"alpha has {arr.shape[0]} values but the images have {n_channels} "
            "channel(s); give one alpha per channel or a scalar")
    if not np.all(np.isfinite(arr)) or np.any(arr <= 0.0) or np.any(arr >= 1.0):
        raise ValueError(f"alpha must lie in the open interval (0, 1), got {alpha!r}")
    return np.broadcast_to(arr, (n_channels,)).astype(dtype)


def prepare_pair(image, proposal, alpha, channel_axis):
    """Validate an (image, proposal, alpha) triple for the synthesis problem.

    Returns ``(I, P, alpha_c, axis, dtype)`` with ``I`` and ``P`` as
    C-contiguous ``(C, H, W)`` arrays of the common float dtype.
    """
    I = as_float_image(image, "image")
    P = as_float_image(proposal, "proposal")
    if I.shape != P.shape:
        raise ValueError(
            f"image and proposal must have the same shape, got {I.shape} and {P.shape}")
    dtype = np.result_type(I.dtype, P.dtype)
    Ic, axis = channels_first(I.astype(dtype, copy=False), "image", channel_axis)
    Pc, _ = channels_first(P.astype(dtype, copy=False), "proposal", channel_axis)
    check_min_size(Ic.shape, "image")
    a = channel_alpha(alpha, Ic.shape[0], dtype)
    return Ic, Pc, a, axis, dtype


def channels_last(array_chw, axis):
    """Inverse of :func:`channels_first` for an output array."""
    if axis is None:
        return array_chw[0]
    return np.moveaxis(array_chw, 0, axis)
