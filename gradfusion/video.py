"""Video: :func:`solve_sequence` solves frame after frame, each warm-started from the last.

Each frame's residual starts from the previous frame's, moved with the scene (``motion``):
as is, by a translation estimated between consecutive input frames, or by the caller's own
transform or flow field (a head tracker's). With ``budget`` a frame stops when its time is
spent and the next frame continues from where it stopped. See ``docs/video.md``.
"""

import inspect
import itertools
import math
import numbers
import time

import numpy as np

from . import _validation as v
from . import _workspace
from ._video import motion as _motion
from ._video.frames import VIDEO_SUFFIXES, FrameSink, VideoUnavailableError, iter_frames, video_fps
from .synthesis import WINDOW_MAX_FRACTION, SolveResult, solve

__all__ = ["solve_sequence", "FrameResult", "MOTIONS", "estimate_translation", "warp",
           "read_frames", "write_frames", "FrameWriter", "frame_rate", "VideoUnavailableError",
           "VIDEO_SUFFIXES"]

#: named ``motion`` options of :func:`solve_sequence` (besides a callable or a sequence)
MOTIONS = (None, "translation")

#: ``solve`` keywords that :func:`solve_sequence` sets itself, with the reason
_REFUSED = {"x0": "solve_sequence's own x0 is the first frame's; later frames start from the "
                  "previous one",
            "callback": "solve_sequence uses the callback for the budget",
            "progress": "iterate over the results for progress",
            "multiscale": "frames after the first start from the previous one",
            "changed": "solve_sequence finds what changed from one frame to the next"}


class FrameResult(SolveResult):
    """One frame of :func:`~gradfusion.solve_sequence`: :class:`~gradfusion.SolveResult`'s fields and more.

    Attributes
    ----------
    output, residual, x, fun, bare_objective, regularization, level_error, gap, optimality
        As in :class:`~gradfusion.SolveResult` (whose base :class:`~gradfusion.SynthesisResult`
        gives them one meaning in every result), for this frame.
    nit, nmatvec, steps, method, levels, success, status, message
        As in :class:`~gradfusion.SolveResult` (0 iterations for a frame identical to the
        previous one, whose answer is reused).
    time : float
        Wall-clock seconds of the whole frame: motion estimate, warp and solve.
    solve_time, motion_time : float
        The parts of ``time`` spent in :func:`gradfusion.solve` and in estimating the motion
        and warping the previous residual.
    frame : int
        Index of the frame, from 0.
    warm : str
        Where the solve started: ``"cold"`` (first frame, coarse to fine), ``"x0"`` (first
        frame from the caller's ``x0``), ``"clip"`` (first frame under a time budget: the
        clipped proposal, single scale), ``"previous"`` (the previous residual as is),
        ``"translation"`` (moved by the estimated translation), ``"transform"`` (moved by
        the caller's matrix), ``"flow"`` (moved by the caller's flow field) or
        ``"unchanged"`` (the frame equals the previous one, which had converged: its
        answer is reused without a solve).
    transform : (3, 3) ndarray
        The homography that moved the previous residual (scikit-image's convention: it maps
        ``(col, row, 1)`` of the previous frame to this one): the identity for
        ``"previous"`` and ``"unchanged"``, NaN for a cold start or a flow field.
    exposed : float
        Fraction of the frame that the previous frame did not see under the motion (its
        warm start is the clipped proposal there): 1 on the first frame.
    budget : float
        The time budget in seconds (``inf`` without one).
    budget_status : str
        ``"unlimited"`` without a budget; with one, ``"converged"`` (the frame reached
        ``tol``) or ``"stopped"`` (the budget stopped it: the best feasible iterate is
        returned with its own ``optimality``, ``gap`` is NaN (an estimate would cost a
        V-cycle past the deadline), and the next frame continues from it).
    within_budget : bool
        ``time <= budget`` and at most ``budget_iterations`` iterations (True without a
        budget).
    """


def _received(value):
    if isinstance(value, np.ndarray):
        return f"array of shape {value.shape} and dtype {value.dtype}"
    return "None" if value is None else f"{type(value).__name__} {value!r}"


