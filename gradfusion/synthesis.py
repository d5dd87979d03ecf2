"""``gradfusion.solve``: the residual that best matches a proposal's gradients."""

import time
import warnings

import numpy as np
from scipy.optimize import OptimizeResult

from . import _memory, _threads
from . import _validation as v
from ._deprecation import Result
from ._problem import BOUNDARY_MODES, DEFAULT_BOUNDARY, REGULARIZER_TAPS, ResidualProblem
from ._solvers import METHODS, STATUS_MESSAGES, coarse_to_fine, resolve_method
from ._solvers import WINDOW_MAX_FRACTION as _WINDOW_LIMIT

__all__ = ["solve", "SolveResult", "SynthesisResult", "DEFAULT_BOUNDARY", "DEFAULT_LEVEL_WEIGHT",
           "DEFAULT_REG_WEIGHT", "LEVEL_WEIGHTS", "WINDOW_MAX_FRACTION"]

#: :func:`solve`'s ``changed`` re-solves a window around the changed pixels only while the
#: window (their bounding box grown by 32 pixels) covers at most this fraction of the image
WINDOW_MAX_FRACTION = _WINDOW_LIMIT

#: default weight of the Nyquist regulariser relative to the Sobel term
DEFAULT_REG_WEIGHT = 0.4

#: named settings of ``level_weight`` (docs/levels.md says how they were chosen)
LEVEL_WEIGHTS = {"paper": 0.0, "perceptual": 0.3}

#: the warning of a solve with reflected borders and no level term
UNDETERMINED_LEVEL = (
    "boundary='reflect' with level_weight=0: the objective does not see a constant added to "
    "a channel, so only the bounds fix the output's light level (it may come out lighter "
    "than the proposal) and the solve is slow; give a level weight (the default "
    "'perceptual') or boundary='zero' (the paper's objective)")

#: default ``level_weight`` of :func:`solve` (a name of :data:`LEVEL_WEIGHTS`)
DEFAULT_LEVEL_WEIGHT = "perceptual"


class SynthesisResult(Result):
    """Base result of every method that makes an image for the display (a dict with attribute access).

    :class:`SolveResult` (:func:`solve`), the baselines'
    :class:`~gradfusion.baselines.BaselineResult` and the frames of
    :func:`~gradfusion.solve_sequence` (:class:`~gradfusion.video.FrameResult`)
    extend it; each field below means the same in all of them, so that their
    results compare field by field (the table of fields per function is in
    :doc:`/results`).

    Attributes
    ----------
    output : ndarray
        What the viewer sees, ``O = alpha * I + R``, in the layout and dtype
        of the inputs.
    residual : ndarray
        The residual ``R`` to display, ``0 <= R <= 1 - alpha``.
    x : ndarray
        Alias of ``residual`` (the optimisation variable), as in SciPy.
    fun : float
        The objective that :func:`solve` minimises, with the objective
        options of the call (``boundary``, ``regularizer``, ``reg_weight``,
        ``level_weight``, ``gradient_weight``; :func:`solve`'s defaults when
        not given), at ``residual``: bare objective (weighted by
        ``gradient_weight`` when one is given) + ``reg_weight`` x
        ``regularization`` + ``mean(level_weight * (O - P)^2)``. For a
        baseline it is that objective evaluated at the baseline's output (the
        baseline does not minimise it): the same number as for a solve with
        the same options, so the two compare directly.
    bare_objective : float
        The authors' ``recon`` term: mean over pixels and gradient maps of
        ``(Sobel(O) - Sobel(P))^2`` (unweighted), which is
        :func:`~gradfusion.gradient_error` of ``(P, O)`` with ``boundary``.
    regularization : float
        Mean of the squared regulariser differences of ``O - P``
        (unweighted, over the ``2 C H W`` Sobel entries; 0 when
        ``regularizer=None`` or ``reg_weight=0``).
    level_error : float
        ``mean((O - P)^2)`` over pixels and channels (unweighted): the level
        term's error, reported whatever ``level_weight`` is (the proposal's
        PSNR is ``-10 log10(level_error)``).
    success : bool
        Whether the method reached what it aims at (:func:`solve`: its
        tolerance; a baseline: its own optimum).
    status : int
        0 success; other values are the method's own (see its result class).
    message : str
        Description of ``status``.
    time : float
        Wall-clock seconds of the call that produced the result (validation
        included).
    """


