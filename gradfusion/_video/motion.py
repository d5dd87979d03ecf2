"""The motion between consecutive frames and the warped warm start it gives.

A motion is stored as ``("transform", M)`` with ``M`` a 3x3 homography in scikit-image's
convention (it maps ``(col, row, 1)`` of the previous frame to the current one, as
``skimage.transform.ProjectiveTransform(M)`` estimated from previous to current points), or
``("flow", F)`` with ``F`` a ``(2, H, W)`` field in the convention of
``skimage.registration.optical_flow_tvl1(current, previous)``: the current pixel ``p`` shows
what the previous frame had at ``p + F[:, p]``.
"""

import functools
import numbers

import numpy as np

from . import _kernels

__all__ = ["IDENTITY", "NO_TRANSFORM", "translation_matrix", "check_motion",
           "estimate_translation", "TranslationTracker", "warp_hwc"]

IDENTITY = np.eye(3)
#: the ``transform`` reported where none applies (a cold start, a flow field)
NO_TRANSFORM = np.full((3, 3), np.nan)

#: phase correlation runs on 2x2 area averages of frames whose sides are both at least this
_HALVE_FROM = 128
#: side of the full-resolution crop of the sub-pixel pass
_CROP = 256
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


def _gray(array, reduce=None):
    """The channels' mean of an ``(H, W, C)`` array as float32 (each channel passed through
    ``reduce`` first), uint scaled to [0, 1]."""
    scale = np.float32(1.0 / array.shape[2])
    if array.dtype.kind == "u":
        scale = scale / np.float32(np.iinfo(array.dtype).max)
    total = None
    for c in range(array.shape[2]):
        channel = array[:, :, c]
        channel = channel.astype(np.float32) if reduce is None else reduce(channel)
        total = channel if total is None else total + channel
    return total * scale


