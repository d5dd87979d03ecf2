"""Input checks shared by every public entry point.

Everything here runs before any numerical work, so that a bad call fails
fast with a message that names the argument and what was received. The
convention: ``TypeError`` when an argument has the wrong type (a string for
a number, a complex or masked array for an image), ``ValueError`` when it
has the right type but a wrong value (shape, range, NaN). The table of
every case is ``docs/errors.md``.
"""

import numbers

import numpy as np

__all__ = []

_IMAGE_DTYPES = "(uint8, uint16, float32, float64)"


def describe(value):
    """``value`` as an error message shows what was received."""
    if isinstance(value, np.ndarray):
        kind = "masked array" if isinstance(value, np.ma.MaskedArray) else "array"
        return f"{kind} of shape {value.shape} and dtype {value.dtype}"
    if value is None:
        return "None"
    return f"{type(value).__name__} {value!r}"


# --------------------------------------------------------------------------- scalars


def _scalar(kind, convert, value, name, requirement, valid):
    if isinstance(value, np.ndarray) and value.ndim == 0:
        value = value[()]
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, kind):
        raise TypeError(f"{name} must be {requirement}, got {describe(value)}")
    x = convert(value)
    if valid is not None and not valid(x):
        raise ValueError(f"{name} must be {requirement}, got {value!r}")
    return x


def real(value, name, requirement, valid=None):
    """``float(value)`` for a real scalar such that ``valid(x)``.

    ``requirement`` completes "``name`` must be ...". Booleans, strings,
    None, complex numbers and arrays with dimensions are a ``TypeError``;
    a number that fails ``valid`` a ``ValueError``.
    """
    return _scalar(numbers.Real, float, value, name, requirement, valid)


def integer(value, name, requirement, valid=None):
    """``int(value)`` for an integer such that ``valid(n)`` (see :func:`real`)."""
    return _scalar(numbers.Integral, int, value, name, requirement, valid)