def _check_frames(value, name):
    if value is None or isinstance(value, (str, bytes, numbers.Number)) or not (
            isinstance(value, np.ndarray) or hasattr(value, "__iter__")):
        raise TypeError(f"{name} must be an iterable of frames (a list, a generator, an array "
                        f"with frames on the first axis), got {_received(value)}")
    if isinstance(value, np.ndarray) and value.ndim < 3:
        raise ValueError(f"{name} must hold frames on its first axis (3-D or 4-D), got shape "
                         f"{value.shape}")
    return iter(value)


def _check_motion(motion):
    """``(kind, source)``: kind in {"previous", "translation", "callable", "sequence"} (the
    source of a translation: a tracker that keeps each frame's spectrum for the next)."""
    if motion is None:
        return "previous", None
    if isinstance(motion, str):
        v.choice(motion, "motion", [m for m in MOTIONS if m is not None],
                 ", None, a callable or a sequence of per-frame transforms")
        return "translation", _motion.TranslationTracker()
    if callable(motion) and not isinstance(motion, np.ndarray):
        return "callable", motion
    if isinstance(motion, np.ndarray) or hasattr(motion, "__iter__"):
        return "sequence", iter(motion)
    raise TypeError("motion must be None, 'translation', a callable or a sequence of per-frame "
                    f"transforms, got {_received(motion)}")


def _check_budget(budget, budget_iterations):
    if budget is not None:
        budget = v.real(budget, "budget", "a positive number of seconds or None",
                        lambda s: s > 0 and math.isfinite(s))
    if budget_iterations is not None:
        budget_iterations = v.integer(budget_iterations, "budget_iterations",
                                      "a positive integer or None", lambda n: n >= 1)
    return budget, budget_iterations


class _Clock:
    """The time budget of one frame, as a ``solve`` callback: stop before the next
    iteration would end past the budget. The duration of the last iteration predicts the
    next one's (at the first callback of a frame, whose interval also holds the solve's
    set-up, the last iteration of an earlier frame does); the time a solve takes after its
    last callback (its result: a stopped solve makes no gap estimate), measured on the
    previous stopped frame, is kept free."""

    def __init__(self, seconds):
        self.seconds = seconds
        self.tail = None
        self.iteration = None
        self.start = self.last = 0.0
        self.calls = 0
        self.stopped = False

    def begin(self, start):
        self.start, self.last, self.stopped, self.calls = start, time.perf_counter(), False, 0

    def __call__(self, info):
        now = time.perf_counter()
        interval, self.last = now - self.last, now
        if self.calls:
            self.iteration = interval
        self.calls += 1
        step = self.iteration if self.iteration is not None else interval
        tail = step if self.tail is None else self.tail
        if now - self.start + step + tail > self.seconds:
            self.stopped = True
            return True
        return False

    def end(self, now):
        if self.stopped:
            self.tail = now - self.last


