"""Gradient operators as :class:`scipy.sparse.linalg.LinearOperator` objects.

Each operator maps an image, flattened in C order from its natural layout
(``(H, W)`` or ``(H, W, C)`` with ``channel_axis``), to its two gradient maps
stacked as ``(2, *image_shape)`` and flattened; ``rmatvec`` is the exact
adjoint.  Products run in the Numba stencils of :mod:`gradfusion._stencils`;
:meth:`~SobelGradient.gradients` and :meth:`~SobelGradient.gradients_adjoint` apply them to
channels-first ``(C, H, W)`` arrays without flattening (Poisson editing's
gradients and divergence, :mod:`gradfusion.poisson`, are :class:`ForwardDifference`'s).
The Hessian of :func:`gradfusion.solve` is the normal operator
``S^T S + w D^T D + 2 lam I`` of :class:`SobelGradient` and :class:`DifferenceFilter`,
applied by one fused stencil pass over the same kernels' taps (a test checks the two agree).
"""

import numbers

import numpy as np
from scipy.sparse.linalg import LinearOperator

from . import _stencils as st
from . import _validation as v
from ._problem import BOUNDARY_MODES

__all__ = ["SobelGradient", "ForwardDifference", "DifferenceFilter"]


def _float_dtype(dtype):
    try:
        dt = np.dtype(dtype)
    except TypeError:
        raise TypeError(f"dtype must be float32 or float64, got {dtype!r}") from None
    if dt not in (np.float32, np.float64):
        raise TypeError(f"dtype must be float32 or float64, got {dt}")
    return dt


class _GradientOperator(LinearOperator):
    """Shared plumbing: layout conversion around a channels-first kernel pair."""

    def __init__(self, image_shape, channel_axis, dtype):
        if (not isinstance(image_shape, (tuple, list))
                or not all(isinstance(s, numbers.Integral) and not isinstance(s, (bool, np.bool_))
                           for s in image_shape)):
            raise TypeError(f"image_shape must be a tuple of integers, got {image_shape!r}")
        image_shape = tuple(int(s) for s in image_shape)
        if len(image_shape) not in (2, 3) or min(image_shape) < 1:
            raise ValueError(
                f"image_shape must be (H, W) or 3-D with positive sizes, got {image_shape}")
        dtype = _float_dtype(dtype)
        if len(image_shape) == 3:
            v.check_channel_axis(channel_axis)
            if channel_axis is None or not -3 <= channel_axis < 3:
                raise ValueError(
                    f"channel_axis must be in [-3, 2] for a 3-D image_shape, got {channel_axis!r}")
            self._axis = channel_axis % 3
        else:
            self._axis = None
        self.image_shape = image_shape
        n = int(np.prod(image_shape))
        super().__init__(dtype=dtype, shape=(2 * n, n))

    def _to_chw(self, flat):
        u = np.asarray(flat, dtype=self.dtype).reshape(self.image_shape)
        if self._axis is None:
            return np.ascontiguousarray(u[np.newaxis])
        return np.ascontiguousarray(np.moveaxis(u, self._axis, 0))

    def _from_chw(self, a):
        if self._axis is None:
            return a[0]
        return np.moveaxis(a, 0, self._axis)

    def gradients(self, u):
        """The two gradient maps of channels-first images, without flattening.

        Parameters
        ----------
        u : (C, H, W) ndarray
            Any ``C`` (the operator's own channel count is not required), ``(H, W)``
            the operator's image size; converted to the operator's dtype, C order.

        Returns
        -------
        gx, gy : (C, H, W) ndarray
            ``G_x u`` and ``G_y u`` in the operator's dtype: the operator's product, per
            channel (:meth:`matvec` is this on the operator's layout, flattened).
        """
        u = np.ascontiguousarray(u, dtype=self.dtype)
        gx = np.empty_like(u)
        gy = np.empty_like(u)
        self._forward_kernel(u, gx, gy)
        return gx, gy

    def gradients_adjoint(self, gx, gy):
        """The adjoint product ``G_x^T gx + G_y^T gy`` of channels-first maps (see
        :meth:`gradients`; :meth:`rmatvec` is this on the operator's layout, flattened).

        Parameters
        ----------
        gx, gy : (C, H, W) ndarray

        Returns
        -------
        (C, H, W) ndarray in the operator's dtype
        """
        gx = np.ascontiguousarray(gx, dtype=self.dtype)
        gy = np.ascontiguousarray(gy, dtype=self.dtype)
        out = np.empty_like(gx)
        self._adjoint_kernel(gx, gy, out)
        return out

    def _matvec(self, x):
        gx, gy = self.gradients(self._to_chw(x))
        out = np.stack([self._from_chw(gx), self._from_chw(gy)])
        return out.reshape(-1)

    def _rmatvec(self, y):
        y = np.asarray(y, dtype=self.dtype).reshape((2,) + self.image_shape)
        out = self.gradients_adjoint(self._to_chw(y[0]), self._to_chw(y[1]))
        return self._from_chw(out).reshape(-1)

    def _matmat(self, X):
        return np.column_stack([self._matvec(col) for col in X.T])

    def _rmatmat(self, Y):
        return np.column_stack([self._rmatvec(col) for col in Y.T])