def _halve(a):
    H, W = (a.shape[0] // 2) * 2, (a.shape[1] // 2) * 2
    f = np.float32
    # float32 quarters are added in place, not copied first (10.3 -> 9.2 ms per estimate at
    # 1280x720x3; the strided adds themselves are most of what is left)
    total = a[0:H:2, 0:W:2].astype(f)
    for quarter in (a[1:H:2, 0:W:2], a[0:H:2, 1:W:2], a[1:H:2, 1:W:2]):
        total += quarter.astype(f, copy=False)
    total *= f(0.25)
    return total


def _spectrum(a):
    """The 2-D real FFT of ``a`` under a Hann window (one side of :func:`_correlate`)."""
    from scipy import fft

    return fft.rfft2(a * _hann(a.shape, a.dtype.str))


def _correlate(a, b, subpixel):
    """The shift of the content from ``a`` to ``b`` by phase correlation under a Hann window
    (:func:`_spectra_shift` of their :func:`_spectrum`)."""
    return _spectra_shift(_spectrum(a), _spectrum(b), a.shape, subpixel)


def _spectra_shift(F, G, shape, subpixel):
    """The shift of the content from an array of ``shape`` with the spectrum ``F`` to one with
    ``G``: the peak of the inverse FFT of the normalised cross-power spectrum, refined by a
    parabola through the peak and its neighbours along each axis when ``subpixel``."""
    from scipy import fft

    R = G * np.conj(F)
    R /= np.maximum(np.abs(R), np.finfo(R.real.dtype).tiny)
    r = fft.irfft2(R, s=shape)
    peak = np.unravel_index(int(np.argmax(r)), r.shape)
    shift = np.empty(2)
    for axis, n in enumerate(r.shape):
        k = peak[axis]
        shift[axis] = k - n if k > n // 2 else k
        if subpixel:
            at = list(peak)
            values = []
            for d in (-1, 0, 1):
                at[axis] = (k + d) % n
                values.append(r[tuple(at)])
            curvature = values[0] - 2 * values[1] + values[2]
            if curvature < 0:
                shift[axis] += 0.5 * (values[0] - values[2]) / curvature
    return shift


def estimate_translation(previous, current):
    """``(dy, dx)``: the shift of the content from ``previous`` to ``current``, two
    ``(H, W, C)`` arrays (any strides; uint scaled to [0, 1]) compared by their channels'
    mean.

    Phase correlation (Kuglin and Hines 1975; what
    ``skimage.registration.phase_cross_correlation`` computes, without its upsampled DFT,
    which took 30-60 ms here) under a Hann window, in two passes: to the pixel on 2x2 area
    averages (frames of at least 128x128 pixels), then on a central crop of at most 256x256
    pixels of the full-resolution frames, the current one's crop displaced by the first
    estimate, to a fraction of a pixel by a parabola through the correlation peak. Values
    within 0.15 of an integer are rounded to it (an integer shift warps without
    interpolation).
    """
    return TranslationTracker()(previous, current)


class TranslationTracker:
    """:func:`estimate_translation` along a sequence: the half-resolution spectrum of each
    frame is computed once, as the current frame of one estimate, and kept for the next,
    whose previous frame it is (at 1280x720x3 float32 the channels' mean of the halves and
    its FFT are about 4 ms of an 11 ms estimate).

    ``tracker(previous, current, keys=None)`` returns what ``estimate_translation(previous,
    current)`` returns. ``keys``: two objects that stand for the frames (default the arrays
    themselves; a caller that passes fresh views of its frames passes the frames). The kept
    spectrum serves when the key of ``previous`` is the object that was the key of
    ``current`` at the last call (a frame must not change in between).
    """

    def __init__(self):
        self._last = None           # (key of the last current frame, its spectrum)

    def __call__(self, previous, current, keys=None):
        return _estimate(previous, current, self, (previous, current) if keys is None else keys)

    def spectra(self, previous, current, keys):
        """The half-resolution spectra of ``previous`` and ``current``; keeps the latter."""
        last = self._last
        before = (last[1] if last is not None and last[0] is keys[0]
                  else _spectrum(_gray(previous, _halve)))
        now = _spectrum(_gray(current, _halve))
        self._last = (keys[1], now)
        return before, now


def _estimate(previous, current, tracker, keys):
    coarse = np.zeros(2)
    H, W = previous.shape[:2]
    if min(H, W) >= _HALVE_FROM:     # the mean of the channels' halves: no full gray frame
        coarse = 2.0 * _spectra_shift(*tracker.spectra(previous, current, keys),
                                      (H // 2, W // 2), False)
    dy, dx = (int(v) for v in coarse)
    c = np.minimum([H - abs(dy), W - abs(dx)], _CROP) // 2 * 2
    # the crop of the previous frame and the crop of the current one where its content went
    y0 = int(np.clip((H - c[0]) // 2, max(0, -dy), min(H - c[0], H - c[0] - dy)))
    x0 = int(np.clip((W - c[1]) // 2, max(0, -dx), min(W - c[1], W - c[1] - dx)))
    pa = _gray(previous[y0:y0 + c[0], x0:x0 + c[1]])
    pb = _gray(current[y0 + dy:y0 + dy + c[0], x0 + dx:x0 + dx + c[1]])
    if pa.shape != pb.shape or min(pa.shape) < 8:      # the shift leaves no common crop
        shift = coarse
    else:
        shift = coarse + _correlate(pa, pb, True)
    rounded = np.round(shift)
    shift = np.where(np.abs(shift - rounded) <= _SNAP, rounded, shift)
    return float(shift[0]) + 0.0, float(shift[1]) + 0.0        # no -0.0


def _integer_shift(matrix):
    """``(dy, dx)`` when the homography is a translation by whole pixels, else None."""
    if not np.array_equal(matrix[:, :2], [[1.0, 0.0], [0.0, 1.0], [0.0, 0.0]]) \
            or matrix[2, 2] != 1.0:
        return None
    dx, dy = matrix[0, 2], matrix[1, 2]
    if dx != np.round(dx) or dy != np.round(dy):
        return None
    return int(dy), int(dx)


@functools.lru_cache(maxsize=8)
def _hann(shape, dtype):
    """The 2-D Hann window of ``shape`` (an outer product: skimage.filters.window's radial one
    took 80 ms at 640x360, more than the correlation itself)."""
    from scipy.signal.windows import hann

    return np.outer(hann(shape[0], sym=False), hann(shape[1], sym=False)).astype(dtype)


def warp_hwc(src, kind, motion):
    """``(warped, valid)``: ``src`` (H, W, C), any strides, moved by the motion into the
    current frame, as a new (H, W, C) array of its dtype and memory order.

    ``valid`` (uint8, H x W) is 1 where the previous frame saw the pixel; elsewhere the
    warped array holds 0.
    """
    out = np.zeros_like(src)          # the memory order of src: no transposing copies
    valid = np.empty(src.shape[:2], dtype=np.uint8)
    shift = _integer_shift(motion) if kind == "transform" else None
    if shift is not None:             # a slice copy: 1 ms against 56 for the kernel at 720p
        dy, dx = shift
        H, W = src.shape[:2]
        valid[...] = 0
        target = (slice(max(dy, 0), H + min(dy, 0)), slice(max(dx, 0), W + min(dx, 0)))
        source = (slice(max(-dy, 0), H + min(-dy, 0)), slice(max(-dx, 0), W + min(-dx, 0)))
        if abs(dy) < H and abs(dx) < W:
            out[target] = src[source]
            valid[target] = 1
    elif kind == "transform":
        _kernels.warp_homography(src, np.linalg.inv(motion), out, valid)
    else:
        _kernels.warp_flow(src, motion, out, valid)
    return out, valid