class SolveResult(SynthesisResult):
    """Result of :func:`gradfusion.solve`: :class:`SynthesisResult`'s fields and the solver's.

    Attributes
    ----------
    output, residual, x, fun, bare_objective, regularization, level_error, time
        As in :class:`SynthesisResult`; ``fun`` is the minimised objective.
    gap : float
        Estimated relative optimality gap ``(fun - fun*) / fun`` of the returned
        residual (``fun*`` the optimum): the quantity the solve stopped on
        (``success`` when it is at most ``tol``). It is ``1/2 gp^T M gp /
        phi``, the duality gap of the bound multipliers read off the gradient
        with one multigrid V-cycle ``M`` in place of the Hessian's inverse
        (``gp`` the projected gradient and ``phi = m/2 fun`` in sum form; see
        :doc:`/solver`): 0.63-1.1x the true gap on photographs with the
        default objective (1.6-150x with the paper's), 0.6-12x on small
        random images; an estimate rather than a certificate. When the
        optimum is nearly 0 (a proposal the display reproduces exactly) the
        gap is taken relative to 1e-6 of the objective of displaying nothing
        instead, whichever is larger. NaN when the callback stopped the solve
        (``status`` 2): a stop ends the run at once, without the V-cycle of an
        estimate (a deadline: :func:`gradfusion.solve_sequence`'s ``budget``).
    optimality : float
        Inf-norm of the projected gradient of the objective in sum form
        (``m/2`` times the gradient of ``fun``, ``m`` the number of gradient
        entries); zero exactly at the optimum. Reported, not tested against
        ``tol``.
    nit, nmatvec : int
        Iterations (MPRGP's, or the active-set method's inner conjugate-gradient
        iterations, one V-cycle each) and products with the normal operator (the
        V-cycles' coarse-level products counted in full-resolution units).
    levels : list of dict
        Per scale, coarsest first: ``shape``, ``nit``, ``nmatvec``, ``time``
        (the last entry is the full-resolution solve that ``nit`` reports).
    steps : dict
        Always the same keys: ``newton`` and ``inner_cg``, the active-set method's
        outer and inner iterations; ``cg``, ``expansion``, ``proportioning`` and
        ``sparse_corrections``, MPRGP's step kinds (also those of an active-set
        run that fell back to MPRGP); ``window``, the inner iterations of a
        window solve on the window's grid (with ``changed``; else 0).
    method : str
        The solver that ran: ``"active-set"`` or ``"mprgp"`` (``"active-set"``
        also when it handed the run to MPRGP after cycling active sets: then
        ``steps`` counts MPRGP steps too).
    success : bool
        True when ``gap <= tol``, or when the gap estimate has reached the
        rounding level of the dtype (then ``gap`` may exceed ``tol``).
    status : int
        0 converged, 1 iteration limit, 2 stopped by the callback.
    message : str
        Description of ``status``.
    """


def check_level_weight(level_weight):
    """Validate a scalar or named ``level_weight``; return it as a float, or None for an array."""
    if isinstance(level_weight, str):
        v.choice(level_weight, "level_weight", sorted(LEVEL_WEIGHTS),
                 ", a finite number >= 0 or an array")
        return LEVEL_WEIGHTS[level_weight]
    if isinstance(level_weight, np.ndarray) and level_weight.ndim > 0 \
            or isinstance(level_weight, (list, tuple)):
        return None
    return v.real(level_weight, "level_weight",
                  f"a finite number >= 0, one of {sorted(LEVEL_WEIGHTS)} or an array",
                  lambda w: np.isfinite(w) and w >= 0)