def solve_sequence(images, proposals, alpha, *, motion=None, budget=None,
                   budget_iterations=None, x0=None, channel_axis=-1, **options):
    r"""Solve a sequence of frames, each warm-started from the previous frame's residual.

    Parameters
    ----------
    images : iterable of arrays
        The scene frames ``I_t`` (each as for :func:`gradfusion.solve`; all of one shape):
        a list, an array with frames on its first axis, or any iterable that yields them
        lazily (:func:`~gradfusion.video.read_frames`), so that a long video never sits in memory.
    proposals : iterable of arrays
        The proposals ``P_t``, one per frame, same shapes.
    alpha : float or sequence of float
        Combiner transmission, as for :func:`gradfusion.solve`.
    motion : None, "translation", callable or sequence, optional
        How the previous residual is moved to start the next frame:

        * ``None`` (default): as it is (a static display or scene);
        * ``"translation"``: by the shift of the content between consecutive input frames,
          estimated by phase correlation (:func:`~gradfusion.video.estimate_translation`;
          along a sequence each frame's spectrum is computed once: about 6 ms a frame at
          1280x720x3 float32, 9 ms for a lone pair);
        * a callable ``motion(frame, previous_image, image)`` returning the motion from the
          previous frame to this one (a head tracker's pose change);
        * a sequence (or iterator, or array) with one motion per frame, entry ``t`` the
          motion from frame ``t - 1`` to ``t`` (entry 0 is not used).

        A motion is a 3x3 homography or a 2x3 affine matrix in scikit-image's convention
        (it maps ``(col, row, 1)`` of the previous frame to the current one; a
        ``skimage.transform`` object is accepted), or a ``(2, H, W)`` flow field ``F``
        such that pixel ``p`` of the current frame shows what the previous frame had at
        ``p + F[:, p]`` (``skimage.registration.optical_flow_tvl1(image,
        previous_image)``). The residual is moved by bilinear interpolation (an integer
        translation copies it exactly); pixels the previous frame did not see start from
        the clipped proposal ``clip(P - alpha I, 0, 1 - alpha)``.
    budget : float, optional
        Seconds per frame (e.g. 1/30). A frame's solve stops before an iteration would end
        past the budget and returns its best feasible iterate (``budget_status
        "stopped"``, with that iterate's ``optimality``; no gap estimate: ``gap`` NaN);
        the next frame continues from it, so on
        a static scene the error keeps falling from frame to frame. Without ``x0``, the
        first frame then starts from the clipped proposal at full resolution (the
        coarse-to-fine start cannot be stopped).
    budget_iterations : int, optional
        Iterations per frame (``solve``'s ``maxiter`` for the frame, whose solve has a
        single scale): a budget that does not depend on the machine.
    x0 : array, optional
        Warm start of the first frame (e.g. the last residual of a previous run).
    channel_axis : int or None, optional
        As for :func:`gradfusion.solve`.
    **options
        Any other keyword of :func:`gradfusion.solve` (``tol``, ``level_weight``,
        ``method``, ``boundary``, ...), the same for every frame; not ``x0``,
        ``callback``, ``progress`` or ``multiscale``.

    Yields
    ------
    result : FrameResult
        One per frame, as soon as it is solved: the fields of
        :class:`~gradfusion.SolveResult` plus ``frame``, ``warm``, ``transform``,
        ``exposed``, ``solve_time``, ``motion_time``, ``budget``, ``budget_status`` and
        ``within_budget``.

    Raises
    ------
    TypeError, ValueError
        On a bad argument, when this function is called (before the first frame is read);
        on a bad frame or motion, or sequences of different lengths, when that frame is
        reached (the frames before it have been yielded).

    Notes
    -----
    Without a budget every frame is solved to its own optimum to ``tol``, exactly as
    :func:`gradfusion.solve` would from a cold start: the warm start changes the time, not
    the answer. A frame equal to the previous one (same image and proposal, bit for bit)
    whose solve converged reuses that answer without a solve.

    The time of a warm-started frame is the solve's fixed cost (checks, set-up, a gradient,
    a gap test: 0.04-0.08 s at 1280x720 float32 on two cores) plus its iterations;
    moving the start with the scene removes iterations, not the fixed cost
    (:doc:`/video` has the measurements). The solver's work arrays are kept from one frame
    to the next while the sequence runs (about 6.3 frame-sized arrays, 67 MB at 1280x720x3
    float32): new memory for them at every frame cost 10-20% of its time.

    References
    ----------
    .. [1] B. S. Reddy and B. N. Chatterji, "An FFT-based technique for translation,
       rotation, and scale-invariant image registration", IEEE Trans. Image Process. 5
       (1996) 1266-1271 (the phase correlation of ``"translation"``).

    Examples
    --------
    >>> import numpy as np
    >>> import gradfusion
    >>> rng = np.random.default_rng(0)
    >>> scene = rng.random((40, 64))
    >>> frames = [np.roll(scene, 2 * t, axis=1)[:, 8:56] for t in range(3)]   # a pan
    >>> proposals = [0.5 * f for f in frames]
    >>> for r in gradfusion.solve_sequence(frames, proposals, 0.7, motion="translation"):
    ...     print(r.frame, r.warm, r.transform[0, 2], r.success)
    0 cold nan True
    1 translation 2.0 True
    2 translation 2.0 True
    """
    image_iter = _check_frames(images, "images")
    proposal_iter = _check_frames(proposals, "proposals")
    kind, source = _check_motion(motion)
    budget, budget_iterations = _check_budget(budget, budget_iterations)
    v.check_channel_axis(channel_axis)
    for name in options:
        if name in _REFUSED:
            raise TypeError(f"solve_sequence does not take {name}: {_REFUSED[name]}")
    accepted = set(inspect.signature(solve).parameters) - {"image", "proposal", "alpha"}
    for name in options:
        if name not in accepted:
            raise TypeError(f"solve_sequence got an unexpected keyword argument {name!r}")
    if x0 is not None:
        v.check_real(x0, "x0")
    return _frames(image_iter, proposal_iter, alpha, kind, source, budget, budget_iterations,
                   x0, channel_axis, options)


