"""Checks of :mod:`gradfusion.poisson`'s own arguments (private): masks, pixel pairs, channel views.

The checks every public function shares (images, scalars, ``channel_axis``) are
:mod:`gradfusion._validation`'s; these are the Poisson functions' own, with the same
convention (``TypeError`` for a wrong type, ``ValueError`` for a wrong value; the table of
every message is ``docs/errors.md``).
"""

import numbers

import numpy as np

from .. import _validation as v


def is_int(x):
    return isinstance(x, numbers.Integral) and not isinstance(x, (bool, np.bool_))


def check_rtol_maxiter(rtol, maxiter):
    v.real(rtol, "rtol", "a number in (0, 1)", lambda t: 0 < t < 1)
    v.integer(maxiter, "maxiter", "a positive integer", lambda n: n >= 1)


def as_mask(mask, shape):
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


def pair_of_ints(value, name, what="(row, col)"):
    """``(int, int)`` from a pair; TypeError for anything that is not a pair of integers."""
    try:
        a, b = value
    except (TypeError, ValueError):
        if isinstance(value, (tuple, list, np.ndarray)):
            raise ValueError(f"{name} must be a pair of integers {what}, got {value!r}") from None
        raise TypeError(f"{name} must be a pair of integers {what}, got {value!r}") from None
    if not (is_int(a) and is_int(b)):
        raise TypeError(f"{name} must be a pair of integers {what}, got {value!r}")
    return int(a), int(b)


def as_offset(offset):
    return pair_of_ints(offset, "offset")


def channels_first_view(image, name, channel_axis):
    """Like :func:`gradfusion._validation.channels_first`, without the copy."""
    if image.ndim == 2:
        return image[np.newaxis], None
    _, axis = v.channels_first_shape(image.shape, name, channel_axis)   # validates only
    return np.moveaxis(image, axis, 0), axis