def flag(value, name):
    """A boolean option: only ``True``/``False`` (or NumPy booleans)."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False, got {describe(value)}")
    return bool(value)


def choice(value, name, choices, alternatives=""):
    """A string option from ``choices`` (a ValueError for anything else)."""
    if not isinstance(value, str) or value not in choices:
        raise ValueError(f"{name} must be one of {choices!r}{alternatives}, got {value!r}")
    return value


def check_channel_axis(channel_axis):
    """``channel_axis`` is None or an integer (its range depends on the image)."""
    if channel_axis is not None and (isinstance(channel_axis, (bool, np.bool_))
                                     or not isinstance(channel_axis, numbers.Integral)):
        raise TypeError(f"channel_axis must be an integer or None, got {describe(channel_axis)}")


# --------------------------------------------------------------------------- arrays


def _as_array(value, name):
    """An ndarray for ``value`` (no copy for an ndarray); masked arrays are refused."""
    if isinstance(value, np.ma.MaskedArray):
        raise TypeError(f"{name} must be a plain ndarray, got a masked array; "
                        "fill it first (np.ma.filled)")
    if isinstance(value, np.ndarray):
        return value
    if value is None or isinstance(value, (str, bytes)):
        raise TypeError(f"{name} must be an array, got {describe(value)}")
    try:
        return np.asarray(value)
    except Exception:
        raise TypeError(f"{name} must be array-like, got {describe(value)}") from None


def _check_dtype_and_size(a, name):
    dt = a.dtype
    if dt.kind not in "uf":
        raise TypeError(
            f"{name} must have an unsigned integer or floating dtype {_IMAGE_DTYPES}, "
            f"got dtype {dt}")
    if a.size == 0:
        raise ValueError(f"{name} is empty (shape {a.shape})")


def _finite_range(a, name):
    """``(min, max)`` of a float array; a ValueError if it holds NaN or inf.

    NumPy's ``min`` and ``max`` propagate NaN and reach +-inf, so no temporary array is
    needed unless the check fails. (A parallel one-pass Numba kernel saved 3 ms on a 6.9
    million-value image but cost 2.8 s of compilation on every first run.)
    """
    lo, hi = float(a.min()), float(a.max())
    if not (np.isfinite(lo) and np.isfinite(hi)):
        bad = a.size - int(np.count_nonzero(np.isfinite(a)))
        raise ValueError(f"{name} contains NaN or infinite values ({bad} of {a.size})")
    return lo, hi


#: float images may exceed [0, 1] by this many machine epsilons of their dtype (rounding): such
#: values are clipped to [0, 1]; see :func:`range_tolerance`
RANGE_TOLERANCE_EPS = 8


def range_tolerance(dtype):
    """How far a float image of ``dtype`` may lie outside [0, 1] and still be accepted.

    ``RANGE_TOLERANCE_EPS`` (8) machine epsilons of the dtype, as an absolute distance:
    1.8e-15 for float64, 9.5e-7 for float32, 7.8e-3 for float16. That is a few units in the
    last place at 1.0, room for the rounding of colour-space round trips and blends of images
    in [0, 1] (e.g. ``ycbcr2rgb(rgb2ycbcr(I))`` lands within 2 eps of [0, 1]) and far below a
    quantisation step of 16-bit images (1.5e-5).
    """
    return RANGE_TOLERANCE_EPS * float(np.finfo(dtype).eps)


def _format_value(x, dtype):
    """``x`` (a value of an array of ``dtype``) as its shortest round-trip decimal text in
    that dtype: ``1.0000000000000002``, ``-8.7e-17``, ``1.5`` (never rounded to ``1``)."""
    return str(np.dtype(dtype).type(x))


def check_image(image, name):
    """Validate an image; return it as an ndarray (no conversion).

    The dtype must be unsigned integer or floating; a float image must be
    finite and lie in [0, 1]. Values outside [0, 1] by at most
    :func:`range_tolerance` of the dtype (8 machine epsilons: rounding) are
    accepted and clipped: the image is then returned as a clipped copy (the
    input is never modified). Values further out are a ``ValueError`` that
    prints the range with every digit needed to tell it from [0, 1].
    """
    a = _as_array(image, name)
    _check_dtype_and_size(a, name)
    if a.dtype.kind == "f":
        lo, hi = _finite_range(a, name)
        if lo < 0.0 or hi > 1.0:
            tol = range_tolerance(a.dtype)
            if lo < -tol or hi > 1.0 + tol:
                raise ValueError(
                    f"{name} is a float image, so its values must lie in [0, 1] (to within "
                    f"{tol:.2g} for {a.dtype}); got values in "
                    f"[{_format_value(lo, a.dtype)}, {_format_value(hi, a.dtype)}]")
            a = np.clip(a, 0.0, 1.0).astype(a.dtype, copy=False)
    return a


def float_dtype(dtype):
    """The working dtype of an image of ``dtype`` (scikit-image's ``img_as_float``)."""
    dtype = np.dtype(dtype)
    if dtype.kind == "u" or dtype == np.float64:
        return np.dtype(np.float64)
    return np.dtype(np.float32)


def to_float(a):
    """Unsigned integers scaled by their maximum into float64; float16 to float32."""
    if a.dtype.kind == "u":
        return np.divide(a, np.iinfo(a.dtype).max, dtype=np.float64)
    if a.dtype == np.float16:
        return a.astype(np.float32)
    return a


def as_float_image(image, name):
    """Validate ``image`` and convert it to floating point in [0, 1].

    The dtype policy is scikit-image's ``img_as_float``: unsigned integers are
    scaled by their maximum into float64, float32 stays float32, float64 stays
    float64. Float inputs must already lie in [0, 1], to within rounding
    (:func:`range_tolerance`; such values are clipped).
    """
    return to_float(check_image(image, name))


def check_real(value, name):
    """Validate a finite real array of any range without converting it (same dtypes as images)."""
    a = _as_array(value, name)
    _check_dtype_and_size(a, name)
    if a.dtype.kind == "f":
        _finite_range(a, name)
    return a


def as_real_array(value, name):
    """A finite float array of any range (gradients, residuals, warm starts).

    Unsigned integers are scaled to [0, 1] as images are; the same dtypes are
    refused as for images.
    """
    return to_float(check_real(value, name))


def channels_first_shape(shape, name, channel_axis):
    """``((C, H, W), axis)`` of an image of ``shape`` (see :func:`channels_first`)."""
    check_channel_axis(channel_axis)
    if len(shape) == 2:
        return (1,) + tuple(shape), None
    if len(shape) != 3:
        raise ValueError(
            f"{name} must be 2-D (grayscale) or 3-D (with channels), got "
            f"{len(shape)}-D shape {tuple(shape)}")
    if channel_axis is None:
        raise ValueError(
            f"{name} is 3-D with shape {tuple(shape)} but channel_axis is None; "
            "pass channel_axis (e.g. -1) or a 2-D grayscale image")
    if not -3 <= channel_axis < 3:
        raise ValueError(
            f"channel_axis must be an integer in [-3, 2] or None, got {channel_axis!r}")
    axis = int(channel_axis) % 3
    rest = [s for k, s in enumerate(shape) if k != axis]
    return (shape[axis], rest[0], rest[1]), axis


def channels_first(image, name, channel_axis):
    """Return a C-contiguous ``(C, H, W)`` view/copy and the channel axis used.

    A 2-D image is grayscale (one channel) whatever ``channel_axis`` says; a
    3-D image needs ``channel_axis`` to say where its channels are.
    """
    _, axis = channels_first_shape(image.shape, name, channel_axis)
    if axis is None:
        return np.ascontiguousarray(image[np.newaxis]), None
    return np.ascontiguousarray(np.moveaxis(image, axis, 0)), axis


def check_min_size(shape, name, minimum=2):
    _, H, W = shape
    if H < minimum or W < minimum:
        raise ValueError(
            f"{name} must be at least {minimum}x{minimum} pixels, got {H}x{W}")


def check_same_shape(a, b, name_a, name_b):
    if a.shape != b.shape:
        raise ValueError(
            f"{name_a} and {name_b} must have the same shape, got {a.shape} and {b.shape}")


def channel_alpha(alpha, n_channels, dtype):
    """Validate ``alpha`` (scalar, length-1 sequence or one per channel); return shape (C,)."""
    what = "a number or a sequence of numbers"
    if (alpha is None or isinstance(alpha, (bool, np.bool_, str, bytes))
            or isinstance(alpha, np.ma.MaskedArray)):
        raise TypeError(f"alpha must be {what}, got {describe(alpha)}")
    try:
        arr = np.asarray(alpha)
        if arr.dtype.kind == "O":
            arr = arr.astype(np.float64)
    except (TypeError, ValueError):
        raise TypeError(f"alpha must be {what}, got {describe(alpha)}") from None
    if arr.dtype.kind not in "uif":
        raise TypeError(f"alpha must be {what}, got {describe(alpha)}")
    arr = arr.astype(np.float64)
    if arr.ndim > 1:
        raise ValueError(f"alpha must be a scalar or 1-D, got shape {arr.shape}")
    if arr.ndim == 1 and arr.shape[0] == 1:
        arr = arr[0]                      # a length-1 sequence broadcasts like a scalar
    if arr.ndim == 1 and arr.shape[0] != n_channels:
        raise ValueError(
            f"alpha has {arr.shape[0]} values but the images have {n_channels} "
            "channel(s); give one alpha per channel or a scalar")
    if not np.all(np.isfinite(arr)) or np.any(arr <= 0.0) or np.any(arr >= 1.0):
        raise ValueError(f"alpha must lie in the open interval (0, 1), got {alpha!r}")
    return np.broadcast_to(arr, (n_channels,)).astype(dtype)


def _alpha_map_shapes(image_shape, channel_axis):
    """The accepted shapes of an alpha map for an image of ``image_shape``, as text."""
    (C, H, W), axis = channels_first_shape(image_shape, "image", channel_axis)
    if axis is None:
        return f"{(H, W)} (one per pixel)"
    per_pixel = list(image_shape)
    per_pixel[axis] = 1
    return (f"{(H, W)} or {tuple(per_pixel)} (one per pixel) or the image's shape "
            f"{tuple(image_shape)} (one per pixel and channel)")


def _first_outside(arr):
    """Index (a tuple) and value of the first entry of ``arr`` outside (0, 1) or not finite."""
    bad = ~((arr > 0.0) & (arr < 1.0))          # NaN compares False: it is caught here too
    k = int(np.flatnonzero(bad.ravel())[0])
    index = tuple(int(q) for q in np.unravel_index(k, arr.shape))
    return index, arr[index]


def alpha_values(alpha, image_shape, channel_axis):
    """Validate ``alpha`` for an image of ``image_shape``: a scalar, one value per channel
    (:func:`channel_alpha`), or a map (one transmission per pixel, shared by the channels,
    or per pixel and channel).

    Returns float64 (not rounded: the bounds are derived from it): shape ``(C,)`` for a
    scalar or per-channel alpha, or a C-contiguous channels-first map of shape ``(1, H, W)``
    (per pixel) or ``(C, H, W)`` (per pixel and channel). A map's shape is ``(H, W)``, the
    image's shape with 1 on the channel axis, or the image's shape (``channel_axis``
    honoured); its values must lie in (0, 1), and a value outside is reported with its
    index in the map and every digit needed to see it. A map that is constant over the
    picture (in each channel) is returned as those values per channel, shape (C,).
    """
    (C, H, W), axis = channels_first_shape(image_shape, "image", channel_axis)
    try:
        ndim = np.ndim(alpha) if isinstance(alpha, (np.ndarray, list, tuple)) else 0
    except (TypeError, ValueError):           # ragged: channel_alpha says what was received
        ndim = 0
    if ndim <= 1:
        return channel_alpha(alpha, C, np.float64)
    if isinstance(alpha, np.ma.MaskedArray):
        raise TypeError(f"alpha must be a number or a sequence of numbers, got "
                        f"{describe(alpha)}")
    try:
        arr = np.asarray(alpha)
        if arr.dtype.kind == "O":
            arr = arr.astype(np.float64)
    except (TypeError, ValueError):
        raise TypeError("alpha must be a number, a sequence of numbers or an array, got "
                        f"{describe(alpha)}") from None
    if arr.dtype.kind not in "uif":
        raise TypeError("alpha must be a number, a sequence of numbers or a real array, got "
                        f"{describe(alpha)}")
    shape = tuple(image_shape)
    if arr.shape == (H, W):
        chw = arr[np.newaxis]
    elif axis is not None and arr.ndim == 3 and arr.shape == shape:
        chw = np.moveaxis(arr, axis, 0)
    elif axis is not None and arr.ndim == 3 and arr.shape[axis] == 1 \
            and np.delete(arr.shape, axis).tolist() == [H, W]:
        chw = np.moveaxis(arr, axis, 0)
    else:
        raise ValueError(
            f"alpha map has shape {arr.shape} but the image has shape {shape}; give a "
            f"scalar, one alpha per channel ({C}) or a map of shape "
            f"{_alpha_map_shapes(shape, channel_axis)}")
    if not np.all((arr > 0.0) & (arr < 1.0)):
        index, value = _first_outside(arr)
        text = _format_value(value, arr.dtype) if arr.dtype.kind == "f" else repr(int(value))
        hint = (f" (an integer map: scale it to (0, 1), e.g. divide by "
                f"{np.iinfo(arr.dtype).max})" if arr.dtype.kind in "ui" else "")
        raise ValueError(
            f"alpha must lie in the open interval (0, 1), got {text} at index {index} of the "
            f"alpha map (shape {arr.shape}){hint}")
    chw = np.ascontiguousarray(chw, dtype=np.float64)
    if np.all(chw == chw[:, :1, :1]):
        # constant over the picture (per channel): the per-channel problem itself, bit for bit
        return np.ascontiguousarray(np.broadcast_to(chw[:, 0, 0], (C,)))
    return chw


def is_alpha_map(alpha):
    """Whether ``alpha`` (already validated or not) is an alpha map (2-D or more)."""
    try:
        return isinstance(alpha, (np.ndarray, list, tuple)) and np.ndim(alpha) >= 2
    except (TypeError, ValueError):
        return False


def describe_alpha(alpha):
    """``alpha`` for a result's settings (JSON): its values as a list, or a map's shape and
    range as text."""
    if is_alpha_map(alpha):
        a = np.asarray(alpha, dtype=float)
        return f"map {a.shape}, {a.min():.4g} to {a.max():.4g}"
    return np.asarray(alpha, dtype=float).tolist()


def broadcast_pair(image, proposal, channel_axis):
    """A grayscale ``(H, W)`` image beside a ``(H, W, C)`` one (channels on ``channel_axis``)
    repeated along that axis, so that the pair has one shape; anything else unchanged (the
    shape check reports it)."""
    try:
        a, b = np.shape(image), np.shape(proposal)
    except (TypeError, ValueError):           # not array-like: the checks that follow say so
        return image, proposal
    if channel_axis is None or not isinstance(channel_axis, (int, np.integer)) \
            or isinstance(channel_axis, (bool, np.bool_)):
        return image, proposal
    for gray, colour in ((0, 1), (1, 0)):
        g, c = (a, b)[gray], (a, b)[colour]
        if len(g) == 2 and len(c) == 3 and -3 <= channel_axis < 3 \
                and tuple(np.delete(c, channel_axis % 3)) == g:
            arrays = [image, proposal]
            arrays[gray] = np.repeat(np.expand_dims(np.asarray(arrays[gray]), channel_axis),
                                     c[channel_axis % 3], axis=channel_axis)
            return tuple(arrays)
    return image, proposal


def prepare_pair(image, proposal, alpha, channel_axis, before_work=None, maps=True, what=None):
    """Validate an (image, proposal, alpha) triple for the synthesis problem.

    Returns ``(I, P, alpha_c, axis, dtype)`` with ``I`` and ``P`` as
    C-contiguous ``(C, H, W)`` arrays of the common float dtype and ``alpha_c``
    float64 (not rounded to ``dtype``: the bounds are derived from it), of shape (C,)
    or, for an alpha map, ``(1, H, W)`` or ``(C, H, W)`` (:func:`alpha_values`).
    ``maps=False``: a function that takes no alpha map (``what`` names it) refuses one
    with a ValueError before any work. A
    grayscale image beside a colour one is repeated over the channels
    (:func:`broadcast_pair`).
    ``before_work(shape_chw, dtype)``, when given, runs after every check and
    before the first copy (the memory check of :func:`gradfusion.solve`).
    """
    image, proposal = broadcast_pair(image, proposal, channel_axis)
    I = check_image(image, "image")
    P = check_image(proposal, "proposal")
    check_same_shape(I, P, "image", "proposal")
    dtype = np.result_type(float_dtype(I.dtype), float_dtype(P.dtype))
    shape, axis = channels_first_shape(I.shape, "image", channel_axis)
    check_min_size(shape, "image")
    a = alpha_values(alpha, I.shape, channel_axis)
    if a.ndim > 1 and not maps:
        raise ValueError(
            f"{what} takes a scalar alpha or one per channel, not an alpha map (got alpha of "
            f"shape {np.shape(alpha)}); use gradfusion.solve or baselines.heuristic for a "
            "transmission that varies across the view")
    if before_work is not None:
        before_work(shape, dtype)
    Ic, _ = channels_first(to_float(I).astype(dtype, copy=False), "image", channel_axis)
    Pc, _ = channels_first(to_float(P).astype(dtype, copy=False), "proposal", channel_axis)
    return Ic, Pc, a, axis, dtype


def check_like_image(value, name, image):
    """Validate a real array shaped like ``image`` (a residual, a warm start); no conversion."""
    a = check_real(value, name)
    shape = np.shape(image)
    if a.shape != shape:
        raise ValueError(f"{name} must have the shape of image {shape}, got {a.shape}")
    return a


def like_image(value, name, image, channel_axis, dtype):
    """:func:`check_like_image`, then ``(C, H, W)`` of ``dtype`` (may share memory with ``value``)."""
    a = to_float(check_like_image(value, name, image))
    out, _ = channels_first(a.astype(dtype, copy=False), name, channel_axis)
    return out


def pixel_map(value, name, image_shape, channel_axis, dtype, scalar=True):
    """A non-negative finite per-pixel map for an image of ``image_shape``, channels first.

    ``value`` has the image's shape (one value per pixel and channel) or, for a 3-D
    image, its shape without the channel axis (one value per pixel, shared by the
    channels). Returns a C-contiguous ``(C or 1, H, W)`` array of ``dtype``. ``scalar``:
    whether the argument also takes a scalar (the message says so).
    """
    a = check_real(value, name)
    shape = tuple(image_shape)
    (C, H, W), axis = channels_first_shape(shape, "image", channel_axis)
    if a.shape == shape:
        out, _ = channels_first(to_float(a).astype(dtype, copy=False), name, channel_axis)
    elif axis is not None and a.shape == (H, W):
        out = np.ascontiguousarray(to_float(a)[np.newaxis], dtype=dtype)
    else:
        per_pixel = f" or {(H, W)}" if axis is not None else ""
        raise ValueError(
            f"{name} must be {'a scalar or ' if scalar else ''}an array of the image's shape "
            f"{shape}{per_pixel}, got shape {a.shape}")
    lo = float(a.min())
    if lo < 0.0:
        raise ValueError(f"{name} must be >= 0 everywhere, got minimum {lo:.6g}")
    return out


def channels_last(array_chw, axis):
    """Inverse of :func:`channels_first` for an output array."""
    if axis is None:
        return array_chw[0]
    return np.moveaxis(array_chw, 0, axis)


# --------------------------------------------------------------------------- metric options

#: border strips narrower than a patch: left out, or covered by a patch shifted back
PARTIAL_MODES = ("drop", "shift")
#: min-max normalisation before a metric: none, once per image, once per patch
NORMALIZE_MODES = (None, "global", "patch")


def check_patch_size(patch_size, hw):
    """``patch_size`` as an int: a positive integer no larger than the image's sides ``hw``."""
    if isinstance(patch_size, (bool, np.bool_)) or not isinstance(patch_size, (int, np.integer)):
        raise TypeError(f"patch_size must be a positive integer or None, got {patch_size!r}")
    if patch_size < 1:
        raise ValueError(f"patch_size must be a positive integer or None, got {patch_size!r}")
    if patch_size > min(hw):
        raise ValueError(
            f"patch_size {patch_size} is larger than the image ({hw[0]}x{hw[1]})")
    return int(patch_size)


def check_metric_options(shape, patch_size, partial, normalize, min_size=1, name="reference"):
    """Validate the patch and normalisation options for ``(C, H, W)`` images of
    ``shape`` (called ``name`` in messages) and a metric that needs at least
    ``min_size`` pixels per side."""
    if normalize not in NORMALIZE_MODES:
        raise ValueError(f"normalize must be one of {NORMALIZE_MODES}, got {normalize!r}")
    if partial not in PARTIAL_MODES:
        raise ValueError(f"partial must be one of {PARTIAL_MODES}, got {partial!r}")
    check_min_size(shape, name, min_size)
    if patch_size is not None and check_patch_size(patch_size, shape[1:]) < min_size:
        raise ValueError(f"patch_size must be at least {min_size} for this metric, "
                         f"got {patch_size}")