def _pairs(image_iter, proposal_iter):
    for t in itertools.count():
        image = next(image_iter, _END)
        proposal = next(proposal_iter, _END)
        if image is _END and proposal is _END:
            return
        if image is _END or proposal is _END:
            ended, other = ("images", "proposals") if image is _END else ("proposals", "images")
            raise ValueError(f"images and proposals must have the same number of frames: "
                             f"{ended} ended after {t} frames, {other} go on")
        yield t, image, proposal


_END = object()


def _chw(array, name, channel_axis):
    a = v.to_float(v.check_image(array, name))
    out, _ = v.channels_first(a, name, channel_axis)
    return out


def _frames(image_iter, proposal_iter, alpha, kind, source, budget, budget_iterations, x0,
            channel_axis, options):
    clock = _Clock(budget) if budget is not None else None
    if budget_iterations is not None:
        options = dict(options, maxiter=min(options.get("maxiter", budget_iterations),
                                            budget_iterations))
    previous = None          # (image, proposal, result) of the last frame
    # the solver's work arrays, kept from frame to frame (fresh pages cost 10-20% of a frame)
    arena = _workspace.Arena()
    for t, image, proposal in _pairs(image_iter, proposal_iter):
        start = time.perf_counter()
        image, proposal = v.broadcast_pair(image, proposal, channel_axis)
        if previous is not None and np.shape(image) != np.shape(previous[0]):
            raise ValueError(f"frame {t}: image has shape {np.shape(image)}, the previous "
                             f"frame {np.shape(previous[0])}; every frame must have one shape")
        info = dict(frame=t, exposed=1.0, transform=_motion.NO_TRANSFORM.copy())
        x = changed = None
        if previous is None:
            _advance(kind, source)           # entry 0 of a per-frame sequence is not used
            warm = "cold"
            if x0 is not None:
                x, warm = x0, "x0"
            elif clock is not None:
                x, warm = _clip(image, proposal, alpha, channel_axis), "clip"
        else:
            # what changed since the previous frame (None: nothing, the same problem)
            box = _changed_box(image, proposal, previous, channel_axis)
            if box is None and previous[2].status == 0:
                yield _reused(previous[2], t, start, budget)
                _advance(kind, source)
                continue
            x, warm, transform, exposed = _warm_start(
                t, kind, source, image, proposal, alpha, channel_axis, previous)
            info.update(transform=transform, exposed=exposed)
            hw = np.shape(_hwc(image, channel_axis))[:2]
            if (box is not None and np.array_equal(transform, _motion.IDENTITY)
                    and _area(box) <= WINDOW_MAX_FRACTION * hw[0] * hw[1]):
                # a still scene with a local change: the warm start follows the target there,
                # and the solve re-solves a window around it first (a wider change would
                # get no window: the mask is not made)
                changed = _box_mask(box, hw)
                x = _follow_target(x, box, image, proposal, previous, alpha, channel_axis)
        info["motion_time"] = time.perf_counter() - start
        if clock is not None:
            clock.begin(start)
        try:
            with _workspace.kept(arena):
                result = solve(image, proposal, alpha, x0=x, changed=changed,
                               channel_axis=channel_axis, callback=clock, **options)
        except (TypeError, ValueError) as exc:
            if t == 0:
                raise
            raise type(exc)(f"frame {t}: {exc}") from None
        now = time.perf_counter()
        if clock is not None:
            clock.end(now)
        frame = _frame_result(result, warm=warm, solve_time=result.time, time=now - start,
                              budget=budget, budget_iterations=budget_iterations, **info)
        previous = (image, proposal, frame)
        yield frame


