"""Baselines that gradfusion is compared against."""

import time

import numpy as np

from . import _validation as v
from ._baseline_kernels import affine_loss, affine_loss_grid
from ._deprecation import REMOVAL
from ._problem import DEFAULT_BOUNDARY, round_down
from .metrics import minmax_normalize
from .synthesis import (DEFAULT_LEVEL_WEIGHT, DEFAULT_REG_WEIGHT, SynthesisResult,
                        check_gradient_weight, check_level_weight, check_objective_options,
                        objective_problem, result_fields)

__all__ = ["heuristic", "stay_positive", "stay_positive_pixels", "stay_positive_loss",
           "BaselineResult", "StayPositiveResult", "STAY_POSITIVE_PENALTY"]

_RETIRED = ("baseline results no longer carry {name} (a field of gradfusion.solve's solver, "
            "meaningless for a baseline: it was {value}); it will be removed in " + REMOVAL)


class BaselineResult(SynthesisResult):
    """Result of a baseline (:func:`heuristic`): :class:`~gradfusion.SynthesisResult`'s fields.

    Attributes
    ----------
    output, residual, x, bare_objective, regularization, level_error, time
        As in :class:`~gradfusion.SynthesisResult`, at the baseline's residual.
    fun : float
        :func:`gradfusion.solve`'s objective at the baseline's output, with
        the objective options given to the baseline (``boundary``,
        ``regularizer``, ``reg_weight``, ``level_weight``,
        ``gradient_weight``; solve's defaults otherwise). The baseline does
        not minimise it: it is reported so that ``fun`` compares with a
        solve's ``fun`` of the same options (a baseline's own loss is
        ``loss``).
    success, status, message
        True, 0 and how the residual was found.
    nit : int
        Iterations of the baseline's own search (0 for a closed form).
    nfev : int
        Evaluations of the baseline's own loss (0 for a closed form).

    Notes
    -----
    ``gap``, ``optimality`` and ``nmatvec``, which baselines used to carry as
    NaN, NaN and 0 (they are :class:`~gradfusion.SolveResult`'s solver
    fields), still read as those values with a ``FutureWarning`` until
    gradfusion 0.2.
    """

    _deprecated = {
        "gap": (None, np.nan, _RETIRED.format(name="gap", value="NaN")),
        "optimality": (None, np.nan, _RETIRED.format(name="optimality", value="NaN")),
        "nmatvec": (None, 0, _RETIRED.format(name="nmatvec", value="0")),
    }


class StayPositiveResult(BaselineResult):
    """Result of :func:`stay_positive` and :func:`stay_positive_pixels`.

    Attributes
    ----------
    output, residual, x, fun, bare_objective, regularization, level_error, time
        As in :class:`BaselineResult`: ``fun`` is :func:`gradfusion.solve`'s
        objective at the output, not the StayPositive loss (``loss``).
    success, status, message, nit, nfev
        As in :class:`BaselineResult`.
    loss : float
        The StayPositive loss that the method minimises,
        ``fidelity + penalty * violation`` (:func:`stay_positive_loss` of
        the unclipped residual ``a P + b`` for :func:`stay_positive`, of
        ``residual`` for :func:`stay_positive_pixels`).
    fidelity, violation : float
        The two terms of ``loss``: the mean absolute difference of the
        min-max normalised proposal and output, and the mean bound violation.
    params : ndarray
        :func:`stay_positive` only: ``(a, b)``, or ``(C, 2)`` with
        ``per_channel``.
    lower_bound, loss_gap : float
        :func:`stay_positive_pixels` only: a proven lower bound on the
        minimal loss and ``loss - lower_bound``.

    Notes
    -----
    Until gradfusion 0.2, reading ``result.fun`` issues a ``FutureWarning``
    (it used to be the StayPositive loss, now ``loss``; ``result["fun"]``
    does not warn), and ``result.gap`` returns ``loss_gap`` with one
    (``gap`` is :class:`~gradfusion.SolveResult`'s relative objective gap).
    """

    _deprecated = {
        **BaselineResult._deprecated,
        "fun": ("fun", None,
                "StayPositive results' fun is now gradfusion.solve's objective at the output, "
                "as in every result; the StayPositive loss it used to hold is loss (this "
                f"warning will be removed in {REMOVAL}; result['fun'] does not warn)"),
        "gap": ("loss_gap", np.nan,
                "stay_positive_pixels' gap is renamed loss_gap (gap is solve's relative "
                f"objective gap; gap will be removed in {REMOVAL})"),
    }