def check_objective_options(boundary, regularizer, reg_weight):
    """Validate the objective's ``boundary``, ``regularizer`` and ``reg_weight``."""
    v.choice(boundary, "boundary", sorted(BOUNDARY_MODES))
    if regularizer is not None:
        v.choice(regularizer, "regularizer", sorted(REGULARIZER_TAPS), " or None")
    v.real(reg_weight, "reg_weight", "a finite number >= 0",
           lambda w: np.isfinite(w) and w >= 0)


def check_gradient_weight(gradient_weight):
    """Refuse a scalar ``gradient_weight`` (a map or None only)."""
    if gradient_weight is not None and np.ndim(gradient_weight) == 0:
        raise TypeError("gradient_weight must be None or an array of the image's shape (or its "
                        f"shape without the channel axis), got {v.describe(gradient_weight)}")


def objective_maps(level_weight, gradient_weight, image_shape, channel_axis, dtype):
    """The validated level- and gradient-weight maps, channels first (``{}`` for none).

    ``level_weight`` is an array here or a number (then no map); ``image_shape`` is the
    shape of the (broadcast) image in the caller's layout.
    """
    maps = {}
    if check_level_weight(level_weight) is None:
        maps["level"] = v.pixel_map(level_weight, "level_weight", image_shape, channel_axis,
                                    dtype)
    if gradient_weight is not None:
        maps["gradient"] = v.pixel_map(gradient_weight, "gradient_weight", image_shape,
                                       channel_axis, dtype, scalar=False)
    return maps


def objective_problem(I, P, a, axis, *, boundary=DEFAULT_BOUNDARY, regularizer="nyquist",
                      reg_weight=DEFAULT_REG_WEIGHT, level_weight=DEFAULT_LEVEL_WEIGHT,
                      gradient_weight=None):
    """The full-resolution problem of :func:`solve`'s objective with these options.

    ``I``, ``P``, ``a`` and ``axis`` are :func:`gradfusion._validation.prepare_pair`'s; the
    options are validated here (as :func:`solve` does). For the baselines, whose results
    report this objective's terms at their own residual.
    """
    check_objective_options(boundary, regularizer, reg_weight)
    lam = check_level_weight(level_weight)
    check_gradient_weight(gradient_weight)
    shape = I.shape[1:] if axis is None else np.moveaxis(
        np.broadcast_to(False, I.shape), 0, axis).shape
    maps = objective_maps(level_weight, gradient_weight, shape, axis, I.dtype)
    return ResidualProblem(I, P, a, boundary=boundary, regularizer=regularizer,
                           reg_weight=reg_weight, level_weight=maps.get("level", lam),
                           gradient_weight=maps.get("gradient"))


def result_fields(problem, R, axis):
    """:class:`SynthesisResult`'s image and objective fields of the residual ``R`` (channels
    first, inside the bounds) of ``problem``, in the layout of the inputs."""
    fun, bare, reg, level_error = problem.terms(R)
    O = np.multiply(problem.alpha_field, problem.image, dtype=problem.dtype)
    O += R                                  # one array, not a temporary and a sum
    residual = v.channels_last(R, axis)
    return dict(output=v.channels_last(O, axis), residual=residual, x=residual, fun=fun,
                bare_objective=bare, regularization=reg, level_error=level_error)


def _check_options(boundary, regularizer, reg_weight, tol, maxiter, multiscale, min_size,
                   callback, progress, method):
    check_objective_options(boundary, regularizer, reg_weight)
    v.choice(method, "method", list(METHODS))
    if tol is not None:
        v.real(tol, "tol", "a positive number or None", lambda t: t > 0)
    v.integer(maxiter, "maxiter", "a non-negative integer", lambda n: n >= 0)
    v.flag(multiscale, "multiscale")
    v.integer(min_size, "min_size", "an integer >= 2", lambda n: n >= 2)
    if callback is not None and not callable(callback):
        raise TypeError(f"callback must be callable or None, got {v.describe(callback)}")
    v.flag(progress, "progress")