def _changed_box(image, proposal, previous, channel_axis):
    """``(r0, r1, c0, c1)``: the bounding box of the pixels where this frame's image or
    proposal differs from the previous frame's (any channel), or None when neither changed
    (all that the solve's window uses: a per-pixel mask took 27 ms at 1280x720x3, this 2-6
    ms; a frame that changed on all four borders, as under a moving camera or a lighting
    change, is the whole frame at once)."""
    boxes = []
    for now, before in ((image, previous[0]), (proposal, previous[1])):
        now, before = _hwc(now, channel_axis), _hwc(before, channel_axis)
        box = _differ_box(now, before)
        if box == (0, now.shape[0], 0, now.shape[1]):
            return box                    # the whole frame: the other cannot add to it
        if box is not None:
            boxes.append(box)
    if not boxes:
        return None
    return (min(b[0] for b in boxes), max(b[1] for b in boxes),
            min(b[2] for b in boxes), max(b[3] for b in boxes))


def _box_mask(box, shape):
    """An ``(H, W)`` bool mask, True on ``box`` (all False for None)."""
    mask = np.zeros(shape, dtype=bool)
    if box is not None:
        mask[box[0]:box[1], box[2]:box[3]] = True
    return mask


def _area(box):
    return (box[1] - box[0]) * (box[3] - box[2])


def _follow_target(x, box, image, proposal, previous, alpha, channel_axis):
    """The warm start ``x`` with the change of the target ``P - alpha I`` since the previous
    frame added on ``box``, clipped into the bounds: where a proposal brightens by ``d``,
    the optimum's residual rises by about ``d`` (a moving square's window then took 3-4
    Newton steps instead of 6-14). A new array in the layout of ``x``."""
    r0, r1, c0, c1 = box
    X = np.array(_hwc(x, channel_axis), dtype=np.result_type(x.dtype, np.float32))
    now_i, now_p = _hwc(image, channel_axis), _hwc(proposal, channel_axis)
    a = _alpha_hwc(alpha, now_i.shape, channel_axis)
    a = a[r0:r1, c0:c1] if a.ndim == 3 else a
    change = (v.to_float(now_p[r0:r1, c0:c1]) - a * v.to_float(now_i[r0:r1, c0:c1])
              - v.to_float(_hwc(previous[1], channel_axis)[r0:r1, c0:c1])
              + a * v.to_float(_hwc(previous[0], channel_axis)[r0:r1, c0:c1]))
    X[r0:r1, c0:c1] = np.clip(X[r0:r1, c0:c1] + change, 0.0, 1.0 - a)
    return X[..., 0] if np.ndim(x) == 2 else np.moveaxis(X, -1, channel_axis)


def _differ_box(now, before):
    """``(r0, r1, c0, c1)`` of the pixels where two ``(H, W, C)`` frames differ, or None."""
    H, W = now.shape[:2]
    if all(np.any(now[edge] != before[edge])
           for edge in (np.s_[0], np.s_[H - 1], np.s_[:, 0], np.s_[:, W - 1])):
        return 0, H, 0, W                 # the box touches every border: no full pass
    differ = np.not_equal(now, before)
    rows = np.flatnonzero(differ.reshape(differ.shape[0], -1).any(axis=1))
    if rows.size == 0:
        return None
    r0, r1 = int(rows[0]), int(rows[-1]) + 1
    # along the first axis of a 2-D array NumPy's reduction runs over whole rows (the
    # frame's own axes took 27 ms at 1280x720x3 when everything changed, this 2 ms)
    W, C = differ.shape[1], differ.shape[2]
    cols = np.flatnonzero(differ[r0:r1].reshape(r1 - r0, W * C).any(axis=0)
                          .reshape(W, C).any(axis=1))
    return r0, r1, int(cols[0]), int(cols[-1]) + 1


