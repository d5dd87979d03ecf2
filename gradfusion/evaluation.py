"""The evaluation harness: every method on one pair, a metric table and a figure.

Behind ``gradfusion evaluate``: runs the heuristic clip, StayPositive (two
parameters and all pixels) and :func:`gradfusion.solve` on one (input,
proposal) pair and scores each output against the proposal with the metrics
of :mod:`gradfusion.metrics`.
"""

import math

import numpy as np

from . import _jit, _tables
from . import _lpips
from . import _validation as v
from . import baselines, metrics
from ._problem import BOUNDARY_MODES
from .synthesis import DEFAULT_BOUNDARY, LEVEL_WEIGHTS, check_level_weight, solve

__all__ = ["METHODS", "COLUMNS", "Evaluation", "evaluate", "comparison_figure"]

#: method name -> ``function(image, proposal, alpha, channel_axis=..., **options)``
METHODS = {
    "heuristic": baselines.heuristic,
    "stay_positive": baselines.stay_positive,
    "stay_positive_pixels": baselines.stay_positive_pixels,
    "gradfusion": solve,
}

#: table columns: ``(key, header, format)``
COLUMNS = (
    ("method", "method", "{}"),
    ("psnr", "PSNR", "{:.2f}"),
    ("ssim", "SSIM", "{:.4f}"),
    ("gmsd", "GMSD", "{:.4f}"),
    ("lpips", "LPIPS", "{:.4f}"),
    ("gradient_error", "grad err", "{:.3e}"),
    ("stripe_share", "stripes", "{:.2e}"),
    ("stripe_ratio", "x prop", "{:.2f}"),
    ("time", "time s", "{:.2f}"),
)


class Evaluation:
    """The table of one :func:`evaluate` run, the outputs and the settings.

    Attributes
    ----------
    rows : list of dict
        One per method, with the keys of :data:`~gradfusion.evaluation.COLUMNS` (``lpips`` is
        ``None`` when LPIPS was not computed; ``time`` excludes kernel compilation) and
        ``compile_time``, the seconds of that compilation.
    outputs : dict of str to ndarray
        Each method's output ``O``, in the layout of the inputs.
    proposal_stripe_share : float
        :func:`gradfusion.metrics.stripe_share` of the proposal, the
        reference for each output's ``stripe_share`` (``stripe_ratio`` is
        their ratio).
    settings : dict
        ``alpha``, ``patch_size``, ``partial``, ``normalize``, ``shape``,
        ``lpips`` (the net, or why LPIPS is missing), ``compile_time`` (seconds of kernel
        compilation during the evaluation: a first run's).
    """

    def __init__(self, rows, outputs, proposal_stripe_share, settings):
        self.rows = rows
        self.outputs = outputs
        self.proposal_stripe_share = proposal_stripe_share
        self.settings = settings

    def __repr__(self):
        return f"<Evaluation of {len(self.rows)} methods>\n{self.format_table()}"

    def format_table(self):
        """The table as fixed-width text, with a line saying how it was measured."""
        s = self.settings
        patches = (f"{s['patch_size']}x{s['patch_size']} patches ({s['partial']})"
                   if s["patch_size"] else "whole image")
        title = (f"alpha {s['alpha']}, metrics vs the proposal over {patches}, "
                 f"normalisation: {s['normalize'] or 'none'}, LPIPS: {s['lpips']}; "
                 f"proposal stripe share {self.proposal_stripe_share:.2e}")
        table = _tables.format_table(title, COLUMNS, self.rows)
        compiled = s.get("compile_time", 0.0)
        if compiled >= 0.05:
            table += (f"\n(first run: {compiled:.1f} s of kernel compilation are not in the "
                      "times; later runs load the kernels from the cache)")
        return table

    def to_csv(self):
        """The table as CSV text (one row per method, empty cell = not computed)."""
        return _tables.to_csv(COLUMNS, self.rows)

    def to_json(self):
        """The table, the settings and the proposal's stripe share as a JSON text."""
        return _tables.to_json(self.rows, settings=self.settings,
                               proposal_stripe_share=self.proposal_stripe_share)


