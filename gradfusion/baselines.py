"""Baselines that gradfusion is compared against."""

import time

import numpy as np

from . import _validation as v
from ._problem import ResidualProblem
from .synthesis import SolveResult

__all__ = ["heuristic"]


def heuristic(image, proposal, alpha, *, channel_axis=-1, boundary="zero"):
    r"""The heuristic clip: display whatever of the proposal the optics allow.

    Parameters
    ----------
    image, proposal : (H, W) or (H, W, C) array
    alpha : float or sequence of float
    channel_axis : int or None, optional
    boundary : {"zero", "reflect"}, optional
        Only used to report ``bare_objective``.

    Returns
    -------
    result : SolveResult
        ``residual = clip(P - alpha I, 0, 1 - alpha)``, ``nit = 0``.

    Notes
    -----
    .. math:: O = \alpha I + \mathrm{clip}(P - \alpha I, 0, 1 - \alpha)

    Examples
    --------
    >>> import numpy as np
    >>> from gradfusion.baselines import heuristic
    >>> I = np.full((4, 4), 0.5); P = np.full((4, 4), 0.2)
    >>> float(heuristic(I, P, 0.7).output.max())      # cannot go darker than 0.35
    0.35
    """
    t0 = time.perf_counter()
    I, P, a, axis, _ = v.prepare_pair(image, proposal, alpha, channel_axis)
    problem = ResidualProblem(I, P, a, boundary=boundary, regularizer=None)
    R = problem.heuristic()
    _, bare, _ = problem.terms(R)
    O = a[:, None, None] * I + R
    return SolveResult(
        output=v.channels_last(O, axis), residual=v.channels_last(R, axis),
        x=v.channels_last(R, axis), fun=bare, bare_objective=bare, regularization=0.0,
        optimality=np.nan, nit=0, nmatvec=0, success=True, status=0,
        message="closed form", time=time.perf_counter() - t0)