def _advance(kind, source):
    """Consume the unused motion of a reused frame from a per-frame sequence."""
    if kind == "sequence":
        next(source, None)


def _reused(result, t, start, budget):
    frame = FrameResult(result)
    for key in ("output", "residual"):
        frame[key] = result[key].copy()
    frame["x"] = frame["residual"]
    now = time.perf_counter()
    frame.update(frame=t, warm="unchanged", transform=_motion.IDENTITY.copy(), exposed=0.0,
                 nit=0, nmatvec=0, levels=[], motion_time=now - start, solve_time=0.0,
                 time=now - start, steps=dict.fromkeys(result["steps"], 0))
    frame["within_budget"] = frame["time"] <= (budget if budget is not None else math.inf)
    return frame


def _frame_result(result, *, warm, solve_time, time, budget, budget_iterations, **info):
    frame = FrameResult(result)
    frame.update(info, warm=warm, solve_time=solve_time, time=time,
                 budget=math.inf if budget is None else budget)
    if budget is None and budget_iterations is None:
        frame["budget_status"] = "unlimited"
        frame["within_budget"] = True
    else:
        frame["budget_status"] = "converged" if result.status == 0 else "stopped"
        frame["within_budget"] = bool(
            time <= frame["budget"]
            and (budget_iterations is None or result.nit <= budget_iterations))
    return frame


def _clip(image, proposal, alpha, channel_axis):
    """The clipped proposal ``clip(P - alpha I, 0, 1 - alpha)``, in the layout of ``image``."""
    I = v.to_float(v.check_image(_hwc(image, channel_axis), "image"))
    P = v.to_float(v.check_image(_hwc(proposal, channel_axis), "proposal"))
    a = _alpha_hwc(alpha, I.shape, channel_axis)
    R = np.clip(P - a * I, 0.0, 1.0 - a).astype(np.result_type(I.dtype, P.dtype), copy=False)
    return R[..., 0] if np.ndim(image) == 2 else np.moveaxis(R, -1, channel_axis)


def _alpha_hwc(alpha, shape, channel_axis):
    """``alpha`` broadcastable against an ``(H, W, C)`` frame: a scalar or one value per
    channel, or a map of the frame's shape (or without its channel axis; ``solve`` checks
    it)."""
    a = np.asarray(alpha, dtype=np.float64)
    if a.ndim <= 1:
        return v.channel_alpha(alpha, shape[2], np.float64)
    if a.ndim == 2:
        return a[..., np.newaxis]
    return _hwc(a, channel_axis)


def _layout(chw, image, channel_axis):
    if np.ndim(image) == 2:
        return chw[0]
    return np.moveaxis(chw, 0, int(channel_axis) % 3)


def _next_motion(t, kind, source, previous_image, image, hw, channel_axis):
    if kind == "previous":
        return "previous", ("transform", _motion.IDENTITY)
    if kind == "translation":
        dy, dx = source(_hwc(previous_image, channel_axis), _hwc(image, channel_axis),
                        keys=(previous_image, image))
        return "translation", ("transform", _motion.translation_matrix(dy, dx))
    value = source(t, previous_image, image) if kind == "callable" else next(source, _END)
    if value is _END:
        raise ValueError(f"motion ended before frame {t}: give one motion per frame (entry 0 "
                         "is not used)")
    checked = _motion.check_motion(value, f"motion of frame {t}", hw)
    return checked[0], checked


def _hwc(array, channel_axis):
    """An ``(H, W, C)`` view of a frame-shaped array (a 2-D one gets a channel axis)."""
    array = np.asarray(array)
    return array[..., np.newaxis] if array.ndim == 2 else np.moveaxis(array, channel_axis, -1)