def _check_methods(methods):
    if methods is None:
        return list(METHODS)
    if isinstance(methods, str):
        methods = [methods]
    methods = list(methods)
    unknown = [m for m in methods if m not in METHODS]
    if unknown or not methods:
        raise ValueError(f"methods must be a non-empty subset of {list(METHODS)}, got {methods!r}")
    return methods


def _level_run(level_weight, solve_options):
    """``(row name, function, options)`` of the extra ``solve`` row at ``level_weight``."""
    if not isinstance(level_weight, str) and np.ndim(level_weight) != 0:
        raise TypeError("level_weight must be a finite number >= 0 or one of "
                        f"{sorted(LEVEL_WEIGHTS)} (evaluate takes no array), got "
                        f"{v.describe(level_weight)}")
    value = check_level_weight(level_weight)
    if "level_weight" in solve_options:
        raise ValueError("level_weight is given twice: as an argument and in options['gradfusion']")
    name = (f"gradfusion ({level_weight})" if isinstance(level_weight, str)
            else f"gradfusion (lam={value:g})")
    options = {**solve_options, "level_weight": value}
    if value == 0.0:              # the paper's objective as published (see tradeoff)
        options["boundary"] = "zero"
    return name, solve, options


def _lpips_scorer(lpips, net, metric_kw):
    """A function (P, O) -> LPIPS or None, and a note on what is used."""
    if lpips not in ("auto", True, False):
        raise ValueError(f"lpips must be 'auto', True or False, got {lpips!r}")
    if lpips is False:
        return None, "off"
    if net not in metrics.LPIPS_BACKBONES:
        raise ValueError(f"lpips_net must be one of {sorted(metrics.LPIPS_BACKBONES)}, got {net!r}")
    if lpips == "auto":
        # Offline checks first (no torch import, no download attempt: lpips would otherwise try
        # to fetch the backbone weights, print download lines and warnings, and take seconds)
        missing = _lpips.unavailable(net)
        if missing is not None:
            return None, f"skipped ({missing})"
    try:
        _lpips.model(net)
    except metrics.LPIPSUnavailableError as exc:
        if lpips is True:
            raise
        return None, f"unavailable ({str(exc).split(';')[0]})"
    return (lambda P, O: metrics.lpips(P, O, net=net, **metric_kw)), f"net={net!r}"