#: tolerance of the coarse scales of the coarse-to-fine driver, per method: the inf-norm of
#: the projected gradient (not the gap test: its V-cycles and multigrid set-up per scale
#: doubled the time of the 256x256 real pairs); they only warm-start the next scale.
#: MPRGP: measured at 1024x928, the same full-resolution iterations at 1e-2 as tighter, a
#: third of the coarse time. Active set: at 4134x1496 float32, 0.2 and 0.5 kept the
#: full-resolution work (6 outer / 13 inner iterations) and cut the coarse scales from
#: 2.4 s (1e-2) to 1.4 / 0.9 s; 1.0 took 8 / 19 (docs/solver.md)
COARSE_TOL = {"active-set": 0.5, "mprgp": 1e-2}

#: default ``tol``: the estimated relative objective gap, for float64 and float32 alike
DEFAULT_TOL = 1e-6


class _Progress:
    """A tqdm bar fed by the solver's iterations (optional)."""

    def __init__(self, enabled):
        self.bar = None
        if enabled:
            from tqdm.auto import tqdm
            self.bar = tqdm(desc="gradfusion", unit="it", leave=False)

    def update(self, scale, count, shape, optimality):
        """One iteration at ``scale`` of ``count`` (``optimality`` None: the scale starts)."""
        if self.bar is None:
            return
        if optimality is None:
            self.bar.set_description(f"gradfusion scale {scale}/{count} ({shape[-2]}x{shape[-1]})",
                                     refresh=False)
            return
        self.bar.update(1)
        self.bar.set_postfix_str(f"optimality {optimality:.2e}", refresh=False)

    def close(self):
        if self.bar is not None:
            self.bar.close()