def _warm_start(t, kind, source, image, proposal, alpha, channel_axis, previous):
    """``(x0, warm, transform, exposed)`` of frame ``t`` from the previous frame's residual."""
    prev_image, _, prev_result = previous
    (_, H, W), _ = v.channels_first_shape(np.shape(image), "image", channel_axis)
    warm, (what, m) = _next_motion(t, kind, source, prev_image, image, (H, W), channel_axis)
    residual = prev_result.residual
    if what == "transform" and np.array_equal(m, _motion.IDENTITY):
        return residual, warm, _motion.IDENTITY.copy(), 0.0
    warped, valid = _motion.warp_hwc(_hwc(residual, channel_axis), what, m)
    hole = valid == 0
    exposed = float(np.count_nonzero(hole)) / hole.size
    if exposed > 0.0:
        _fill_exposed(warped, hole, image, proposal, alpha, channel_axis)
    transform = m.copy() if what == "transform" else _motion.NO_TRANSFORM.copy()
    x = warped[..., 0] if np.ndim(residual) == 2 else np.moveaxis(warped, -1, channel_axis)
    return x, warm, transform, exposed


def _fill_exposed(warped, hole, image, proposal, alpha, channel_axis):
    """The clipped proposal where the previous frame saw nothing, computed at those pixels
    only (a pan's strips: a bounding box of a column strip and a row strip is the frame)."""
    rows, cols = np.nonzero(hole)
    I = v.to_float(_hwc(image, channel_axis)[rows, cols])           # (n, C)
    P = v.to_float(_hwc(proposal, channel_axis)[rows, cols])
    a = _alpha_hwc(alpha, _hwc(image, channel_axis).shape, channel_axis)
    a = a[rows, cols] if a.ndim == 3 else a
    warped[rows, cols] = np.clip(P - a * I, 0.0, 1.0 - a)


def estimate_translation(previous, current, *, channel_axis=-1):
    """The shift of the content from one frame to the next, by phase correlation.

    Parameters
    ----------
    previous, current : (H, W) or (H, W, C) array
        Two frames of one shape (uint8, uint16 or float in [0, 1]); colour frames are
        compared through their channels' mean.
    channel_axis : int or None, optional
        Axis of the colour channels of 3-D frames.

    Returns
    -------
    shift : tuple of float
        ``(dy, dx)``: the content moved ``dy`` rows down and ``dx`` columns right (to 0.1
        pixel, about 0.2 for a sub-pixel shift; within 0.15 of an integer it is that
        integer). Its homography is
        ``[[1, 0, dx], [0, 1, dy], [0, 0, 1]]``.

    Notes
    -----
    ``skimage.registration.phase_cross_correlation`` under a Hann window (which keeps the
    frame's borders from dominating), on 2x2 area averages of frames of at least 128x128
    pixels.

    Examples
    --------
    >>> import numpy as np
    >>> from gradfusion.video import estimate_translation
    >>> scene = np.random.default_rng(1).random((200, 300))
    >>> estimate_translation(scene[10:150, 20:260], scene[7:147, 15:255])
    (3.0, 5.0)
    """
    prev = v.check_image(previous, "previous")
    cur = v.check_image(current, "current")
    v.check_same_shape(prev, cur, "previous", "current")
    _, axis = v.channels_first_shape(prev.shape, "previous", channel_axis)
    return _motion.estimate_translation(_hwc(prev, axis), _hwc(cur, axis))