def evaluate(image, proposal, alpha, *, methods=None, channel_axis=-1, patch_size=None,
             partial="drop", normalize=None, lpips="auto", lpips_net="alex", options=None,
             level_weight=None, boundary=DEFAULT_BOUNDARY):
    r"""Run every method on one pair and score the outputs against the proposal.

    Parameters
    ----------
    image, proposal : (H, W) or (H, W, C) array
        Scene ``I`` and proposal ``P`` (uint8, uint16 or float in [0, 1]).
    alpha : float, sequence of float or array
        Combiner transmission in (0, 1): a scalar, one per channel or an alpha
        map (as for :func:`gradfusion.solve`).
    methods : sequence of str, optional
        Names from :data:`~gradfusion.evaluation.METHODS`; default all, in the order heuristic,
        stay_positive, stay_positive_pixels, gradfusion. With an alpha map the StayPositive
        baselines (which take no map) are left out.
    channel_axis : int or None, optional
    patch_size : int, optional
        Average PSNR, SSIM, GMSD and LPIPS over non-overlapping patches of
        this size (the paper: 150 for Day2Night, 100 for the Last Supper).
    partial : {"drop", "shift"}, optional
        Border strips narrower than a patch (see :mod:`gradfusion.metrics`).
    normalize : {None, "global", "patch"}, optional
        Min-max normalise the proposal and each output before PSNR, SSIM,
        GMSD and LPIPS (StayPositive's ``N``).
    lpips : {"auto", True, False}, optional
        Compute LPIPS: when available (``"auto"``), always (missing pieces
        raise :class:`gradfusion.metrics.LPIPSUnavailableError`), or never.
        ``"auto"`` first checks, offline and without importing torch, that
        torch and lpips are installed and that the backbone weights file is
        in ``torch.hub.get_dir()/checkpoints``; if not, it skips LPIPS
        silently (no download attempt) and says why in ``settings["lpips"]``,
        the table's first line. ``True`` lets ``lpips`` download the weights.
    lpips_net : {"alex", "vgg", "squeeze"}, optional
    options : dict of str to dict, optional
        Extra keyword arguments per method, e.g. ``{"gradfusion": {"tol":
        1e-4}}``.
    level_weight : float or str, optional
        Also run :func:`gradfusion.solve` with this level weight (a number
        >= 0 or a name of :data:`gradfusion.LEVEL_WEIGHTS`, e.g.
        ``"perceptual"``), as a row named ``"gradfusion (perceptual)"`` or
        ``"gradfusion (lam=0.3)"`` after the ``"gradfusion"`` row (the
        default solve), with the ``"gradfusion"`` options; 0 (``"paper"``) is
        the authors' objective as published, with zero-padded borders
        whatever ``boundary`` is (as in :func:`gradfusion.tradeoff`).
    boundary : {"reflect", "zero"}, optional
        The border of the ``gradfusion`` rows' solves and of every row's
        gradient error (:func:`gradfusion.gradient_error`), so that the
        column is the objective those solves minimised.

    Returns
    -------
    evaluation : Evaluation
        ``rows`` (PSNR, SSIM, GMSD, LPIPS, gradient error, stripe share and
        its ratio to the proposal's, time), ``outputs`` and ``settings``.

    Notes
    -----
    The gradient error is the bare objective of :func:`gradfusion.solve`,
    :math:`\frac{1}{2CHW}\|S O - S P\|^2` (:func:`gradfusion.gradient_error`
    with ``boundary``), always on the whole image without normalisation. PSNR, SSIM, GMSD and
    LPIPS compare ``O`` with ``P``: an additive display cannot reproduce a
    proposal darker than ``alpha I``, so absolute metrics reward matching the
    light level, normalised ones the structure. ``time`` is each method's own
    ``result.time`` without the compilation of kernels it was the first to use
    (``compile_time``, first runs only: a later run loads them from the disk cache), so
    that the column compares the methods, not the order they ran in; ``settings``
    holds the evaluation's whole ``compile_time``.

    Examples
    --------
    >>> import numpy as np
    >>> from gradfusion.evaluation import evaluate
    >>> rng = np.random.default_rng(0)
    >>> I = rng.random((32, 32)); P = 0.3 * I
    >>> ev = evaluate(I, P, 0.7, methods=["heuristic", "gradfusion"], lpips=False)
    >>> [r["method"] for r in ev.rows]
    ['heuristic', 'gradfusion']
    >>> ev.rows[1]["gradient_error"] < ev.rows[0]["gradient_error"]
    True
    >>> ev = evaluate(I, P, 0.7, methods=["heuristic", "gradfusion"], lpips=False,
    ...               level_weight="perceptual")
    >>> [r["method"] for r in ev.rows]
    ['heuristic', 'gradfusion', 'gradfusion (perceptual)']
    """
    methods = _check_methods(methods)
    options = dict(options or {})
    bad = [k for k in options if k not in methods]
    if bad:
        raise ValueError(f"options names methods that are not run: {bad}")
    v.choice(boundary, "boundary", sorted(BOUNDARY_MODES))
    if "boundary" in options.get("gradfusion", {}):
        raise ValueError("boundary is given twice: as an argument and in options['gradfusion']")
    options["gradfusion"] = {**options.get("gradfusion", {}), "boundary": boundary}
    runs = [(name, METHODS[name], options.get(name, {})) for name in methods]
    if level_weight is not None:
        runs.insert(methods.index("gradfusion") + 1 if "gradfusion" in methods else len(runs),
                    _level_run(level_weight, options.get("gradfusion", {})))
    metric_kw = dict(channel_axis=channel_axis, patch_size=patch_size, partial=partial,
                     normalize=normalize)
    # validate everything before any work (SSIM, in every row, needs the most pixels)
    I, _, a, _, _ = v.prepare_pair(image, proposal, alpha, channel_axis)
    if a.ndim > 1:                  # the StayPositive baselines take no map: left out
        runs = [run for run in runs if not run[0].startswith("stay_positive")]
        if not runs:
            raise ValueError(f"alpha is a map (shape {np.shape(alpha)}) but methods {methods} "
                             "take a scalar alpha or one per channel; add 'heuristic' or "
                             "'gradfusion'")
    v.check_metric_options(I.shape, patch_size, partial, normalize, min_size=metrics.SSIM_WINDOW,
                           name="image")
    score_lpips, lpips_note = _lpips_scorer(lpips, lpips_net, metric_kw)

    P = proposal
    p_stripes = metrics.stripe_share(P, channel_axis=channel_axis)
    rows, outputs = [], {}
    compiled_before = _jit.compile_seconds()
    for name, method, method_options in runs:
        compiling = _jit.compile_seconds()
        result = method(image, proposal, alpha, channel_axis=channel_axis, **method_options)
        compiling = _jit.compile_seconds() - compiling
        O = result.output
        outputs[name] = O
        s = metrics.stripe_share(O, channel_axis=channel_axis)
        rows.append({
            "method": name,
            "psnr": metrics.psnr(P, O, **metric_kw),
            "ssim": metrics.ssim(P, O, **metric_kw),
            "gmsd": metrics.gmsd(P, O, **metric_kw),
            "lpips": score_lpips(P, O) if score_lpips else None,
            "gradient_error": metrics.gradient_error(P, O, channel_axis=channel_axis,
                                                     boundary=boundary),
            "stripe_share": s,
            "stripe_ratio": s / p_stripes if p_stripes > 0 else math.inf,
            "time": max(float(result.time) - compiling, 0.0),
            "compile_time": compiling,
        })
    alpha_out = v.describe_alpha(alpha)
    settings = {"alpha": alpha_out, "patch_size": patch_size, "partial": partial,
                "boundary": boundary,
                "normalize": normalize, "shape": list(np.shape(image)), "lpips": lpips_note,
                "compile_time": _jit.compile_seconds() - compiled_before}
    return Evaluation(rows, outputs, p_stripes, settings)


