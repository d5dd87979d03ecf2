"""``gradfusion.tradeoff`` (module ``gradfusion.sweep``): the output along a sweep of level weights, scored.

The level weight ``lam`` of :func:`gradfusion.solve` moves the output from the
paper's objective (``lam = 0``: the best gradient match, at a level set only
by the display's bounds and the zero-padded border) to the clip (``lam -> inf``: the feasible output
closest to the proposal pixel by pixel). :func:`tradeoff` solves along a
sweep, each solve warm-started from the previous one, and tabulates what a
user weighs: PSNR, SSIM and GMSD against the proposal, the bare gradient
objective, the level error and the stripe share.
"""

import math
import time

import numpy as np

from . import _tables
from . import _validation as v
from . import baselines, metrics
from ._problem import BOUNDARY_MODES, DEFAULT_BOUNDARY
from ._solvers import resolve_method
from .objective import gradient_error
from .synthesis import solve

__all__ = ["DEFAULT_LEVEL_WEIGHTS", "TRADEOFF_COLUMNS", "Tradeoff", "tradeoff",
           "sweep_weights"]

#: the default sweep: the paper's objective, then half-decades up to where the output is
#: close to the clip on real pairs (docs/levels.md)
DEFAULT_LEVEL_WEIGHTS = (0.0, 0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0)

#: table columns: ``(key, header, format)``
TRADEOFF_COLUMNS = (
    ("setting", "setting", "{}"),
    ("level_weight", "lam", "{:g}"),
    ("psnr", "PSNR", "{:.2f}"),
    ("ssim", "SSIM", "{:.4f}"),
    ("gmsd", "GMSD", "{:.4f}"),
    ("bare_objective", "bare obj", "{:.3e}"),
    ("regularization", "reg", "{:.3e}"),
    ("level_error", "level err", "{:.3e}"),
    ("stripe_share", "stripes", "{:.2e}"),
    ("nit", "nit", "{}"),
    ("nmatvec", "products", "{}"),
    ("time", "time s", "{:.3f}"),
)


def _setting_name(lam):
    if lam == 0.0:
        return "paper objective"
    if math.isinf(lam):
        return "clip"
    return f"lam={lam:g}"


class Tradeoff:
    """The table of one :func:`tradeoff` sweep, its outputs and settings.

    Attributes
    ----------
    rows : list of dict
        One per setting, in increasing level weight: the paper's objective
        (``level_weight`` 0), the swept weights, and the clip last
        (``level_weight`` ``inf``). Keys: setting, level_weight, psnr, ssim, gmsd,
        bare_objective, regularization, level_error, stripe_share, nit, nmatvec
        (products with the Hessian, the solve's cost), time.
    outputs : list of ndarray
        The output ``O`` of each row, in the layout and dtype of the inputs.
    settings : dict
        ``alpha``, ``patch_size``, ``partial``, ``shape``, ``solve_options``
        and ``total_time`` (seconds for all the solves, the clip included).
    """

    def __init__(self, rows, outputs, settings):
        self.rows = rows
        self.outputs = outputs
        self.settings = settings

    def __repr__(self):
        return f"<Tradeoff of {len(self.rows)} settings>\n{self.format_table()}"

    def column(self, key):
        """One column as a float array (e.g. ``column("ssim")``)."""
        return np.array([row[key] for row in self.rows], dtype=float)

    def format_table(self):
        """The table as fixed-width text, with a line saying how it was measured."""
        s = self.settings
        patches = (f"{s['patch_size']}x{s['patch_size']} patches ({s['partial']})"
                   if s["patch_size"] else "whole image")
        title = (f"alpha {s['alpha']}, metrics vs the proposal over {patches}; "
                 f"{len(self.rows) - 1} solves in {s['total_time']:.2f} s")
        return _tables.format_table(title, TRADEOFF_COLUMNS, self.rows)

    def to_csv(self):
        """The table as CSV text (``level_weight`` of the clip row: ``inf``)."""
        return _tables.to_csv(TRADEOFF_COLUMNS, self.rows)

    def to_json(self):
        """The table and settings as JSON text (the clip's infinite weight as ``null``)."""
        return _tables.to_json(self.rows, settings=self.settings)

    def plot(self, metric="ssim", ax=None):
        """Draw the trade-off curve: PSNR against ``metric``, points labelled by weight.

        Parameters
        ----------
        metric : {"ssim", "gmsd"}, optional
            The structural metric on the y axis (GMSD: lower is better).
        ax : matplotlib.axes.Axes, optional
            Where to draw; default a new figure's axes.

        Returns
        -------
        ax : matplotlib.axes.Axes

        Notes
        -----
        Needs matplotlib (``pip install gradfusion[plot]``), imported here
        only.
        """
        if metric not in ("ssim", "gmsd"):
            raise ValueError(f"metric must be 'ssim' or 'gmsd', got {metric!r}")
        try:
            import matplotlib.pyplot as plt
        except ImportError:
            raise ImportError("Tradeoff.plot needs matplotlib: pip install 'gradfusion[plot]'") \
                from None
        if ax is None:
            _, ax = plt.subplots(figsize=(6.4, 4.4), layout="constrained")
        x, y = self.column("psnr"), self.column(metric)
        ax.plot(x[:-1], y[:-1], "o-", color="C0", label="solve, level weight lam")
        ax.plot(x[-1:], y[-1:], "s", color="C3", markersize=8, label="clip (lam = inf)")
        for row, xi, yi in zip(self.rows, x, y):
            text = "paper" if row["level_weight"] == 0 else (
                "clip" if math.isinf(row["level_weight"]) else f"{row['level_weight']:g}")
            ax.annotate(text, (xi, yi), textcoords="offset points", xytext=(5, 5), fontsize=8)
        ax.set_xlabel("PSNR vs proposal (dB), higher: closer levels")
        ax.set_ylabel("SSIM vs proposal" if metric == "ssim"
                      else "GMSD vs proposal (lower is better)")
        ax.margins(0.1)
        ax.grid(True, alpha=0.3)
        ax.legend(loc="best", fontsize=8)
        return ax