class SobelGradient(_GradientOperator):
    r"""The 3x3 Sobel pair per channel, as the Residual Aligned authors compute it.

    Parameters
    ----------
    image_shape : tuple of int
        ``(H, W)`` or a 3-D shape with channels on ``channel_axis``.
    channel_axis : int, optional
        Channel axis of a 3-D ``image_shape`` (default -1).
    boundary : {"zero", "reflect"}, optional
        Zero padding (PyTorch ``conv2d(padding=1)``) or half-sample reflection
        (``scipy.ndimage`` ``mode="reflect"``).
    dtype : {float64, float32}, optional

    Notes
    -----
    Cross-correlation (no kernel flip) with

    .. math:: k_x = \begin{pmatrix}1&0&-1\\2&0&-2\\1&0&-1\end{pmatrix},\qquad
              k_y = k_x^T,

    so ``Gx[i, j] = sum_{u,v} kx[u+1, v+1] x[i+u, j+v]``. The symbol vanishes
    on the Nyquist lines ``omega_x = pi`` and ``omega_y = pi``.

    Examples
    --------
    >>> import numpy as np
    >>> from gradfusion import SobelGradient
    >>> op = SobelGradient((4, 5))
    >>> g = op @ np.ones(20)
    >>> g.reshape(2, 4, 5)[0, 1:-1, 1:-1]       # interior of a constant: 0
    array([[0., 0., 0.],
           [0., 0., 0.]])
    """

    def __init__(self, image_shape, channel_axis=-1, boundary="zero", dtype=np.float64):
        self.boundary = v.choice(boundary, "boundary", sorted(BOUNDARY_MODES))
        self._mode = BOUNDARY_MODES[boundary]
        super().__init__(image_shape, channel_axis, dtype)

    def _forward_kernel(self, u, gx, gy):
        st.sobel_forward(u, gx, gy, self._mode)

    def _adjoint_kernel(self, gx, gy, out):
        st.sobel_adjoint(gx, gy, out, self._mode)


class ForwardDifference(_GradientOperator):
    r"""Forward differences, the 4-neighbour (Poisson) discrete gradient.

    ``Dx[i, j] = x[i, j+1] - x[i, j]`` and ``Dy[i, j] = x[i+1, j] - x[i, j]``,
    zero on the last column / row (Neumann end), so ``D^T D`` is the
    5-point Neumann Laplacian (negated).

    Parameters
    ----------
    image_shape : tuple of int
    channel_axis : int, optional
    dtype : {float64, float32}, optional

    Examples
    --------
    >>> import numpy as np
    >>> from gradfusion import ForwardDifference
    >>> op = ForwardDifference((1, 3))
    >>> (op @ np.array([0.0, 1.0, 3.0])).reshape(2, 1, 3)[0]
    array([[1., 2., 0.]])
    """

    def __init__(self, image_shape, channel_axis=-1, dtype=np.float64):
        super().__init__(image_shape, channel_axis, dtype)

    def _forward_kernel(self, u, gx, gy):
        st.forward_difference(u, gx, gy)

    def _adjoint_kernel(self, gx, gy, out):
        st.forward_difference_adjoint(gx, gy, out)


class DifferenceFilter(_GradientOperator):
    r"""'Valid' correlation with a 1-D filter along x and along y.

    ``Dx[i, j] = sum_m taps[m] x[i, j+m]`` for ``j < W - k`` and 0 beyond,
    ``k = len(taps) - 1``; ``Dy`` likewise along rows. With the default taps
    ``[1, -2, 1]`` this is the regulariser of :func:`gradfusion.solve`:
    second differences, squared response ``16 sin^4(omega/2)``.

    Parameters
    ----------
    image_shape : tuple of int
    taps : sequence of float, optional
    channel_axis : int, optional
    dtype : {float64, float32}, optional

    Examples
    --------
    >>> import numpy as np
    >>> from gradfusion import DifferenceFilter
    >>> op = DifferenceFilter((1, 4))
    >>> (op @ np.array([1.0, -1.0, 1.0, -1.0])).reshape(2, 1, 4)[0]
    array([[ 4., -4.,  0.,  0.]])
    """

    def __init__(self, image_shape, taps=(1.0, -2.0, 1.0), channel_axis=-1,
                 dtype=np.float64):
        dtype = _float_dtype(dtype)
        try:
            taps = np.asarray(taps, dtype=dtype)
        except (TypeError, ValueError):
            raise TypeError(
                f"taps must be a sequence of real numbers, got {v.describe(taps)}") from None
        if taps.ndim != 1 or taps.size < 1 or not np.all(np.isfinite(taps)):
            raise ValueError(f"taps must be a non-empty 1-D sequence of finite numbers, got {taps!r}")
        self.taps = taps
        super().__init__(image_shape, channel_axis, dtype)

    def _forward_kernel(self, u, gx, gy):
        st.difference_forward(u, self.taps, gx, gy)

    def _adjoint_kernel(self, gx, gy, out):
        st.difference_adjoint(gx, gy, self.taps, out)