# --------------------------------------------------------------------------- figure

def _crop_window(reference, candidate, side):
    """Top-left corner of the ``side`` square where the gradients of two (H, W, C) images
    differ most (mean squared Sobel difference)."""
    import scipy.ndimage as ndi

    d = reference - candidate
    err = sum(ndi.sobel(d[..., c], axis=a) ** 2 for c in range(d.shape[-1]) for a in (0, 1))
    local = ndi.uniform_filter(err, size=side, mode="constant")
    h = side // 2
    valid = local[h:err.shape[0] - side + h + 1, h:err.shape[1] - side + h + 1]
    i, j = np.unravel_index(np.argmax(valid), valid.shape)
    return int(i), int(j)


def _label(panel, text, size):
    """Write ``text`` in the top-left corner of a uint8 (H, W, 3) panel in a ``size`` px font."""
    from PIL import Image, ImageDraw, ImageFont

    img = Image.fromarray(panel)
    draw = ImageDraw.Draw(img)
    font = ImageFont.load_default(size=size)
    pad = max(2, font.size // 5)
    box = draw.textbbox((2 * pad, pad), text, font=font)
    draw.rectangle((box[0] - pad, box[1] - pad, box[2] + pad, box[3] + pad), fill=(0, 0, 0))
    draw.text((2 * pad, pad), text, fill=(255, 255, 255), font=font)
    return np.asarray(img)


def comparison_figure(panels, *, channel_axis=-1, crop=None, crop_size=None, zoom=None,
                      labels=True):
    """Side-by-side figure: the images in a row, a zoomed crop of each below.

    Parameters
    ----------
    panels : dict of str to ndarray
        Images of one shape (uint8, uint16 or float in [0, 1]), in display
        order, e.g. ``{"input": I, "proposal": P, "gradfusion": O}``.
    channel_axis : int or None, optional
    crop : (int, int), optional
        Top-left corner (row, column) of the square crop. Default: where the
        Sobel gradients of the third panel differ most from the second's
        (the first output and the proposal, when the panels are input,
        proposal, outputs...: where that method loses most structure).
    crop_size : int, optional
        Side of the crop (default a quarter of the shorter side).
    zoom : int, optional
        Integer magnification of the crop (nearest neighbour); default so the
        crops are as wide as the panels.
    labels : bool, optional
        Write each panel's name in its corner (in a font of about 1/60 of the
        figure's width, at most 1/14 of a panel's, at least 11 px).

    Returns
    -------
    figure : (H + zoom * crop_size, n * W, 3) uint8 array
        A red square marks the crop in the top row.

    Examples
    --------
    >>> import numpy as np
    >>> from gradfusion.evaluation import comparison_figure
    >>> a = np.zeros((40, 60, 3)); b = np.ones((40, 60, 3))
    >>> comparison_figure({"a": a, "b": b}, crop=(0, 0), crop_size=10, zoom=4).shape
    (80, 120, 3)
    """
    if not isinstance(panels, dict) or not panels:
        raise ValueError("panels must be a non-empty dict of name -> image")
    imgs = []
    for name, image in panels.items():
        x = v.as_float_image(image, f"panels[{name!r}]")
        xc, _ = v.channels_first(x.astype(np.float64), f"panels[{name!r}]", channel_axis)
        if xc.shape[0] == 1:
            xc = np.repeat(xc, 3, axis=0)
        if xc.shape[0] != 3:
            raise ValueError(f"panels[{name!r}] must be grayscale or RGB, got {xc.shape[0]} channels")
        imgs.append(np.moveaxis(xc, 0, -1))
    shape = imgs[0].shape
    for name, x in zip(panels, imgs):
        if x.shape != shape:
            raise ValueError(f"panels[{name!r}] has shape {x.shape[:2]}, the first {shape[:2]}")
    H, W = shape[:2]
    side = crop_size or max(1, min(H, W) // 4)
    if not 1 <= side <= min(H, W):
        raise ValueError(f"crop_size must be in [1, {min(H, W)}], got {crop_size!r}")
    if crop is None:
        crop = _crop_window(imgs[min(1, len(imgs) - 1)], imgs[min(2, len(imgs) - 1)], side)
    i, j = (int(c) for c in crop)
    if not (0 <= i <= H - side and 0 <= j <= W - side):
        raise ValueError(f"crop {crop!r} with crop_size {side} leaves the {H}x{W} image")
    zoom = zoom or max(1, W // side)
    # labels readable when the figure is shown scaled down to a page (a 900-px column): about
    # 1/60 of the figure's width, at most 1/14 of a panel's (a long name still fits) and 11 px
    label_size = max(11, min(round(len(imgs) * W / 60), W // 14))
    top, bottom = [], []
    for name, x in zip(panels, imgs):
        u8 = np.round(np.clip(x, 0, 1) * 255).astype(np.uint8)
        piece = u8[i:i + side, j:j + side]
        piece = np.repeat(np.repeat(piece, zoom, axis=0), zoom, axis=1)
        framed = u8.copy()
        for r0, r1, c0, c1 in ((i, i + 1, j, j + side), (i + side - 1, i + side, j, j + side),
                               (i, i + side, j, j + 1), (i, i + side, j + side - 1, j + side)):
            framed[r0:r1, c0:c1] = (255, 0, 0)
        pad = np.zeros((piece.shape[0], W, 3), np.uint8)
        pad[:, :min(W, piece.shape[1])] = piece[:, :W]
        top.append(_label(framed, name, label_size) if labels else framed)
        bottom.append(pad)
    return np.concatenate([np.concatenate(top, axis=1), np.concatenate(bottom, axis=1)], axis=0)