def solve(image, proposal, alpha, *, channel_axis=-1, boundary=DEFAULT_BOUNDARY,
          regularizer="nyquist", reg_weight=DEFAULT_REG_WEIGHT,
          level_weight=DEFAULT_LEVEL_WEIGHT,
          gradient_weight=None, x0=None, changed=None,
          tol=None, maxiter=20000, multiscale=True, min_size=32, callback=None,
          progress=False, max_memory=None, method="auto"):
    r"""Find the feasible residual whose output best matches the proposal's gradients.

    Parameters
    ----------
    image : (H, W) or (H, W, C) array
        The real scene ``I`` (uint8, uint16 or float in [0, 1]).
    proposal : array of the same shape
        The target image ``P`` proposed by an image-to-image method. A
        grayscale ``(H, W)`` scene with a colour proposal (or the reverse) is
        repeated over the channels: the output has the colour shape.
    alpha : float, sequence of float or array
        Transmission of the optical combiner, in (0, 1): a scalar (or a
        length-1 sequence), one value per channel, or an alpha map: an array
        of the image's shape without the channel axis (one transmission per
        pixel, for every channel; ``(H, W)`` or with 1 on the channel axis)
        or of the image's full shape (per pixel and channel, on
        ``channel_axis``), for a combiner or dimming layer whose transmission
        varies across the view. The bounds are then ``0 <= R <= 1 - alpha``
        pixel by pixel; the coarse scales of ``multiscale`` see the map's 2x2
        area averages (:doc:`/alpha`).
    channel_axis : int or None, optional
        Axis of the colour channels of 3-D inputs (default -1). 2-D inputs are
        grayscale whatever its value. Every channel is treated as a colour
        channel: drop an alpha (opacity) channel before calling.
    boundary : {"reflect", "zero"}, optional
        Extension of the image outside its frame for the Sobel stencils:
        half-sample reflection (default) or zero padding, the authors'
        ``conv2d(padding=1)``. Zero padding sees a jump to black outside the
        frame: its output alternates bright/dark over the first few lines and
        comes out darker along the border (:doc:`/model`). Use ``"zero"``
        (with ``level_weight="paper"``) to reproduce the paper's objective.
    regularizer : {"nyquist", "gradient"} or None, optional
        The term that makes the problem well posed (see Notes): ``"nyquist"``
        penalises the second differences of ``O - P`` along x and y,
        ``"gradient"`` its forward differences, ``None`` solves the bare
        objective.
    reg_weight : float, optional
        Weight ``w`` of the regulariser relative to the Sobel term.
    level_weight : float, str or array, optional
        Weight ``lam`` of the level term ``mean(lam (O - P)^2)``, which pulls
        the output towards the proposal's absolute levels (see Notes).
        ``"perceptual"`` (default, 0.3: :data:`LEVEL_WEIGHTS`, chosen on real
        pairs, :doc:`/levels`) keeps the proposal's structure and most of its
        light levels; 0 (also ``"paper"``) is the authors' objective, whose
        output is lighter (hazier) than the proposal where the display cannot
        darken; as ``lam`` grows the output tends to the clip ``alpha I +
        clip(P - alpha I, 0, 1 - alpha)``. With ``boundary="reflect"`` a
        weight of 0 leaves the output's light level undetermined (the Sobel
        term and the regulariser do not see a constant added to a channel):
        the solve warns, and is slow.
        An array of the image's shape, or of its shape without the channel
        axis, weights each pixel (and channel).
    gradient_weight : array, optional
        A non-negative weight per pixel (array of the image's shape without
        the channel axis) or per pixel and channel (the image's shape) on the
        Sobel term: the squared gradient error of a pixel counts ``G`` times
        (see Notes). Default: 1 everywhere (the paper's term). Use it for a
        region of interest or a saliency map: a larger weight where the
        structure must be kept, a smaller one where it matters less.
        ``bare_objective`` stays the unweighted term; ``fun`` has the
        weighted one.
    x0 : array, optional
        Warm start for the residual (same shape as ``image``), e.g. the
        previous frame's ``result.residual``; it is clipped into the bounds.
    changed : (H, W) bool array, optional
        With ``x0`` the answer to a problem that differs from this one only
        where ``changed`` is True (its image, proposal, alpha or weight maps
        there: a moving object on a still scene, an edited region), the
        active-set method first re-solves a window around those pixels (their
        bounding box grown by 32 pixels) with the rest of ``x0`` held, then
        the whole image from there: the answer is the same, found sooner when
        the change is local (:doc:`/video`). No window when it would cover
        more than a quarter of the image. The window's solve is an entry of
        ``levels`` before the full-resolution one, its inner iterations
        ``steps["window"]``.
    tol : float, optional
        Relative objective gap to stop at: the solve stops when the estimated
        ``(fun - fun*) / fun`` of the current residual (``result.gap``, see
        Notes) is at most ``tol``, checked on a gradient recomputed from
        scratch. Default 1e-6, for float64 and float32 alike (measured on
        photographs: true gaps of 7e-8 to 1.2e-6, :doc:`/solver`). The estimate
        cannot go below the rounding level of the dtype (float32: about 1e-10
        of the objective): the solve stops there, with ``success=True`` and a
        ``gap`` above a smaller ``tol``. A proposal the display can show
        exactly (``fun* = 0``) is solved to a gap of ``tol`` times 1e-6 of
        the objective of ``R = 0``; when the clip already reaches that (the
        proposal lies within the display's range everywhere, e.g.
        ``solve(I, I, alpha)``) it is returned after one product with the
        Hessian (``nit`` 0): its objective bounds its gap. float32 answers agree with float64's
        to the rounding of the inputs (objectives within 1e-8 relative on
        photographs, about 1e-7 on random pairs).
    maxiter : int, optional
        Iteration limit (per scale).
    multiscale : bool, optional
        Solve coarse-to-fine: first on 2x-downsampled pairs (area averages)
        down to ``min_size`` pixels, each solution warm-starting the next
        scale. The answer is the full-resolution optimum either way; the
        coarse scales only provide a starting point. Ignored with ``x0``.
    min_size : int, optional
        Smallest side of the coarsest scale (default 32).
    callback : callable, optional
        ``callback(intermediate_result)`` after each iteration (of MPRGP; after
        each outer iteration of the active-set method), with an
        :class:`~scipy.optimize.OptimizeResult` holding ``nit``,
        ``optimality`` and ``residual`` (channels first, a live view: copy it
        to keep it). Returning True or raising ``StopIteration`` stops the
        solve at once (``status`` 2, ``gap`` NaN: no estimate is made after
        the stop; ``optimality`` is reported). It sees the full-resolution scale (the coarse
        scales show in the progress bar).
    progress : bool, optional
        Show a progress bar (tqdm) on stderr: iterations at every scale of the
        coarse-to-fine solve, the scale and its size in the description
        (``gradfusion scale 3/5 (512x384)``) and the projected gradient's
        inf-norm.
    max_memory : int, float or str, optional
        Refuse the problem when its estimated peak memory exceeds this many
        bytes (a number, ``math.inf`` for no limit, or a string such as
        ``"8GiB"``). Default: the ``GRADFUSION_MAX_MEMORY`` environment
        variable if set, else the memory available to the process (see
        :doc:`/errors`).
    method : {"auto", "active-set", "mprgp"}, optional
        The bound-constrained solver (both reach the same optimum; see Notes).
        ``"auto"`` (default): the active-set method, or MPRGP on images of at
        most 256x256 pixels (measured as fast or faster there).

    Returns
    -------
    result : SolveResult
        Always the same object: ``output``, ``residual``, ``fun``,
        ``bare_objective``, ``regularization``, ``level_error``, ``gap``,
        ``optimality``, ``nit``, ``nmatvec``, ``success``, ``status``,
        ``message``, ``time``.

    Raises
    ------
    TypeError, ValueError
        On a bad argument, before any work (the cases are listed in
        :doc:`/errors`).
    gradfusion.MemoryLimitError
        When the estimated peak memory (about ``13 * C * H * W * itemsize``
        bytes) exceeds ``max_memory``, before any allocation.

    Notes
    -----
    The eye sees ``O = alpha I + R``; the display can add only
    ``0 <= R <= 1 - alpha``. With ``S`` the 3x3 Sobel pair applied per
    channel, the authors' ``recon`` objective is

    .. math:: f(R) = \frac{1}{m} \| S(\alpha I + R) - S P \|^2,

    ``m = 2 C H W``. ``S`` is blind to constants and, in the interior, to
    every pattern ``b(y) (-1)^x``, ``c(x) (-1)^y`` (its symbol vanishes on
    the Nyquist lines), so the box projections of an optimiser can excite
    vertical and horizontal stripes at no cost. ``solve`` minimises

    .. math:: F(R) = f(R) + \frac{w}{m} \| D(\alpha I + R - P) \|^2
              + \frac{1}{CHW} \sum \lambda (\alpha I + R - P)^2

    with ``D`` the 'valid' second differences ``[1, -2, 1]`` along x and y,
    whose squared response ``16 sin^4(omega/2)`` is large on the Nyquist
    lines and negligible where the Sobel term does its work (``O(omega^4)``
    against ``O(omega^2)``). With a ``gradient_weight`` ``G`` the first
    term is :math:`\frac{1}{m} \sum_x G(x) (|S_x (O - P)|^2 + |S_y (O - P)|^2)`
    and the operator ``S^T G S``; its multigrid coarsens ``G`` by area
    averages. ``F`` is a strictly convex (up to constants
    pinned by the bounds) quadratic over a box; it is solved to optimality,
    coarse to fine, by one of two methods (Numba stencils for
    ``A = S^T S + w D^T D``):

    * the primal-dual active-set method [3]_ (semismooth Newton): guess the
      variables at a bound from ``x - c (A x - b)``, solve ``A_FF x_F = b_F -
      A_FA x_A`` on the rest by conjugate gradients preconditioned by a
      multigrid V-cycle of the free block, repeat (a handful of outer
      iterations); it falls back to MPRGP if the active sets cycle;
    * MPRGP [2]_, a conjugate-gradient method with gradient projections,
      whose every iteration costs one application of ``A``.

    Both stop on the same test, an estimate of the relative gap to the
    optimum: at a feasible ``R`` with gradient ``g`` the bound multipliers read
    off ``g`` give, by weak duality, ``F(R) - F* <= (1/m) gp^T A^{-1} gp``
    (``gp`` the projected gradient); one multigrid V-cycle stands in for
    ``A^{-1}``, and ``result.gap`` is that estimate over ``F(R)``. It was
    0.63-1.1x the true relative gap on photographs with the default objective
    (1.6-150x with the paper's) and 0.6-12x on small random images
    (:doc:`/solver`); on a singular Hessian (no
    regulariser) ``tol`` is divided by 1000. The check costs a V-cycle, so
    it runs only when the projected gradient's norm predicts that it may
    pass.

    References
    ----------
    .. [1] S. Shen, K. Luo, G. Yang, H. Haraldsson, S. Belongie, "Residual
       Aligned: Gradient Optimization for Non-Negative Image Synthesis",
       2022.
    .. [2] Z. Dostal and J. Schoeberl, "Minimizing quadratic functions subject
       to bound constraints", Comput. Optim. Appl. 30 (2005) 23-43.
    .. [3] M. Hintermueller, K. Ito and K. Kunisch, "The primal-dual active set
       strategy as a semismooth Newton method", SIAM J. Optim. 13 (2003)
       865-888.

    Examples
    --------
    >>> import numpy as np
    >>> import gradfusion
    >>> rng = np.random.default_rng(0)
    >>> scene = rng.random((32, 32, 3))
    >>> proposal = 0.5 * scene                   # a darker look
    >>> res = gradfusion.solve(scene, proposal, alpha=0.7)
    >>> res.success, res.output.shape
    (True, (32, 32, 3))
    >>> bool(res.residual.min() >= 0 and res.residual.max() <= 0.3)
    True
    """
    t_start = time.perf_counter()
    # in a child forked after Numba's GNU OpenMP threads ran, the first parallel kernel would
    # kill the process (and a multiprocessing pool would wait for it for ever): say so instead
    _threads.check_not_forked_after_openmp()
    _check_options(boundary, regularizer, reg_weight, tol, maxiter, multiscale, min_size,
                   callback, progress, method)
    image, proposal = v.broadcast_pair(image, proposal, channel_axis)
    lam = check_level_weight(level_weight)
    if boundary == "reflect" and lam == 0.0:
        warnings.warn(UNDETERMINED_LEVEL, UserWarning, stacklevel=2)
    if max_memory is not None:
        _memory.parse_bytes(max_memory, "max_memory")
    check_gradient_weight(gradient_weight)
    maps = {}
    box = None

    def before_work(shape, dtype):
        nonlocal box
        if x0 is not None:
            v.check_like_image(x0, "x0", image)
        if changed is not None:
            box = _changed_bounds(changed, x0, shape)
        maps.update(objective_maps(level_weight, gradient_weight, np.shape(image),
                                   channel_axis, dtype))
        # a gradient weight also takes three image-sized scratch arrays per product
        scratch = int(np.prod(shape)) if gradient_weight is not None else 0
        # an alpha map (validated by now) is held in float64 and, as alpha and bounds, in
        # the dtype: counted as a map of 8 // itemsize maps' values
        alpha_cells = int(np.size(alpha)) if np.ndim(alpha) >= 2 else 0
        scratch += alpha_cells * (8 // np.dtype(dtype).itemsize)
        _memory.check_solve_memory(shape, dtype, max_memory,
                                   map_size=sum(m.size for m in maps.values()) + scratch,
                                   maps=bool(maps))

    I, P, a, axis, dtype = v.prepare_pair(image, proposal, alpha, channel_axis,
                                          before_work=before_work)
    if a.ndim > 1:
        # an alpha map (float64) goes down the pyramid with the images: each coarse scale's
        # transmission is its area average (the coarse scales only warm-start the next)
        maps["alpha"] = a
    x = _warm_start(x0, image, channel_axis, dtype)
    tol = DEFAULT_TOL if tol is None else float(tol)

    names = list(maps)

    def make_problem(depth, Ik, Pk, *maps_k):
        scaled = dict(zip(names, maps_k))
        # a 2x coarser grid sees 4x the squared gradients of the same picture, so the
        # level weight scales by 4 per level to keep the fine problem's balance (a
        # gradient weight multiplies those gradients: its coarse map is its area average)
        weight = scaled.get("level", lam) * 4.0 ** depth
        return ResidualProblem(Ik, Pk, scaled.get("alpha", a), boundary=boundary, regularizer=regularizer,
                               reg_weight=reg_weight, level_weight=weight,
                               gradient_weight=scaled.get("gradient"))

    bar = _Progress(progress)

    def _cb(nit, xk, gk, optimality):
        if callback is None:
            return False
        info = OptimizeResult(nit=nit, optimality=optimality, residual=xk)
        try:
            return bool(callback(info))
        except StopIteration:
            return True

    method = resolve_method(method, I.shape[1] * I.shape[2])
    try:
        problem, state, levels = coarse_to_fine(
            make_problem, (I, P, *maps.values()), x, min_size=min_size if multiscale else 0,
            tol=tol,
            coarse_tol=COARSE_TOL[method], maxiter=maxiter, callback=_cb, method=method,
            monitor=bar.update if progress else None, changed=box)
    finally:
        bar.close()
    return _result(problem, state, levels, axis, t_start, method)


def _changed_bounds(changed, x0, shape):
    """The bounding box ``(r0, r1, c0, c1)`` of the True pixels of ``changed`` (None for
    none), checked against the image's ``(C, H, W)`` ``shape``."""
    if x0 is None:
        raise ValueError("changed needs x0: it says where this problem differs from the "
                         "one x0 solved")
    mask = np.asarray(changed)
    if mask.dtype != np.bool_:
        raise TypeError(f"changed must be a boolean array, got dtype {mask.dtype}")
    if mask.shape != tuple(shape[1:]):
        raise ValueError(f"changed must have the image's height and width {tuple(shape[1:])}, "
                         f"got shape {mask.shape}")
    rows = np.flatnonzero(mask.any(axis=1))
    if rows.size == 0:
        return None
    cols = np.flatnonzero(mask.any(axis=0))
    return int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1


def _warm_start(x0, image, channel_axis, dtype):
    if x0 is None:
        return None
    x = v.like_image(x0, "x0", image, channel_axis, dtype)
    return x.copy() if np.may_share_memory(x, x0) else x      # the solver writes into it


def _result(problem, state, levels, axis, t_start, method):
    R = state.x
    np.clip(R, 0.0, problem.upper_field, out=R)  # remove rounding excursions
    return SolveResult(
        **result_fields(problem, R, axis),
        optimality=state.optimality,
        gap=state.gap,
        nit=state.nit,
        nmatvec=state.nmatvec,
        steps=state.steps,
        method=method,
        levels=[dict(shape=sh[1:], nit=n, nmatvec=m, time=t) for sh, n, m, t in levels],
        success=state.status == 0,
        status=state.status,
        message=STATUS_MESSAGES[state.status],
        time=time.perf_counter() - t_start,
    )