def sweep_weights(level_weights=None):
    """The weights :func:`tradeoff` solves for: sorted, without repeats, 0 included.

    Parameters
    ----------
    level_weights : sequence of float, optional
        Finite numbers >= 0; None is :data:`DEFAULT_LEVEL_WEIGHTS`.

    Returns
    -------
    weights : list of float

    Examples
    --------
    >>> from gradfusion.sweep import sweep_weights
    >>> sweep_weights([1, 0.1, 1])
    [0.0, 0.1, 1.0]
    """
    if level_weights is None:
        return list(DEFAULT_LEVEL_WEIGHTS)
    try:
        w = np.asarray(level_weights, dtype=np.float64)
    except (TypeError, ValueError):
        raise TypeError("level_weights must be a sequence of finite numbers >= 0, got "
                        f"{v.describe(level_weights)}") from None
    if w.ndim != 1 or w.size == 0 or not np.all(np.isfinite(w)) or np.any(w < 0):
        raise ValueError("level_weights must be a non-empty sequence of finite numbers >= 0, "
                         f"got {level_weights!r}")
    return sorted(set([0.0] + w.tolist()))


def tradeoff(image, proposal, alpha, level_weights=None, *, channel_axis=-1, patch_size=None,
             partial="drop", boundary=DEFAULT_BOUNDARY, **solve_options):
    r"""Solve along a sweep of level weights and score each output against the proposal.

    Parameters
    ----------
    image, proposal : (H, W) or (H, W, C) array
        Scene ``I`` and proposal ``P`` (uint8, uint16 or float in [0, 1]).
    alpha : float, sequence of float or array
        Combiner transmission in (0, 1): a scalar, one per channel or an alpha
        map (as for :func:`gradfusion.solve`).
    level_weights : sequence of float, optional
        The weights to solve for (default :data:`gradfusion.DEFAULT_LEVEL_WEIGHTS`);
        0, the paper's objective, is always included, and the clip is added
        as the limit ``inf``. The row of weight 0 is the paper's objective as
        published, with zero-padded borders, whatever ``boundary`` is: with
        reflected borders and no level term the output's light level is not
        determined (:func:`gradfusion.solve`).
    channel_axis : int or None, optional
    patch_size : int, optional
        Average PSNR, SSIM and GMSD over non-overlapping patches of this size
        (the paper: 150 for day-to-night pairs).
    partial : {"drop", "shift"}, optional
        Border strips narrower than a patch (see :mod:`gradfusion.metrics`).
    boundary : {"reflect", "zero"}, optional
        The border of every solve but the paper's row, and of the
        ``bare_objective`` column (:func:`gradfusion.gradient_error` of every
        row's output, the clip's and the paper's included).
    **solve_options
        Passed to every :func:`gradfusion.solve` (``reg_weight``, ``tol``...),
        not ``level_weight`` or ``x0``.

    Returns
    -------
    tradeoff : Tradeoff
        ``rows`` from the paper's objective to the clip, ``outputs``,
        ``settings``; ``format_table()``, ``to_csv()``, ``to_json()`` and
        ``plot()``.

    Notes
    -----
    Each solve minimises :math:`F_\lambda(R) = f(R) + \frac{w}{m}\|D(O - P)\|^2
    + \lambda\,\mathrm{mean}((O - P)^2)` over the box. Along the sweep the
    level error falls and the gradient terms rise (at two weights
    :math:`\lambda_1 < \lambda_2`, adding the optimality of each optimum
    against the other gives :math:`(\lambda_2 - \lambda_1)(e_1 - e_2) \ge 0`),
    towards the clip, the feasible output of the smallest level error (the
    per-pixel projection of ``P`` onto the box, so no feasible output has a
    higher PSNR). The rows are listed in increasing weight.

    Cost: where ``solve`` runs MPRGP (``method="mprgp"``, or ``"auto"`` on
    images of at most 256x256 pixels) the sweep runs from the largest weight
    down, starting at the clip and warm-starting each solve from the previous
    optimum (8 weights: 1.8-3.7x the products with the Hessian of one default
    solve on real 256x256 pairs, against 6.1-7.3x cold). The active-set
    method gains nothing from those warm starts (its coarse-to-fine start is
    as good and costs less), so there each weight is solved from scratch:
    4.6-5.0x one default solve on 768x512 photographs.

    References
    ----------
    .. [1] S. Shen, K. Luo, G. Yang, H. Haraldsson, S. Belongie, "Residual
       Aligned: Gradient Optimization for Non-Negative Image Synthesis",
       2022 (the paper's objective: the row of weight 0).

    Examples
    --------
    >>> import numpy as np
    >>> import gradfusion
    >>> rng = np.random.default_rng(0)
    >>> I = rng.random((48, 48, 3)); P = 0.3 * I
    >>> t = gradfusion.tradeoff(I, P, 0.7, level_weights=[0.1, 1.0])
    >>> [r["setting"] for r in t.rows]
    ['paper objective', 'lam=0.1', 'lam=1', 'clip']
    >>> bool(t.rows[0]["bare_objective"] <= t.rows[-1]["bare_objective"])
    True
    """
    weights = sweep_weights(level_weights)
    v.choice(boundary, "boundary", sorted(BOUNDARY_MODES))
    for key in ("level_weight", "x0"):
        if key in solve_options:
            raise TypeError(f"tradeoff sets {key} itself; do not pass it")
    I, _, _, _, _ = v.prepare_pair(image, proposal, alpha, channel_axis)
    v.check_metric_options(I.shape, patch_size, partial, None, min_size=metrics.SSIM_WINDOW,
                           name="image")
    metric_kw = dict(channel_axis=channel_axis, patch_size=patch_size, partial=partial)
    warm = resolve_method(solve_options.get("method", "auto"), I.shape[1] * I.shape[2]) == "mprgp"
    t0 = time.perf_counter()
    clip = baselines.heuristic(image, proposal, alpha, channel_axis=channel_axis,
                               boundary=boundary)
    results = {math.inf: clip}
    x = clip.residual
    for lam in reversed(weights):
        res = solve(image, proposal, alpha, channel_axis=channel_axis, level_weight=lam,
                    boundary=boundary if lam > 0 else "zero", x0=x if warm else None,
                    **solve_options)
        results[lam] = res
        x = res.residual
    total = time.perf_counter() - t0
    rows, outputs = [], []
    for lam in weights + [math.inf]:
        res = results[lam]
        O = res.output
        rows.append({
            "setting": _setting_name(lam),
            "level_weight": lam,
            "psnr": metrics.psnr(proposal, O, **metric_kw),
            "ssim": metrics.ssim(proposal, O, **metric_kw),
            "gmsd": metrics.gmsd(proposal, O, **metric_kw),
            "bare_objective": gradient_error(proposal, O, channel_axis=channel_axis,
                                             boundary=boundary),
            "regularization": float(res.regularization),
            "level_error": float(res.level_error),
            "stripe_share": metrics.stripe_share(O, channel_axis=channel_axis),
            "nit": int(res.nit),
            "nmatvec": int(res.get("nmatvec", 0)),         # 0 for the clip (no products)
            "time": float(res.time),
        })
        outputs.append(O)
    settings = {"alpha": v.describe_alpha(alpha), "patch_size": patch_size,
                "partial": partial, "shape": list(np.shape(image)), "boundary": boundary,
                "solve_options": {k: repr(val) for k, val in solve_options.items()},
                "total_time": total}
    return Tradeoff(rows, outputs, settings)
