"""Bilinear warps of ``(H, W, C)`` arrays (Numba, parallel over rows on large frames: the
twins of :mod:`gradfusion._jit`; any strides, so a channels-first stack is warped through
its ``moveaxis`` view without a copy).

Each output pixel takes the bilinear interpolation of the source at the point the motion
maps it back to; a point outside the source's pixel grid (by more than :data:`EDGE`) has
no value: the pixel is marked 0 in ``valid`` and ``out`` is not written there (it keeps what
the caller put in it: zeros, from :func:`gradfusion._video.motion.warp_hwc`). An integer
translation copies the source exactly (the weights are 0 and 1).

Their plain NumPy references are ``warp_homography`` and ``warp_flow`` in ``tests/reference.py``
(tests/test_video.py).
"""

import numba as nb

from .._jit import inline, parallel

__all__ = ["warp_homography", "warp_flow", "EDGE"]

#: a source point this far outside the pixel grid still takes the nearest edge pixels
#: (rounding of a transform that maps the grid onto itself)
EDGE = 1e-3


@inline
def _sample(src, out, valid, y, x, sy, sx, H, W):
    if sy < -EDGE or sx < -EDGE or sy > H - 1 + EDGE or sx > W - 1 + EDGE:
        valid[y, x] = 0
        return
    sy = min(max(sy, 0.0), H - 1.0)
    sx = min(max(sx, 0.0), W - 1.0)
    y0 = min(int(sy), H - 2) if H > 1 else 0
    x0 = min(int(sx), W - 2) if W > 1 else 0
    fy = sy - y0
    fx = sx - x0
    y1 = min(y0 + 1, H - 1)
    x1 = min(x0 + 1, W - 1)
    for c in range(src.shape[2]):
        top = src[y0, x0, c] * (1.0 - fx) + src[y0, x1, c] * fx
        bottom = src[y1, x0, c] * (1.0 - fx) + src[y1, x1, c] * fx
        out[y, x, c] = top * (1.0 - fy) + bottom * fy
    valid[y, x] = 1


@parallel
def warp_homography(src, inverse, out, valid):
    """``out[y, x] = src`` at ``inverse @ (x, y, 1)`` (skimage's (col, row) order);
    ``valid[y, x]`` 1 where that point lies on the source grid, else 0 (``out`` untouched)."""
    H, W, C = src.shape
    for y in nb.prange(H):
        for x in range(W):
            w = inverse[2, 0] * x + inverse[2, 1] * y + inverse[2, 2]
            if w == 0.0:
                valid[y, x] = 0
                continue
            sx = (inverse[0, 0] * x + inverse[0, 1] * y + inverse[0, 2]) / w
            sy = (inverse[1, 0] * x + inverse[1, 1] * y + inverse[1, 2]) / w
            _sample(src, out, valid, y, x, sy, sx, H, W)


@parallel
def warp_flow(src, flow, out, valid):
    """``out[y, x] = src`` at ``(y + flow[0, y, x], x + flow[1, y, x])`` (skimage's
    ``optical_flow_*`` convention); ``valid`` as for :func:`warp_homography`."""
    H, W, C = src.shape
    for y in nb.prange(H):
        for x in range(W):
            _sample(src, out, valid, y, x, y + flow[0, y, x], x + flow[1, y, x], H, W)
