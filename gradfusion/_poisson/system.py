"""The linear system of a blend (private): where the region lands in the target, its padded box,
the cell kinds, Perez et al.'s right-hand side and the initial guess; and the solution written
back into the target.

The padded box is the bounding box of the region in target coordinates grown by one cell on
every side (the Dirichlet frame), so that the kernels (:mod:`~gradfusion._poisson.grid`) never
test a border; its cells outside the target are ``OUTSIDE``.
"""

import numpy as np

from . import grid
from . import system_kernels as sk
from .arguments import channels_first_view


def span(flags):
    """``'a..b'``: first and last index of the True entries of a 1-D array."""
    idx = np.flatnonzero(flags)
    return f"{idx[0]}..{idx[-1]}"


def bbox(mask):
    """``(y0, y1, x0, x1)``: the half-open bounding box of the True cells of a 2-D mask."""
    rows = np.flatnonzero(mask.any(axis=1))
    cols = np.flatnonzero(mask.any(axis=0))
    return rows[0], rows[-1] + 1, cols[0], cols[-1] + 1


def place(mask, offset, target_shape):
    """The source-coordinate ``mask`` moved by ``offset`` into a target of spatial shape
    ``target_shape`` and cropped to it: the region Omega, a boolean ``(Ht, Wt)`` array."""
    Hs, Ws = mask.shape
    Ht, Wt = target_shape
    dy, dx = offset
    omega = np.zeros((Ht, Wt), dtype=bool)
    ty0, ty1 = max(dy, 0), min(dy + Hs, Ht)
    tx0, tx1 = max(dx, 0), min(dx + Ws, Wt)
    if ty0 < ty1 and tx0 < tx1:
        omega[ty0:ty1, tx0:tx1] = mask[ty0 - dy:ty1 - dy, tx0 - dx:tx1 - dx]
    return omega


class System:
    """The blend's linear system ``A f = b`` on the padded box of a non-empty region ``omega``.

    ``source`` and ``target`` are channels-first views (any strides), ``offset`` the
    source's position in the target, ``mixed`` the guidance. Attributes: ``kind`` (the
    cell kinds, int8), ``b`` (the right-hand side) and ``x`` (the initial guess: the
    source shifted per channel by the mean difference across the region's boundary), both
    ``(C, Hp, Wp)`` float64; ``corner`` the target pixel of the box's cell ``(0, 0)``;
    ``rows`` and ``cols`` the inclusive ranges of the box's indices inside the target (the
    hierarchy's, :class:`~gradfusion._poisson.levels.PoissonHierarchy`).
    """

    def __init__(self, source, target, omega, offset, mixed):
        C, Hs, Ws = source.shape
        _, Ht, Wt = target.shape
        dy, dx = offset
        y0, y1, x0, x1 = bbox(omega)
        py0, px0 = y0 - 1, x0 - 1
        Hp, Wp = (y1 - y0) + 2, (x1 - x0) + 2
        ry0, ry1 = max(py0, 0), min(py0 + Hp, Ht)         # in-image part of the padded box
        rx0, rx1 = max(px0, 0), min(px0 + Wp, Wt)
        kind = np.zeros((Hp, Wp), dtype=np.int8)
        kind[ry0 - py0:ry1 - py0, rx0 - px0:rx1 - px0] = grid.FIXED
        kind[1:-1, 1:-1][omega[y0:y1, x0:x1]] = grid.UNKNOWN
        tgt = np.empty((C, Hp, Wp))
        sk.padded_window(target, py0, px0, tgt)        # 0 outside the image (never read there)
        # the source in the same coordinates, where it exists
        src = np.empty((C, Hp, Wp))
        sk.padded_window(source, py0 - dy, px0 - dx, src)
        valid = np.zeros((Hp, Wp), dtype=np.bool_)
        valid[max(dy - py0, 0):max(dy + Hs - py0, 0),
              max(dx - px0, 0):max(dx + Ws - px0, 0)] = True
        self.b = np.empty((C, Hp, Wp))
        sk.guided_rhs(kind, tgt, src, valid, mixed, self.b)
        self.x = np.empty((C, Hp, Wp))
        sk.initial_guess(kind, tgt, src, self.x)
        self.kind = kind
        self.corner = (py0, px0)
        self.rows, self.cols = (-py0, Ht - 1 - py0), (-px0, Wt - 1 - px0)

    def output(self, target, dtype, channel_axis, clip):
        """A copy of ``target`` (its own layout, in ``dtype``) with the region replaced by the
        solution ``x`` (clipped to [0, 1] if ``clip``)."""
        out = np.empty(target.shape, dtype=dtype)
        if target.flags.c_contiguous:
            sk.copy_flat(target.reshape(-1), out.reshape(-1))
        else:
            out[...] = target
        sk.write_solution(self.kind, self.x, channels_first_view(out, "target", channel_axis)[0],
                          *self.corner, clip)
        return out