#: the objective options of the baselines' keyword arguments, documented once
_OBJECTIVE_DOC = """boundary : {"reflect", "zero"}, optional
    regularizer : {"nyquist", "gradient"} or None, optional
    reg_weight : float, optional
    level_weight : float, str or array, optional
    gradient_weight : array, optional
        The options of :func:`gradfusion.solve`'s objective, with its defaults:
        they only set the objective reported in ``fun`` and its terms
        (``bare_objective``, ``regularization``, ``level_error``), so that
        the result compares with a solve of the same options."""


def _check_objective(boundary, regularizer, reg_weight, level_weight, gradient_weight):
    """Validate the objective options before any work (as solve does)."""
    check_objective_options(boundary, regularizer, reg_weight)
    check_level_weight(level_weight)
    check_gradient_weight(gradient_weight)
    return dict(boundary=boundary, regularizer=regularizer, reg_weight=reg_weight,
                level_weight=level_weight, gradient_weight=gradient_weight)


def heuristic(image, proposal, alpha, *, channel_axis=-1, boundary=DEFAULT_BOUNDARY,
              regularizer="nyquist", reg_weight=DEFAULT_REG_WEIGHT,
              level_weight=DEFAULT_LEVEL_WEIGHT, gradient_weight=None):
    r"""The heuristic clip: display whatever of the proposal the optics allow.

    Parameters
    ----------
    image, proposal : (H, W) or (H, W, C) array
    alpha : float, sequence of float or array
        Combiner transmission in (0, 1): a scalar, one per channel, or an alpha
        map (one per pixel, or per pixel and channel), as for
        :func:`gradfusion.solve`; the clip is then ``clip(P - alpha I, 0,
        1 - alpha)`` pixel by pixel.
    channel_axis : int or None, optional
    {objective}

    Returns
    -------
    result : BaselineResult
        ``residual = clip(P - alpha I, 0, 1 - alpha)``, ``nit = 0``; ``fun``,
        ``bare_objective``, ``regularization`` and ``level_error`` are the
        terms of :func:`gradfusion.solve`'s objective (with these options) at
        that residual, so the two compare directly.

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
    objective = _check_objective(boundary, regularizer, reg_weight, level_weight, gradient_weight)
    I, P, a, axis, _ = v.prepare_pair(image, proposal, alpha, channel_axis)
    problem = objective_problem(I, P, a, axis, **objective)
    R = problem.heuristic()
    return BaselineResult(**result_fields(problem, R, axis), nit=0, nfev=0, success=True,
                          status=0, message="closed form", time=time.perf_counter() - t0)


# --------------------------------------------------------------------------- StayPositive

#: weight of the bound-violation term in the StayPositive loss (the authors' value)
STAY_POSITIVE_PENALTY = 10.0


def _compress(columns):
    """Unique rows of equal-length float columns, with their counts (exact grouping)."""
    keys = np.ascontiguousarray(np.stack(columns, axis=1))
    view = keys.view(np.dtype((np.void, keys.dtype.itemsize * keys.shape[1]))).ravel()
    _, first, counts = np.unique(view, return_index=True, return_counts=True)
    return keys[first], counts.astype(np.float64)


class _AffineProblem:
    """The 2-parameter (or 2-per-channel) StayPositive problem on compressed samples (the
    loss evaluated by :mod:`gradfusion._baseline_kernels`)."""

    def __init__(self, I, P, a, penalty):
        C = I.shape[0]
        self.C = C
        self.penalty = float(penalty)
        t = minmax_normalize(P)
        lo = a[:, None, None] * I
        u = np.broadcast_to((1.0 - a)[:, None, None], I.shape)
        ch = np.broadcast_to(np.arange(C, dtype=np.float64)[:, None, None], I.shape)
        rows, w = _compress([lo.ravel(), P.ravel(), u.ravel(), ch.ravel(), t.ravel()])
        self.lo, self.p, self.u = rows[:, 0].copy(), rows[:, 1].copy(), rows[:, 2].copy()
        self.ch_all = rows[:, 3].astype(np.int64)
        self.t, self.w = rows[:, 4].copy(), w
        self.P, self.upper = P, 1.0 - a
        self.nfev = 0

    def loss(self, A, B, shared):
        ch = np.zeros_like(self.ch_all) if shared else self.ch_all
        self.nfev += 1
        return affine_loss(np.atleast_1d(np.asarray(A, dtype=np.float64)),
                           np.atleast_1d(np.asarray(B, dtype=np.float64)), ch, self.lo,
                           self.p, self.u, self.t, self.w, self.penalty)

    def grid(self, As, Bs, which, A0, B0, shared):
        ch = np.zeros_like(self.ch_all) if shared else self.ch_all
        out = np.empty(As.size)
        affine_loss_grid(As.ravel(), Bs.ravel(), which, A0, B0, ch, self.lo, self.p, self.u,
                         self.t, self.w, self.penalty, out)
        self.nfev += As.size
        return out.reshape(As.shape)


def _domain(P, upper, delta):
    """Box ``|a| <= a_max``, ``|s| <= s_max`` in ``(a, s = a med + b - upper / 2)`` containing the
    optimum (see :func:`stay_positive`, Notes); also returns ``med``."""
    med = float(np.median(P))
    mad = float(np.mean(np.abs(P - med)))
    c = upper / 2.0 + delta
    a_max = c / mad if mad > 0 else 0.0
    return a_max, 2.0 * c, med


def _search_2d(fun_grid, fun, a_max, s_max, med, upper, n_grid, n_starts=5):
    """Global search of a 2-D function of ``(a, b)`` over the domain, then local refinement.

    ``fun_grid(As, Bs)`` evaluates many points, ``fun(a, b)`` one. The grid
    is uniform in ``(a, s)``; the ``n_starts`` best grid points seed a
    Nelder-Mead search and a compass (pattern) search that halves its step
    down to 1e-13 of the domain. Returns ``(a, b, value, nit)``.
    """
    from scipy.optimize import minimize

    ga = np.linspace(-a_max, a_max, n_grid) if a_max > 0 else np.zeros(1)
    gs = np.linspace(-s_max, s_max, n_grid)
    A, S = np.meshgrid(ga, gs, indexing="ij")
    Bg = S + upper / 2.0 - A * med
    vals = fun_grid(A, Bg)
    order = np.argsort(vals, axis=None, kind="stable")[:n_starts]
    da = ga[1] - ga[0] if ga.size > 1 else 0.0
    ds = gs[1] - gs[0]

    def f(z):
        return fun(z[0], z[1] + upper / 2.0 - z[0] * med)

    best = (np.inf, 0.0, 0.0)
    nit = 0
    for flat in order:
        ia, is_ = np.unravel_index(flat, vals.shape)
        z0 = np.array([ga[ia], gs[is_]])
        if a_max > 0:
            simplex = np.array([z0, z0 + [da, 0.0], z0 + [0.0, ds]])
            res = minimize(f, z0, method="Nelder-Mead",
                           options=dict(initial_simplex=simplex, xatol=1e-13 * s_max,
                                        fatol=1e-16, maxfev=2000))
            z, fz = res.x, float(res.fun)
            nit += int(res.nit)
        else:
            z, fz = z0, f(z0)
        # compass search: robust on the kinks Nelder-Mead may stall on
        step = np.array([max(da, ds) / 4.0, ds / 4.0])
        dirs = np.array([[1, 0], [-1, 0], [0, 1], [0, -1], [1, 1], [-1, -1], [1, -1], [-1, 1]],
                        dtype=np.float64)
        if a_max == 0:
            dirs = dirs[2:4]
        while step[1] > 1e-13 * s_max:
            moved = False
            for dvec in dirs:
                zt = z + dvec * step
                ft = f(zt)
                if ft < fz:
                    z, fz, moved = zt, ft, True
                    break
            nit += 1
            if not moved:
                step = step / 2.0
        if fz < best[0]:
            best = (fz, z[0], z[1] + upper / 2.0 - z[0] * med)
    return best[1], best[2], best[0], nit


def _baseline_result(I, P, a, R, axis, objective, t0, **extra):
    problem = objective_problem(I, P, a, axis, **objective)
    return StayPositiveResult(**result_fields(problem, R, axis), success=True, status=0,
                              **extra, time=time.perf_counter() - t0)


def _cast_residual(R, upper, dtype):
    """``R`` (float64, inside ``[0, upper]``) in ``dtype`` without rounding above ``upper``."""
    up = np.asarray(upper, dtype=np.float64).reshape(-1, 1, 1)
    return np.clip(np.clip(R, 0.0, up).astype(dtype), dtype.type(0), round_down(up, dtype))


def _check_penalty(penalty):
    return v.real(penalty, "penalty", "a finite number >= 0",
                  lambda x: np.isfinite(x) and x >= 0)


def stay_positive_loss(image, proposal, residual, alpha, *, channel_axis=-1,
                       penalty=STAY_POSITIVE_PENALTY):
    r"""The StayPositive loss of a residual, evaluated directly.

    Parameters
    ----------
    image, proposal : (H, W) or (H, W, C) array
    residual : float array of the same shape
        The residual ``R`` (it may leave ``[0, 1 - alpha]``; the loss
        penalises that).
    alpha : float or sequence of float
        A scalar or one per channel (an alpha map is refused: a ValueError).
    channel_axis : int or None, optional
    penalty : float, optional
        Weight of the bound-violation term (10, the authors' value).

    Returns
    -------
    loss : float

    Notes
    -----
    With ``R~ = clip(R, 0, 1 - alpha)``, ``O = alpha I + R~`` and ``N`` the
    global min-max normalisation over all pixels and channels,

    .. math:: L(R) = \mathrm{mean}\,|N(P) - N(O)|
              + \lambda\, \mathrm{mean}\,|\tilde R - R|,
              \qquad N(x) = \frac{x - \min x}{\max x - \min x}.

    A constant ``x`` (``max x == min x``) normalises to 0, the limit of the
    authors' ``(x - min) / (max - min + eps)``; gradfusion divides without the
    ``eps`` otherwise.

    Examples
    --------
    >>> import numpy as np
    >>> from gradfusion.baselines import stay_positive_loss
    >>> I = np.linspace(0, 1, 16).reshape(4, 4); P = I.copy()
    >>> round(stay_positive_loss(I, P, np.zeros((4, 4)), 0.7), 12)   # O = 0.7 I: same shape
    0.0
    """
    _check_penalty(penalty)
    # the residual has the pair's (broadcast) shape: a gray image beside an RGB proposal
    image, proposal = v.broadcast_pair(image, proposal, channel_axis)
    I, P, a, _, _ = v.prepare_pair(                        # a: float64, not rounded
        image, proposal, alpha, channel_axis,
        before_work=lambda shape, dtype: v.check_like_image(residual, "residual", image),
        maps=False, what="baselines.stay_positive_loss")
    Rc = v.like_image(residual, "residual", image, channel_axis, np.float64)
    upper = (1.0 - a)[:, None, None]
    clipped = np.clip(Rc, 0.0, upper)
    O = a[:, None, None] * I.astype(np.float64) + clipped
    fid = float(np.mean(np.abs(minmax_normalize(P.astype(np.float64)) - minmax_normalize(O))))
    return fid + float(penalty) * float(np.mean(np.abs(clipped - Rc)))


def stay_positive(image, proposal, alpha, *, channel_axis=-1, per_channel=False,
                  penalty=STAY_POSITIVE_PENALTY, grid=64, boundary=DEFAULT_BOUNDARY,
                  regularizer="nyquist", reg_weight=DEFAULT_REG_WEIGHT,
                  level_weight=DEFAULT_LEVEL_WEIGHT, gradient_weight=None):
    r"""StayPositive with two global parameters: the residual ``R = a P + b``, globally optimal.

    Parameters
    ----------
    image, proposal : (H, W) or (H, W, C) array
        Scene ``I`` and proposal ``P`` (uint8, uint16 or float in [0, 1]).
    alpha : float or sequence of float
        Combiner transmission (the authors used 0.7): a scalar or one per
        channel (an alpha map is refused: a ValueError).
    channel_axis : int or None, optional
    per_channel : bool, optional
        One ``(a_c, b_c)`` pair per channel instead of two scalars shared by
        all channels (see Notes for what is guaranteed then).
    penalty : float, optional
        Weight of the bound-violation term (10).
    grid : int, optional
        Points per axis of the global grid search (default 64).
    {objective}

    Returns
    -------
    result : StayPositiveResult
        :class:`~gradfusion.SynthesisResult`'s fields (``output``,
        ``residual`` = ``clip(a P + b, 0, 1 - alpha)``, ``x``, ``fun`` (solve's
        objective at the output), ``bare_objective``, ``regularization``,
        ``level_error``, ``success``, ``status``, ``message``, ``time``) plus
        ``loss`` (the minimised StayPositive loss), ``params`` (``(a, b)``, or
        ``(C, 2)`` with ``per_channel``), ``fidelity`` and ``violation`` (the
        two terms of ``loss = fidelity + penalty * violation``), ``nit`` and
        ``nfev`` (loss evaluations).

    Notes
    -----
    The loss is :func:`stay_positive_loss` of ``R = a P + b``. It is
    piecewise smooth but not convex: the clip makes it piecewise linear in
    ``(a, b)`` only for fixed normalisation extremes ``min O`` and ``max O``,
    which move with ``(a, b)``. The authors ran Adam (lr 1e-3, 1000
    iterations). gradfusion finds the global optimum of the 2-D problem:

    1. *A bounded domain that contains it.* Let ``L_f`` be the loss of a
       feasible point (``R`` inside the bounds), the better of ``a = 0,
       b = u_min / 2`` and the affine map of ``[min P, max P]`` onto
       ``[0, u_min]`` (``u = 1 - alpha``). The fidelity term is >= 0, so at
       the optimum ``mean dist(a P + b, [0, u]) <= delta = L_f / penalty``.
       Since ``dist(x, [0, u]) >= |x - u_max/2| - u_max/2``, the optimum has
       ``mean |a P + b - u_max/2| <= c = u_max/2 + delta``. With ``med`` the
       median of ``P`` and ``MAD = mean|P - med|`` (the minimum over
       ``m`` of ``mean|P - m|``), this gives ``|a| <= c / MAD`` and, for
       ``s = a med + b - u_max/2``, ``|s| <= c + |a| MAD <= 2c``.
    2. *A grid* of ``grid x grid`` points over that box in ``(a, s)``, every
       loss evaluated exactly (Numba; pixels with equal ``(I, P)`` values are
       merged with their counts, which is exact).
    3. *Local refinement* from the 5 best grid points: Nelder-Mead, then a
       compass search that halves its step down to 1e-13 of the box, so
       each start ends at a point no coordinate or diagonal step improves.

    The result is verified against dense grid searches in the tests. With
    ``per_channel``, the shared optimum is refined by block coordinate
    descent: each channel's ``(a_c, b_c)`` in turn is optimised globally by
    the same procedure (its own domain, with the penalty budget of one
    channel scaled by ``C``) with the other channels fixed, until a sweep no
    longer improves; the joint optimum of ``2C`` parameters is not certified.

    References
    ----------
    .. [1] K. Luo, G. Yang, W. Xian, H. Haraldsson, B. Hariharan,
       S. Belongie, "Stay Positive: Non-Negative Image Synthesis for
       Augmented Reality", CVPR 2021.

    Examples
    --------
    >>> import numpy as np
    >>> from gradfusion.baselines import stay_positive, stay_positive_loss
    >>> rng = np.random.default_rng(0)
    >>> I = rng.random((16, 16, 3)); P = rng.random((16, 16, 3))
    >>> res = stay_positive(I, P, 0.7)
    >>> res.params.shape, bool(abs(res.loss - stay_positive_loss(I, P, res.params[0] * P
    ...                                                           + res.params[1], 0.7)) < 1e-12)
    ((2,), True)
    """
    t0 = time.perf_counter()
    v.flag(per_channel, "per_channel")
    if _check_penalty(penalty) == 0:
        raise ValueError("penalty must be > 0 for the 2-parameter search (it bounds the "
                         f"domain), got {penalty!r}")
    v.integer(grid, "grid", "an integer >= 3", lambda n: n >= 3)
    objective = _check_objective(boundary, regularizer, reg_weight, level_weight, gradient_weight)
    I, P, a, axis, dtype = v.prepare_pair(image, proposal, alpha, channel_axis, maps=False,
                                          what="baselines.stay_positive")
    I64, P64 = I.astype(np.float64), P.astype(np.float64)
    a64 = a
    prob = _AffineProblem(I64, P64, a64, penalty)
    C = I.shape[0]
    u = 1.0 - a64
    umin, umax = float(u.min()), float(u.max())
    pmin, pmax = float(P64.min()), float(P64.max())
    feasible = [(0.0, umin / 2.0)]
    if pmax > pmin:
        feasible.append((umin / (pmax - pmin), -umin * pmin / (pmax - pmin)))
    L_f = min(prob.loss(fa, fb, True)[0] for fa, fb in feasible)
    delta = L_f / penalty
    a_max, s_max, med = _domain(P64, umax, delta)
    A0, B0 = np.zeros(1), np.zeros(1)
    ga, gb, _, nit = _search_2d(
        lambda As, Bs: prob.grid(As, Bs, -1, A0, B0, True),
        lambda x, y: prob.loss(x, y, True)[0], a_max, s_max, med, umax, int(grid))
    A = np.full(C, ga)
    B = np.full(C, gb)
    shared = True
    if per_channel and C > 1:
        shared = False
        best = prob.loss(A, B, False)[0]
        for _sweep in range(8):
            start = best
            for c in range(C):
                Pc = P64[c]
                am, sm, mc = _domain(Pc, float(u[c]), C * delta)

                def f_one(x, y, c=c):
                    Ac, Bc = A.copy(), B.copy()
                    Ac[c], Bc[c] = x, y
                    return prob.loss(Ac, Bc, False)[0]

                ca, cb, val, it = _search_2d(
                    lambda As, Bs, c=c: prob.grid(As, Bs, c, A, B, False), f_one, am, sm, mc,
                    float(u[c]), max(int(grid) // 2, 3), n_starts=3)
                nit += it
                if val < best:
                    A[c], B[c], best = ca, cb, val
            if best >= start - 1e-15 * max(abs(start), 1.0):
                break
    loss, fid, viol = prob.loss(A, B, shared)
    Rraw = A[:, None, None] * P64 + B[:, None, None]
    R = _cast_residual(Rraw, u, np.dtype(dtype))
    params = np.array([ga, gb]) if shared else np.stack([A, B], axis=1)
    return _baseline_result(
        I, P, a, R, axis, objective, t0, loss=float(loss), fidelity=float(fid),
        violation=float(viol), params=params, nit=nit, nfev=prob.nfev,
        message=("global grid search and local refinement of (a, b)" if shared else
                 "per-channel block coordinate descent from the shared optimum"))


def _pixels_phi(sigma, lo, hi, t, bounds):
    """Relaxed loss (sum form) minimised over ``mu`` at a fixed ``sigma = 1 / (max O - min O)``.

    ``G(mu, sigma) = sum_i dist(mu, [sigma lo_i - t_i, sigma hi_i - t_i])`` is
    minimised over ``mu`` by the median of the ``2n`` interval ends; the
    feasible ``mu`` form an interval (``bounds``). Returns ``(G, mu)``.
    """
    minlo, minhi, maxlo, maxhi = bounds
    n = lo.size
    left = sigma * lo - t
    right = sigma * hi - t
    ends = np.concatenate([left, right])
    mu = float(np.partition(ends, n - 1)[n - 1])          # n-th smallest of 2n: a median
    mu_lo = max(sigma * minlo, sigma * maxlo - 1.0)
    mu_hi = min(sigma * minhi, sigma * maxhi - 1.0)
    mu = min(max(mu, mu_lo), mu_hi)
    g = float(np.sum(np.maximum(left - mu, 0.0)) + np.sum(np.maximum(mu - right, 0.0)))
    return g, mu


def stay_positive_pixels(image, proposal, alpha, *, channel_axis=-1, xtol=1e-13,
                         boundary=DEFAULT_BOUNDARY, regularizer="nyquist",
                         reg_weight=DEFAULT_REG_WEIGHT, level_weight=DEFAULT_LEVEL_WEIGHT,
                         gradient_weight=None):
    r"""StayPositive with a free residual per pixel, solved to its global optimum.

    Parameters
    ----------
    image, proposal : (H, W) or (H, W, C) array
    alpha : float or sequence of float
        A scalar or one per channel (an alpha map is refused: a ValueError).
    channel_axis : int or None, optional
    xtol : float, optional
        Relative width at which the 1-D search over the normalisation scale
        stops.
    {objective}

    Returns
    -------
    result : StayPositiveResult
        :class:`~gradfusion.SynthesisResult`'s fields (``fun`` is solve's
        objective at the output), plus ``loss`` (the minimised StayPositive
        loss), ``fidelity``, ``violation`` (0: the answer is feasible),
        ``lower_bound`` (a proven lower bound on the loss), ``loss_gap =
        loss - lower_bound``, ``nit`` and ``nfev``.

    Notes
    -----
    The loss is :func:`stay_positive_loss` with ``R`` free per pixel (the
    authors: Adam, lr 1e-2, 1000 iterations). Solved classically, exactly:

    * clipping ``R`` into ``[0, u]`` (``u = 1 - alpha``) leaves ``O`` unchanged
      and removes the penalty, so the optimum is feasible whatever the
      penalty weight; ``O_i`` ranges over ``J_i = [alpha I_i, alpha I_i + u]``.
    * Fix ``m = min O`` and ``M = max O = m + s``. The loss separates per
      pixel: pixel ``i`` costs ``dist(m + t_i s, J_i) / s`` (``t = N(P)``),
      attained by ``O_i = clip(m + t_i s, J_i)``, which lies in ``[m, M]``
      when ``m <= min_i hi_i`` and ``M >= max_i lo_i``.
    * In ``mu = m / s``, ``sigma = 1 / s`` that cost is
      ``dist(mu, [sigma lo_i - t_i, sigma hi_i - t_i])``: jointly convex and
      piecewise linear, and the feasible ``(m, M)`` (``min lo <= m <= min hi``,
      ``max lo <= M <= max hi``) become a convex polygon. For a fixed
      ``sigma`` the minimising ``mu`` is a median of the ``2n`` interval ends
      (clipped to the polygon); the minimum over ``mu`` is convex in
      ``sigma`` and is minimised by golden-section search to ``xtol``. The
      relaxed minimum (``/ n``) is a lower bound on the true optimum.
    * The relaxation does not insist that some pixel *equals* ``m`` and one
      ``M``; forcing the cheapest pixel of each onto them costs at most
      ``2 / n``. That is the answer; ``loss_gap`` reports the distance to the
      bound (at most ``2 / n`` plus the search tolerance). A constant
      output (``N(O) = 0``, loss ``mean t``) is also considered when the
      intervals share a point.

    Examples
    --------
    >>> import numpy as np
    >>> from gradfusion.baselines import stay_positive_pixels, stay_positive_loss
    >>> rng = np.random.default_rng(0)
    >>> I = rng.random((16, 16, 3)); P = rng.random((16, 16, 3))
    >>> res = stay_positive_pixels(I, P, 0.7)
    >>> bool(abs(res.loss - stay_positive_loss(I, P, res.residual, 0.7)) < 1e-12)
    True
    >>> bool(0 <= res.loss_gap <= 2 / I.size + 1e-9)
    True
    """
    t0 = time.perf_counter()
    objective = _check_objective(boundary, regularizer, reg_weight, level_weight, gradient_weight)
    v.real(xtol, "xtol", "a number in (0, 1)", lambda x: 0 < x < 1)
    I, P, a, axis, dtype = v.prepare_pair(image, proposal, alpha, channel_axis, maps=False,
                                          what="baselines.stay_positive_pixels")
    a64 = a
    u = np.broadcast_to((1.0 - a64)[:, None, None], I.shape)
    lo3 = a64[:, None, None] * I.astype(np.float64)
    lo, hi = lo3.ravel(), (lo3 + u).ravel()
    t = minmax_normalize(P.astype(np.float64)).ravel()
    n = lo.size
    bounds = (lo.min(), hi.min(), lo.max(), hi.max())
    minlo, minhi, maxlo, maxhi = bounds
    nfev = 0

    def phi(sigma):
        nonlocal nfev
        nfev += 1
        return _pixels_phi(sigma, lo, hi, t, bounds)

    s_lo = 1.0 / (maxhi - minlo)                      # s = M - m <= max hi - min lo
    if maxlo > minhi:
        s_hi = 1.0 / (maxlo - minhi)                  # s >= max lo - min hi
    else:                                             # s -> 0 allowed: bracket by doubling
        s_hi = 2.0 * s_lo
        f_prev = phi(s_lo)[0]
        while s_hi < 1e15 * s_lo:
            f_new = phi(s_hi)[0]
            if f_new >= f_prev:
                break
            f_prev = f_new
            s_hi *= 2.0
    # golden-section search of the convex phi on [s_lo, s_hi]
    gr = (np.sqrt(5.0) - 1.0) / 2.0
    x1, x2 = s_hi - gr * (s_hi - s_lo), s_lo + gr * (s_hi - s_lo)
    f1, f2 = phi(x1)[0], phi(x2)[0]
    nit = 0
    while (s_hi - s_lo) > xtol * s_hi:
        nit += 1
        if f1 <= f2:
            s_hi, x2, f2 = x2, x1, f1
            x1 = s_hi - gr * (s_hi - s_lo)
            f1 = phi(x1)[0]
        else:
            s_lo, x1, f1 = x1, x2, f2
            x2 = s_lo + gr * (s_hi - s_lo)
            f2 = phi(x2)[0]
    cands = [(phi(s)[0], s) for s in (s_lo, s_hi, x1, x2)]
    g_best, sigma = min(cands)
    _, mu = phi(sigma)
    lower = g_best / n
    # the answer for (m, M): per-pixel optimum, then pin one pixel to m and one to M
    m = mu / sigma
    s = 1.0 / sigma
    M = m + s
    O = np.clip(m + t * s, lo, hi)
    O = np.clip(O, m, M)
    d = np.abs(t - (O - m) / s)
    cost_min = np.where(lo <= m, t - d, np.inf)             # extra cost of O_i = m
    cost_max = np.where(hi >= M, (1.0 - t) - d, np.inf)     # extra cost of O_i = M
    j1, j2 = np.argsort(cost_min)[:2] if n > 1 else (0, 0)
    k1, k2 = np.argsort(cost_max)[:2] if n > 1 else (0, 0)
    if j1 != k1:
        j, k = j1, k1
    elif cost_min[j1] + cost_max[k2] <= cost_min[j2] + cost_max[k1]:
        j, k = j1, k2
    else:
        j, k = j2, k1
    O[j], O[k] = m, M
    R = (O - lo).reshape(I.shape)
    R = np.clip(R, 0.0, u)
    fid = float(np.mean(np.abs(t.reshape(I.shape) - minmax_normalize(lo3 + R))))
    if maxlo <= minhi:                                 # a constant output is feasible too
        const_loss = float(t.mean())
        lower = min(lower, const_loss)
        if const_loss < fid:
            R = np.broadcast_to(maxlo, I.shape) - lo3
            R = np.clip(R, 0.0, u)
            fid = float(np.mean(np.abs(t.reshape(I.shape) - minmax_normalize(lo3 + R))))
    R = _cast_residual(R, 1.0 - a64, np.dtype(dtype))
    fid = stay_positive_loss(v.channels_last(I, axis), v.channels_last(P, axis),
                             v.channels_last(R, axis), alpha, channel_axis=channel_axis)
    return _baseline_result(
        I, P, a, R, axis, objective, t0, loss=fid, fidelity=fid, violation=0.0,
        lower_bound=lower, loss_gap=fid - lower, nit=nit, nfev=nfev,
        message="exact per-pixel solution for the optimal normalisation (convex relaxation "
                "in (min O, max O) solved by median + golden section)")


for _function in (heuristic, stay_positive, stay_positive_pixels):
    if _function.__doc__:                     # None under python -OO
        _function.__doc__ = _function.__doc__.replace("{objective}", _OBJECTIVE_DOC)
del _function