def warp(image, motion, *, channel_axis=-1):
    """Move a frame (an image, a residual) by a motion into the next frame.

    Parameters
    ----------
    image : (H, W) or (H, W, C) array
        The previous frame's array (any finite real values).
    motion : array or skimage transform
        A 3x3 homography, a 2x3 affine matrix or a ``(2, H, W)`` flow field, in the
        conventions of :func:`~gradfusion.solve_sequence`.
    channel_axis : int or None, optional
        Axis of the colour channels of a 3-D array.

    Returns
    -------
    warped : ndarray
        ``image`` moved (bilinear interpolation; an integer translation is an exact copy),
        float, in the layout of ``image``; 0 where the previous frame did not see the pixel.
    valid : (H, W) bool ndarray
        Where it did.

    Examples
    --------
    >>> import numpy as np
    >>> from gradfusion.video import warp
    >>> a = np.arange(12.0).reshape(3, 4) / 12
    >>> moved, valid = warp(a, [[1, 0, 1], [0, 1, 0], [0, 0, 1]])   # one column right
    >>> bool(np.allclose(moved[:, 1:], a[:, :-1])), bool(valid[:, 0].any())
    (True, False)
    """
    a = v.as_real_array(image, "image")
    (_, H, W), axis = v.channels_first_shape(a.shape, "image", channel_axis)
    what, m = _motion.check_motion(motion, "motion", (H, W))
    warped, valid = _motion.warp_hwc(_hwc(a, axis), what, m)
    out = warped[..., 0] if axis is None else np.moveaxis(warped, -1, axis)
    return out, valid.astype(bool)


def read_frames(path):
    """The frames of a video file or of a folder of images, one at a time.

    Parameters
    ----------
    path : str or os.PathLike
        A video file (suffix in ``VIDEO_SUFFIXES``; needs the ``video`` extra,
        ``imageio-ffmpeg``) or a folder of PNG/TIFF/JPEG/BMP frames (read in natural
        order: ``2.png`` before ``10.png``; needs nothing more).

    Returns
    -------
    frames : iterator of ndarray
        uint8 (or uint16) ``(H, W, 3)`` or ``(H, W)`` arrays, read lazily.

    Raises
    ------
    gradfusion.io.ImageFileError
        A missing path, a folder without frames, an unreadable file.
    VideoUnavailableError
        A video file without ``imageio-ffmpeg``.
    """
    import os

    from .io import ImageFileError

    if not isinstance(path, (str, bytes, os.PathLike)):
        raise TypeError(f"path must be a str or os.PathLike, got {_received(path)}")
    path = os.fsdecode(os.fspath(path))
    if not os.path.exists(path):
        raise ImageFileError(f"{path}: no such file or folder")
    if not os.path.isdir(path):
        from ._video.frames import is_video_path, require_ffmpeg

        if not is_video_path(path):
            raise ImageFileError(f"{path}: not a video file (suffixes "
                                 f"{', '.join(VIDEO_SUFFIXES)}) or a folder of frames")
        require_ffmpeg(path)
    else:
        from ._video.frames import frame_files

        frame_files(path)            # an empty folder fails here, not at the first frame
    return iter_frames(path)


def write_frames(path, frames, *, fps=30.0, bits=8, overwrite=False):
    """Write frames to a video file or a folder, one at a time; return how many.

    Parameters
    ----------
    path : str or os.PathLike
        A video file (suffix in ``VIDEO_SUFFIXES``: H.264 in 8 bits through
        imageio-ffmpeg, the ``video`` extra) or a folder (created if needed), which gets
        ``000000.png``, ``000001.png``, ...
    frames : iterable of arrays
        ``(H, W)`` or ``(H, W, 3)`` images in [0, 1] (or uint8/uint16).
    fps : float, optional
        Frame rate of a video file.
    bits : {8, 16}, optional
        Bit depth of a folder's PNG files.
    overwrite : bool, optional
        Replace an existing video file or existing frame files.

    Returns
    -------
    count : int

    Notes
    -----
    Writes are atomic as everywhere in gradfusion: each frame file of a folder is written to
    a temporary file and renamed; a video file is encoded into a temporary file beside the
    target and renamed over it only when the last frame is written, so an error or Ctrl-C
    leaves no partial video.
    """
    with FrameSink(path, fps=fps, bits=bits, overwrite=overwrite) as sink:
        for frame in frames:
            sink.write(frame)
    return sink.count


#: writes frames one at a time (``write(frame)``, then ``close()``; ``abort()`` or an exception
#: in a ``with`` block leaves no video file): what :func:`write_frames` and ``gradfusion video``
#: use, for loops that write more than one stream
FrameWriter = FrameSink


def frame_rate(path):
    """Frames per second of a video file; None for a folder of frames or an unknown rate."""
    return video_fps(path)
